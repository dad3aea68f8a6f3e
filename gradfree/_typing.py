"""Type aliases and the protocols every gradfree component speaks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from numpy.random import Generator

Array = Any
"""Any array-API array (NumPy, CuPy, array-api-strict, ...)."""

Objective = Callable[..., Any]
"""``fun(x, *args) -> float``, ``fun(X) -> (n,)`` or ``fun(x) -> (m,)``."""


@runtime_checkable
class Evaluator(Protocol):
    """Maps a population ``(n, d)`` to its values ``(n,)`` or ``(n, m)``, row order kept."""

    def __call__(self, fun: Objective, X: Array) -> Array: ...


@runtime_checkable
class Strategy(Protocol):
    """A population method: ``init`` / ``ask`` / ``tell`` over a frozen state.

    The capabilities the run layer reads are class attributes (``vector_values``:
    ``fun`` returns a vector per candidate; ``supports_bounds``) and the optional
    hooks below, each a named protocol; the core asks for nothing else.
    """

    supports_bounds: ClassVar[bool]
    vector_values: ClassVar[bool]

    def init(self, x0: Array, *, rng: Generator) -> Any: ...

    def ask(self, state: Any, *, rng: Generator) -> tuple[Array, Any]: ...

    def tell(self, state: Any, X: Array, values: Array) -> Any: ...


@runtime_checkable
class StopRule(Protocol):
    """``stop(state)``: a message when the method's own rule ends the run (CONVERGED)."""

    def stop(self, state: Any) -> str | None: ...


@runtime_checkable
class VectorLoss(Protocol):
    """``loss(values (n, m)) -> (n,)``: the scalar a vector-valued method's best point ranks by."""

    def loss(self, values: Array) -> Array: ...


@runtime_checkable
class BestOf(Protocol):
    """``best_of(values, losses) -> (j, violation)``: a generation's best member and its
    constraint violation, for a method that orders its points itself (`gradfree.Constrained`:
    least violation first, then lowest loss). The run keeps the point with the least
    ``(violation, loss)`` and reports ``maxcv``; without the hook the best is the lowest
    loss, with violation 0. `losses` are host float64, non-finite ones already +inf."""

    def best_of(self, values: Array, losses: Array) -> tuple[int, float]: ...


@runtime_checkable
class StepSize(Protocol):
    """``step_size(state) -> float``: the scale of the search distribution (ES step size,
    mean over coordinates, or an ensemble's spread), as logged in ``history.csv``."""

    def step_size(self, state: Any) -> float: ...


@runtime_checkable
class ScheduledObjective(Protocol):
    """An objective that changes with the iteration, as a pure function of it.

    ``at(k)`` is the objective of generation ``k`` (0-based), e.g. the loss on
    minibatch ``k`` of a fixed, seeded schedule. The loop asks for it each generation,
    so a checkpointed run resumes on the same batches with no objective state saved.
    """

    def at(self, iteration: int) -> Objective: ...


class UpdateRule(Protocol):
    """A first-order rule: ``init(params) -> state``, ``step(grad, state) -> (step, state)``."""

    def init(self, params: Array) -> Any: ...

    def step(self, grad: Array, state: Any) -> tuple[Array, Any]: ...


class LayeredModel(Protocol):
    """A network seen layer by layer, for the model-access solvers; no gradients anywhere."""

    n_layers: int

    def init_params(self, *, rng: Generator, like: Array) -> list[Array]: ...

    def forward_layer(self, i: int, W: Array, H: Array) -> Array: ...
