"""Traffic between the versions of one model: a stored policy (split, sticky route keys, a
shadow, guards) applied in one place between the protocol adapters and the dispatchers."""
