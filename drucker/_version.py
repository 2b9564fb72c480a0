"""The drucker version, read by the build and by the server's metadata."""

__version__ = "0.5.0"
