"""Model plugins used only by the benchmarks (loaded by file path)."""
