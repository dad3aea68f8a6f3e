"""Shared defaults for population strategies: capabilities, options, stop and loss."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from ._typing import Array

__all__ = ["StrategyBase", "WrapperBase", "check_inner", "option_names"]

S = TypeVar("S", bound="StrategyBase")


def option_names(cls: type) -> list[str]:
    """Names a strategy accepts as options: its init fields, in order."""
    return [f.name for f in dataclasses.fields(cls) if f.init]


class StrategyBase:
    """Defaults for frozen-dataclass strategies; subclasses override what they need.

    Capabilities are class attributes read by `minimize` and the tests:

    - ``supports_bounds``: the strategy handles ``bounds`` itself;
    - ``vector_values``: ``tell`` consumes model outputs ``(n, m)``, not scalars ``(n,)``.
    """

    supports_bounds: ClassVar[bool] = False
    vector_values: ClassVar[bool] = False

    def stop(self, state: Any) -> str | None:
        """Method-specific stop rule: a message when the run should stop, else None."""
        del state
        return None

    def loss(self, values: Array) -> Array:
        """Scalar loss per candidate, used by the driver to track the best point."""
        return values

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


class WrapperBase(StrategyBase):
    """A strategy around ``self.strategy`` whose state keeps the inner state as ``inner``;
    the stop rule and the loss are the inner strategy's."""

    strategy: Any

    def stop(self, state: Any) -> str | None:
        stop = getattr(self.strategy, "stop", None)
        return stop(state.inner) if stop is not None else None

    def loss(self, values: Array) -> Array:
        loss = getattr(self.strategy, "loss", None)
        return loss(values) if loss is not None else values
