"""Shared defaults for population strategies: capabilities, options, stop and loss."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from ._typing import Array

__all__ = ["StrategyBase", "option_names"]

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
