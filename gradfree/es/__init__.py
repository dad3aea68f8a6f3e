"""Evolution strategies."""

from ._cma_common import CMABase
from ._cmaes import CMAES, CMAESState
from ._openes import OpenES, OpenESState
from ._sepcma import SepCMAES, SepCMAESState

__all__ = ["CMABase", "CMAES", "CMAESState", "OpenES", "OpenESState", "SepCMAES", "SepCMAESState"]
