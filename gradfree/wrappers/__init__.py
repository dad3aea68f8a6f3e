"""Wrappers: strategies around a strategy, for any method of any family.

Each wrapper is itself a strategy (``init`` / ``ask`` / ``tell``) holding the one it
wraps, so they compose, and ``minimize``'s options build them: ``bounds=`` a `Bounded`,
``constraints=`` a `Constrained`, ``integrality=`` an `Integrality`,
``options={"restarts": ...}`` `Restarts`, ``{"noise_handling": True}``
`UncertaintyHandling`, ``{"surrogate": "lq"}`` `LQSurrogate`. They depend on the
strategy protocol (`gradfree._base`) only, never on a family.
"""

from ._bounded import Bounded, BoundedState
from ._constrained import Constrained, ConstrainedState
from ._integrality import Integrality, IntegralityState
from ._restarts import Restart, Restarts, RestartsState
from ._surrogate import LQModel, LQSurrogate, LQSurrogateState
from ._uncertainty import UncertaintyHandling, UncertaintyHandlingState

__all__ = [
    "Bounded",
    "BoundedState",
    "Constrained",
    "ConstrainedState",
    "Integrality",
    "IntegralityState",
    "LQModel",
    "LQSurrogate",
    "LQSurrogateState",
    "Restart",
    "Restarts",
    "RestartsState",
    "UncertaintyHandling",
    "UncertaintyHandlingState",
]
