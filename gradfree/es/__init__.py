"""Evolution strategies."""

from ._openes import OpenES, OpenESState

__all__ = ["OpenES", "OpenESState"]
