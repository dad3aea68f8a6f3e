"""Evolution strategies: CMA-ES family, natural evolution strategies, PGPE, OpenAI-ES."""

from ._cma_common import CMABase
from ._cmaes import CMAES, CMAESState
from ._lmmaes import LMMAES, LMMAESState
from ._noise import UncertaintyHandling, UncertaintyHandlingState
from ._openes import OpenES, OpenESState
from ._pgpe import PGPE, ClipUp, ClipUpState, PGPEState
from ._restarts import Restart, Restarts, RestartsState
from ._sepcma import SepCMAES, SepCMAESState
from ._snes import SNES, SNESState
from ._surrogate import LQCMAES, LQModel, LQSurrogate, LQSurrogateState
from ._xnes import XNES, XNESState

STRATEGIES: tuple[type, ...] = (CMAES, SepCMAES, LMMAES, XNES, SNES, PGPE, OpenES, LQCMAES)
"""The strategy classes of this family (each declares its ``name``)."""

__all__ = [
    "STRATEGIES",
    "CMABase",
    "CMAES",
    "CMAESState",
    "ClipUp",
    "ClipUpState",
    "LMMAES",
    "LQCMAES",
    "LQModel",
    "LQSurrogate",
    "LQSurrogateState",
    "LMMAESState",
    "OpenES",
    "OpenESState",
    "PGPE",
    "PGPEState",
    "Restart",
    "Restarts",
    "RestartsState",
    "SNES",
    "SNESState",
    "SepCMAES",
    "SepCMAESState",
    "UncertaintyHandling",
    "UncertaintyHandlingState",
    "XNES",
    "XNESState",
]
