"""Problems, small configurations and checks for testing strategies.

`TEST_CONFIGS` holds, for every key of `gradfree.METHODS`, small options that make a
generation cheap; the contract suite runs every method with them. A new method adds
one entry here and must then pass the suite unchanged.
"""

from __future__ import annotations

from typing import Any

from .._typing import Objective
from .checks import assert_states_equal
from .problems import PROBLEMS, Rotated, ellipsoid, rosenbrock, sphere

__all__ = [
    "PROBLEMS",
    "TEST_CONFIGS",
    "Rotated",
    "assert_states_equal",
    "ellipsoid",
    "problem_for",
    "rosenbrock",
    "sphere",
]

TEST_CONFIGS: dict[str, dict[str, Any]] = {
    "cma-es": {"popsize": 8, "sigma0": 0.3},
    # Kalman methods: a constant step (the default controller stops at time T = 1)
    "eki": {"n_ensemble": 8, "scheduler": 0.5},
    "eks": {"n_ensemble": 8, "scheduler": 0.5},
    "etki": {"n_ensemble": 8, "scheduler": 0.5},
    "lm-ma-es": {"popsize": 8, "sigma0": 0.3},
    "lq-cma-es": {"popsize": 8, "sigma0": 0.3},
    "openai-es": {"popsize": 8, "sigma": 0.1, "learning_rate": 0.05},
    "pgpe": {"popsize": 8},
    "sep-cma-es": {"popsize": 8, "sigma0": 0.3},
    "snes": {"popsize": 8},
    "teki": {"n_ensemble": 8, "scheduler": 0.5},
    "uki": {"update_freq": 1},
    "xnes": {"popsize": 8},
}


def _shifted_residual(x: Any) -> Any:
    """Residual ``x - 1`` (one point or a batch): a vector-valued model with minimum at ones."""
    return x - 1.0


def problem_for(strategy: Any) -> Objective:
    """A vectorized problem that fits what `strategy` consumes (scalar or vector values).

    Examples
    --------
    >>> from gradfree.es import OpenES
    >>> problem_for(OpenES()) is sphere
    True
    """
    return _shifted_residual if getattr(strategy, "vector_values", False) else sphere
