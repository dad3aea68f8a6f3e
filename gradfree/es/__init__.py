"""Evolution strategies."""

from ._cmaes import CMAES, CMAESState
from ._openes import OpenES, OpenESState

__all__ = ["CMAES", "CMAESState", "OpenES", "OpenESState"]
