"""Evolution strategies: CMA-ES family, natural evolution strategies, PGPE, OpenAI-ES.

The wrappers that work on any strategy (restarts, uncertainty handling, the lq
surrogate) are in `gradfree.wrappers`; their names stay importable from here.
"""

# Names of gradfree.wrappers, importable from here as in earlier versions.
from ..wrappers import (  # noqa: F401
    LQModel,
    LQSurrogate,
    LQSurrogateState,
    Restart,
    Restarts,
    RestartsState,
    UncertaintyHandling,
    UncertaintyHandlingState,
)
from ._cma_common import CMABase
from ._cmaes import CMAES, CMAESState
from ._lmmaes import LMMAES, LMMAESState
from ._lqcma import LQCMAES
from ._openes import OpenES, OpenESState
from ._pgpe import PGPE, ClipUp, ClipUpState, PGPEState
from ._sepcma import SepCMAES, SepCMAESState
from ._snes import SNES, SNESState
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
    "LMMAESState",
    "OpenES",
    "OpenESState",
    "PGPE",
    "PGPEState",
    "SNES",
    "SNESState",
    "SepCMAES",
    "SepCMAESState",
    "XNES",
    "XNESState",
]
