"""The package version (a leaf module: read by the checkpoints and the build)."""

__version__ = "0.1.0"
