"""The Open Inference Protocol (KServe V2) adapter over the same runtime."""
