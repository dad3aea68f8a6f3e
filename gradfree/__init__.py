"""gradfree: gradient-free optimization and backprop-free training on NumPy and CuPy.

One black-box interface for population methods (``init`` / ``ask`` / ``tell``), one
driver, scipy's `OptimizeResult`, and arrays that follow ``x0``.
"""

from . import datasets, models, wrappers
from ._minimize import METHODS, minimize, scipy_method
from ._optimizer import Optimizer
from ._random import check_rng
from ._result import Status
from ._run import iterate, resume, run
from ._validate import GradfreeWarning
from ._version import __version__
from .es import CMAES, LMMAES, PGPE, SNES, XNES, OpenES, SepCMAES
from .evaluators import as_evaluator
from .wrappers import Bounded, Constrained, Integrality

__all__ = [
    "Bounded",
    "CMAES",
    "Constrained",
    "LMMAES",
    "METHODS",
    "GradfreeWarning",
    "Integrality",
    "OpenES",
    "Optimizer",
    "PGPE",
    "SNES",
    "XNES",
    "SepCMAES",
    "Status",
    "__version__",
    "as_evaluator",
    "datasets",
    "wrappers",
    "check_rng",
    "iterate",
    "minimize",
    "models",
    "resume",
    "run",
    "scipy_method",
]
