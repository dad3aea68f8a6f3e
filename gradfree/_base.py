"""Shared defaults for population strategies: capabilities, options, stop and loss."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from ._array import to_host
from ._typing import Array, StepSize

__all__ = [
    "StrategyBase",
    "WrapperBase",
    "center_of",
    "check_inner",
    "inject_into",
    "marginal_std_of",
    "mean_scale",
    "option_names",
    "shift_center",
]

S = TypeVar("S", bound="StrategyBase")


def option_names(cls: type) -> list[str]:
    """Names a strategy accepts as options: its init fields, in order."""
    return [f.name for f in dataclasses.fields(cls) if f.init]


class StrategyBase:
    """Defaults for frozen-dataclass strategies; subclasses override what they need.

    Capabilities are class attributes read by `minimize` and the tests:

    - ``supports_bounds``: the strategy handles ``bounds`` itself;
    - ``vector_values``: ``tell`` consumes model outputs ``(n, m)``, not scalars ``(n,)``;
    - ``partial_batches``: ``ask`` may return part of a generation (a surrogate's true
      evaluations), so a batch without a finite value need not end the run.
    """

    supports_bounds: ClassVar[bool] = False
    vector_values: ClassVar[bool] = False
    partial_batches: ClassVar[bool] = False

    def stop(self, state: Any) -> str | None:
        """Method-specific stop rule: a message when the run should stop, else None."""
        del state
        return None

    def loss(self, values: Array) -> Array:
        """Scalar loss per candidate, used by the driver to track the best point."""
        return values

    def step_size(self, state: Any) -> float:
        """Scale of the search distribution in `state` (NaN for a method without one)."""
        del state
        return math.nan

    def with_options(self: S, options: Mapping[str, Any] | None = None) -> S:
        """Return a copy with `options` replaced; an unknown option is a `TypeError`."""
        if not options:
            return self
        valid = option_names(type(self))
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise TypeError(
                f"unknown option(s) {unknown} for `{type(self).__name__}`; "
                f"valid options are {valid}."
            )
        return dataclasses.replace(self, **options)  # type: ignore[type-var]


def mean_scale(value: Any) -> float:
    """A step size or spread (a number, or an array averaged over its entries) on the host."""
    if value is None:
        return math.nan
    return float(np.mean(to_host(value))) if hasattr(value, "shape") else float(value)


def inject_into(strategy: Any, state: Any, x: Array) -> Any:
    """`state` with `x` ``(d,)`` put into `strategy`'s next population where the strategy
    supports injection (an ``inject(state, x)`` method), else `state` as it is."""
    method = getattr(strategy, "inject", None)
    return method(state, x) if callable(method) else state


def check_inner(strategy: Any, owner: str) -> None:
    """Raise unless `strategy` is a configured scalar-objective strategy `owner` can wrap."""
    if not all(callable(getattr(strategy, a, None)) for a in ("init", "ask", "tell")):
        raise TypeError(
            f"`strategy` must be a configured strategy with init/ask/tell; got {strategy!r}."
        )
    if getattr(type(strategy), "vector_values", False):
        raise TypeError(
            f"`strategy`: {type(strategy).__name__} takes vector values; "
            f"{owner} wraps scalar-objective strategies only."
        )


def center_of(strategy: Any, state: Any) -> Array:
    """The centre of `strategy`'s search distribution, as a point the objective would see.

    A strategy (or wrapper) may define ``center(state)``; otherwise the state's ``mean``
    is the centre. Raises `TypeError` for a strategy with neither.
    """
    center = getattr(strategy, "center", None)
    if center is not None:
        return center(state)
    if not hasattr(state, "mean"):
        raise TypeError(
            f"{type(strategy).__name__} has no search centre (no `center` method and "
            "no `mean` in its state)."
        )
    return state.mean


def marginal_std_of(strategy: Any, state: Any) -> Array:
    """Per-coordinate standard deviations ``(d,)`` of `strategy`'s sampling distribution.

    Strategies opt in by defining ``marginal_std(state)``; `TypeError` otherwise.
    """
    std = getattr(strategy, "marginal_std", None)
    if std is None:
        raise TypeError(
            f"{type(strategy).__name__} does not report per-coordinate standard "
            "deviations (`marginal_std`)."
        )
    return std(state)


def shift_center(strategy: Any, state: Any, delta: Array) -> Any:
    """`state` with the search centre moved by `delta` ``(d,)`` (no other change).

    Wrappers define ``shift_center(state, delta)``; a plain strategy's ``mean`` moves.
    """
    shift = getattr(strategy, "shift_center", None)
    if shift is not None:
        return shift(state, delta)
    return dataclasses.replace(state, mean=state.mean + delta)


class WrapperBase(StrategyBase):
    """A strategy around ``self.strategy`` whose state keeps the inner state as ``inner``;
    the stop rule, the loss, the centre, the marginal deviations, centre shifts and
    injections are the inner strategy's."""

    strategy: Any

    def stop(self, state: Any) -> str | None:
        stop = getattr(self.strategy, "stop", None)
        return stop(state.inner) if stop is not None else None

    def loss(self, values: Array) -> Array:
        loss = getattr(self.strategy, "loss", None)
        return loss(values) if loss is not None else values

    def _current(self, state: Any) -> Any:
        """The inner strategy configuration in use (wrappers that swap it override this)."""
        del state
        return self.strategy

    def center(self, state: Any) -> Array:
        return center_of(self._current(state), state.inner)

    def marginal_std(self, state: Any) -> Array:
        return marginal_std_of(self._current(state), state.inner)

    @property
    def partial_batches(self) -> bool:  # type: ignore[override]  # a wrapper asks its inner
        """Whether `tell` takes parts of a generation (the inner strategy's answer)."""
        return bool(getattr(self.strategy, "partial_batches", False))

    def step_size(self, state: Any) -> float:
        inner = self._current(state)
        return inner.step_size(state.inner) if isinstance(inner, StepSize) else math.nan

    def shift_center(self, state: Any, delta: Array) -> Any:
        return dataclasses.replace(
            state, inner=shift_center(self._current(state), state.inner, delta)
        )

    def inject(self, state: Any, x: Array) -> Any:
        """Inject `x` into the inner strategy's next population (where it supports it)."""
        return dataclasses.replace(state, inner=inject_into(self._current(state), state.inner, x))
