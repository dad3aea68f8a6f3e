"""The method registry: every strategy class declares its ``name``; this builds `METHODS`.

Each family lists its strategy classes (``gradfree.es.STRATEGIES``,
``gradfree.kalman.STRATEGIES``); this module joins them, keyed by each class's own
``name``. Only the front doors import it; no family and no part of the run layer does
(a checkpoint names its method by the class's ``name``). Nothing else lists names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._typing import Strategy
from .es import STRATEGIES as ES_STRATEGIES
from .kalman import STRATEGIES as KALMAN_STRATEGIES
from .wrappers import LQSurrogate, Restarts, UncertaintyHandling

__all__ = ["DEFAULT_METHOD", "METHODS", "resolve_method"]

_CLASSES: tuple[Any, ...] = ES_STRATEGIES + KALMAN_STRATEGIES  # classes with a `name`

METHODS: dict[str, type] = {cls.name: cls for cls in sorted(_CLASSES, key=lambda c: c.name)}
"""Registered methods: lowercase, hyphenated name (the class's ``name``) -> class."""

DEFAULT_METHOD = "cma-es"

_RESTART_KEYS = ("restarts", "max_restarts", "popsize_factor", "restart_x0")


def resolve_method(method: Any, options: Mapping[str, Any] | None = None) -> Strategy:
    """Turn a registry key, strategy class or configured instance into a strategy.

    Parameters
    ----------
    method : str, strategy class or strategy instance
    options : dict, optional
        Hyperparameters for the strategy's config; an unknown name is a `TypeError`
        that lists the valid ones. ``restarts='ipop'|'bipop'`` (with ``max_restarts``,
        ``popsize_factor``, ``restart_x0``) wraps the strategy in
        `gradfree.wrappers.Restarts`; ``noise_handling=True`` wraps it in
        `gradfree.wrappers.UncertaintyHandling` (UH-CMA-ES, for noisy objectives);
        ``surrogate='lq'`` in `gradfree.wrappers.LQSurrogate` (lq-CMA-ES, for expensive
        objectives), inside the restarts, so that each restart begins a new model.

    Raises
    ------
    ValueError
        For an unknown method name.
    TypeError
        For an unknown option or a `method` of the wrong type.

    Examples
    --------
    >>> resolve_method("openai-es", {"popsize": 10}).popsize
    10
    """
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"`options` must be a dict; got {type(options).__name__}.")
    options = dict(options or {})
    restart = {k: options.pop(k) for k in _RESTART_KEYS if k in options}
    noise = options.pop("noise_handling", False)
    if not isinstance(noise, bool):
        raise TypeError(f"`noise_handling` must be a bool; got {noise!r}.")
    surrogate = options.pop("surrogate", None)
    if surrogate not in (None, False, "lq"):
        raise ValueError(f"`surrogate` must be 'lq' or None; got {surrogate!r}.")
    if isinstance(method, str):
        key = method.lower()
        if key not in METHODS:
            raise ValueError(f"unknown `method` {method!r}; choose one of {sorted(METHODS)}.")
        method = METHODS[key]
    if isinstance(method, type):
        method = method()
    if not all(callable(getattr(method, a, None)) for a in ("init", "ask", "tell")):
        raise TypeError(
            "`method` must be a name in gradfree.METHODS, a strategy class or a configured "
            f"strategy with init/ask/tell; got {method!r}."
        )
    if hasattr(method, "with_options"):
        method = method.with_options(options)
    elif options:
        raise TypeError(f"`options`: {type(method).__name__} takes no options; configure it.")
    if noise:
        if restart.get("restarts"):
            raise ValueError("`noise_handling` and `restarts` cannot be combined yet.")
        if surrogate or isinstance(method, LQSurrogate):
            raise ValueError("`noise_handling` and a surrogate cannot be combined.")
        method = UncertaintyHandling(method)
    if surrogate and not isinstance(method, LQSurrogate):
        method = LQSurrogate(method)
    if restart:
        kind = restart.pop("restarts", None)
        if kind is None:
            raise TypeError(f"`options` {sorted(restart)} need `restarts='ipop'|'bipop'`.")
        if kind is not False:
            method = Restarts(method, kind=kind, **restart)  # the wrapper works on any method
    return method
