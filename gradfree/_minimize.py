"""`minimize`, the method registry, and the `scipy.optimize.minimize` plug-in."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from ._array import to_host
from ._base import option_names
from ._random import check_rng
from ._registry import DEFAULT_METHOD, METHODS, resolve_method
from ._run import run
from ._typing import Array, Objective, Strategy
from ._validate import check_bounds, check_choice, check_x0
from .kalman._ensemble import as_optimizer
from .wrappers import Bounded, Constrained, Integrality
from .wrappers._bound_maps import BOUND_METHODS
from .wrappers._constraints import ConstrainedObjective, parse_constraints
from .wrappers._integrality import check_integrality

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "build_strategy",
    "minimize",
    "resolve_method",
    "scipy_method",
]

_WRAPPER_KEYS = ("bounds_method", "margin", "feasibility_tol")  # options of the wrappers


def build_strategy(
    method: Any,
    options: Mapping[str, Any] | None,
    bounds: Any,
    x0: Array,
    *,
    integrality: Any = None,
    constraint_bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> Strategy:
    """`resolve_method`, then the wrappers, innermost first.

    Bounds: native where the strategy has a ``bounds`` option, else through `Bounded`
    with ``options['bounds_method']`` (default 'transform'). Integer variables: through
    `Integrality` (``options['margin']``), which owns the bounds of those variables.
    Constraints ``lb <= c(x) <= ub`` (`constraint_bounds`): through `Constrained`
    (``options['feasibility_tol']``). An ensemble Kalman strategy with no scheduler
    set runs as an optimizer (`gradfree.kalman._ensemble.as_optimizer`).
    """
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"`options` must be a dict; got {type(options).__name__}.")
    options = dict(options or {})
    wrapper_options = {name: options.pop(name) for name in _WRAPPER_KEYS if name in options}
    strategy = as_optimizer(resolve_method(method, options))
    box = check_bounds(bounds, x0)
    mask = check_integrality(integrality, x0)
    if mask is None and "margin" in wrapper_options:
        raise TypeError("`margin` is an option for integer variables; pass `integrality`.")
    if constraint_bounds is None and "feasibility_tol" in wrapper_options:
        raise TypeError("`feasibility_tol` is an option for constraints; pass `constraints`.")
    bounds_method = check_choice(
        wrapper_options.get("bounds_method", BOUND_METHODS[0]), "bounds_method", BOUND_METHODS
    )
    levels: tuple[Any, Any] = (None, None)
    if mask is not None and box is not None:
        lb, ub = (np.array(to_host(b), dtype=np.float64) for b in box)
        levels = (lb[mask], ub[mask])
        lb[mask], ub[mask] = -np.inf, np.inf  # `Integrality` keeps these in range
        finite = np.isfinite(lb).any() or np.isfinite(ub).any()
        box = (lb, ub) if finite else None
    if box is not None:
        strategy = _with_bounds(strategy, box, bounds_method)
    if mask is not None:
        strategy = Integrality(strategy, mask, *levels, margin=wrapper_options.get("margin"))
    if constraint_bounds is not None:
        tol = wrapper_options.get("feasibility_tol", 0.0)
        strategy = Constrained(strategy, *constraint_bounds, feasibility_tol=tol)
    return strategy


def _with_bounds(strategy: Strategy, box: tuple[Any, Any], bounds_method: str) -> Strategy:
    cls = type(strategy)
    if getattr(cls, "supports_bounds", False):
        if dataclasses.is_dataclass(strategy) and "bounds" in option_names(cls):
            return dataclasses.replace(strategy, bounds=box)  # type: ignore[type-var]
        raise ValueError(f"`bounds`: {cls.__name__} already handles bounds; pass them there.")
    if getattr(cls, "vector_values", False):
        raise ValueError(
            f"`bounds`: {cls.__name__} searches an unconstrained space; map it onto the box "
            "with a transform instead: `gradfree.kalman.solve(InverseProblem(forward, y, "
            "noise_cov, prior_mean, prior_cov, transform=gradfree.kalman.Transform(lb, ub)))`"
            " (`gradfree.kalman.constrained_gaussian` gives a prior for bounded parameters)."
        )
    return Bounded(strategy, box[0], box[1], method=bounds_method)


def minimize(
    fun: Objective,
    x0: Any,
    method: Any = DEFAULT_METHOD,
    *,
    args: tuple[Any, ...] = (),
    bounds: Any = None,
    constraints: Any = None,
    integrality: Any = None,
    rng: Any = None,
    workers: Any = 1,
    maxiter: int | None = None,
    maxfev: int | None = None,
    tol: float | None = None,
    callback: Callable[[OptimizeResult], Any] | None = None,
    options: Mapping[str, Any] | None = None,
    progress: bool = False,
    on_error: str = "raise",
    history: int = 1000,
    checkpoint: Any = None,
    checkpoint_every: int | None = None,
    checkpoint_seconds: float | None = None,
    walltime: float | None = None,
    timeout: float | None = None,
) -> OptimizeResult:
    """Minimize a black-box function with a population method.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float`` with ``x`` of shape ``(d,)``; with
        ``workers='vectorized'``, ``fun(X) -> (n,)`` for a batch ``X`` of shape
        ``(n, d)``. The ensemble Kalman methods (``'eki'``, ``'etki'``, ``'teki'``,
        ``'eks'``, ``'uki'``) take a residual ``fun(x) -> (m,)`` (``(n, m)`` for a
        batch) and minimize ``0.5 ||fun(x)||^2``; a scalar is a `TypeError`. Unless
        their scheduler is set they run to a convergence rule or the budget, not to
        the Bayesian stop at algorithm time 1 of `gradfree.kalman.solve`.
    x0 : array of shape (d,)
        Starting point. Its namespace (NumPy, CuPy, any array-API library), device and
        floating dtype are kept by the whole run; integers become float64.
    method : str or strategy, default='cma-es'
        A key of `gradfree.METHODS` or a configured strategy such as
        ``OpenES(popsize=100)``.
    args : tuple, default=()
        Extra arguments passed to `fun`.
    bounds : scipy.optimize.Bounds or sequence of (low, high), optional
        Box constraints (not for the Kalman methods: pass an
        ``InverseProblem(..., transform=kalman.Transform(lb, ub))`` to
        `gradfree.kalman.solve`). Every scalar-objective method handles them through
        `gradfree.Bounded`: the strategy searches unbounded internal points, the
        objective is evaluated at their image in the box (pycma's smooth
        ``BoundTransform`` by default; ``options={"bounds_method": "clip" | "reflect"}``
        chooses another map), and the strategy is told the internal points.
        ``result.x`` is always an evaluated point inside the box.
    constraints : NonlinearConstraint, LinearConstraint, dict or a sequence of them, optional
        Constraints ``lb <= c(x) <= ub`` (dicts: scipy's ``{'type': 'ineq' | 'eq',
        'fun': ...}``, ``fun(x) >= 0`` or ``== 0``), handled by an adaptive augmented
        Lagrangian (`gradfree.Constrained`): each generation also evaluates the
        distribution mean; ``result.x`` is the best feasible point seen (else the least
        infeasible), ``result.maxcv`` its largest violation, and ``success`` is False
        while ``maxcv > 0``. ``options['feasibility_tol']`` sets what counts as
        feasible (default 0; raise it for equality constraints). Constraint functions
        are called one point at a time, also with ``workers='vectorized'``.
    integrality : array_like of bool, shape (d,), optional
        Which variables take integer values (as in scipy's
        `~scipy.optimize.differential_evolution`), handled by CMA-ES with margin
        (`gradfree.Integrality`, ``options['margin']``): the objective sees integral
        values, rounded and kept within `bounds`. Needs a method that reports its
        per-coordinate deviations (every ES here except ``'lm-ma-es'``).
    rng : None, int, SeedSequence or numpy.random.Generator, optional
        Source of all randomness; the same seed gives the same run.
    workers : int, 'vectorized', Executor, dask Client or map-like, default=1
        How a generation is evaluated; see `gradfree.evaluators.as_evaluator`.
    maxiter, maxfev : int, optional
        Budgets in generations and evaluations; ``nfev`` never exceeds `maxfev`.
        Without both, ``maxiter = 100 + 150 (d + 3)**2 / sqrt(popsize)``.
    tol : float, optional
        Stop when recent function values span less than `tol` (pycma's ``tolfun``).
    callback : callable, optional
        ``callback(intermediate_result)`` after every generation; raise
        `StopIteration` to stop (``Status.CALLBACK``).
    options : dict, optional
        Hyperparameters of the method; an unknown one raises `TypeError`.
    progress : bool, default=False
        Show a tqdm progress bar.
    on_error : {'raise', 'nan'}, default='raise'
        What an exception in `fun` does: propagate (carrying the result so far as
        ``exc.gradfree_result``) or count as NaN, the worst value.
    history : int, default=1000
        Number of generations kept in ``result.history``.
    checkpoint : path, optional
        Save the run there (atomically; ``.npz`` that is never unpickled) after every
        `checkpoint_every`-th generation and/or every `checkpoint_seconds` (every
        generation when neither is given) and when it stops; `gradfree.resume`
        continues it bit for bit.
    checkpoint_every, checkpoint_seconds : optional
        Checkpoint interval in generations and in seconds.
    walltime : float, optional
        Seconds after which the run saves its checkpoint and stops between two
        generations (``Status.WALLTIME``).
    timeout : float, optional
        Seconds one evaluation may take; a longer one is abandoned and counts as
        failed (NaN), and the run goes on. Needs a process pool (`workers` an int
        other than 1, a process-pool Executor or Dask). Failures of a run, whatever
        their cause, are summarized in ``result.failures``.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x`` (best point, namespace of `x0`), ``fun`` (float; ``0.5 ||r(x)||^2`` for
        a residual `fun`), ``nit``, ``nfev``,
        ``success``, ``status`` (a `gradfree.Status`), ``message``, ``population``,
        ``population_values``, ``state`` (the final strategy state) and ``history``
        (dict of arrays: nit, nfev, fun, gen_min, gen_max).

    Raises
    ------
    ValueError, TypeError
        For bad arguments, naming the argument.

    Examples
    --------
    >>> import numpy as np
    >>> from gradfree import minimize
    >>> from gradfree.testing import sphere
    >>> res = minimize(sphere, np.full(5, 2.0), method="openai-es", rng=0,
    ...                workers="vectorized", maxiter=400,
    ...                options={"popsize": 20, "learning_rate": 0.1})
    >>> res.fun < 1e-2, res.nfev, res.message
    (True, 8000, 'Maximum number of iterations (`maxiter`) reached.')
    """
    x0 = check_x0(x0)
    constraint_bounds = None
    if constraints is not None and not (isinstance(constraints, Sequence) and not constraints):
        funs, lb, ub = parse_constraints(constraints, x0)
        constraint_bounds = (lb, ub)
        fun, args = (
            ConstrainedObjective(fun, args if isinstance(args, tuple) else (args,), funs),
            (),
        )
    strategy = build_strategy(
        method,
        options,
        bounds,
        x0,
        integrality=integrality,
        constraint_bounds=constraint_bounds,
    )
    rng = check_rng(rng)
    return run(
        strategy,
        fun,
        x0,
        args=args,
        rng=rng,
        workers=workers,
        maxiter=maxiter,
        maxfev=maxfev,
        tol=tol,
        callback=callback,
        progress=progress,
        on_error=on_error,
        history=history,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        walltime=walltime,
        timeout=timeout,
    )


def _scipy_callback(callback: Callable[..., Any] | None) -> Callable[[OptimizeResult], Any] | None:
    """Adapt scipy's two callback conventions: ``cb(intermediate_result)`` or ``cb(xk)``."""
    if callback is None:
        return None
    try:
        params = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        params = set()
    if params == {"intermediate_result"}:
        return lambda res: callback(intermediate_result=res)
    return lambda res: callback(np.array(to_host(res.x), copy=True))


def scipy_method(method: Any = DEFAULT_METHOD, **options: Any) -> Callable[..., OptimizeResult]:
    """A callable for ``scipy.optimize.minimize(fun, x0, method=...)``.

    Parameters
    ----------
    method : str or strategy, default='cma-es'
        As in `gradfree.minimize`.
    **options
        Defaults for this method: its hyperparameters and the `minimize` keywords
        ``rng``, ``workers``, ``maxiter``, ``maxfev``, ``progress``, ``on_error``,
        ``history``. ``options=`` given to scipy override them. scipy's ``tol``
        becomes gradfree's ``tol``.

    Returns
    -------
    callable
        Accepts what scipy passes to a custom method. ``constraints`` go to
        `gradfree.minimize` (augmented Lagrangian), as does ``integrality`` given in
        ``options``; ``jac``, ``hess`` and ``hessp`` are rejected (no derivatives).

    Examples
    --------
    >>> import numpy as np, scipy.optimize
    >>> from gradfree import scipy_method
    >>> res = scipy.optimize.minimize(lambda x: float(x @ x), np.ones(3),
    ...     method=scipy_method("openai-es", rng=0, learning_rate=0.05),
    ...     options={"maxiter": 300})
    >>> res.fun < 1e-2
    True
    """
    check = {k: v for k, v in options.items() if k not in _RUN_KEYS and k not in _WRAPPER_KEYS}
    resolve_method(method, check)

    def _method(
        fun: Objective,
        x0: Any,
        args: tuple[Any, ...] = (),
        *,
        jac: Any = None,
        hess: Any = None,
        hessp: Any = None,
        bounds: Any = None,
        constraints: Any = (),
        callback: Any = None,
        **kwargs: Any,
    ) -> OptimizeResult:
        for name, value in (("jac", jac), ("hess", hess), ("hessp", hessp)):
            if value is not None and value is not False:
                raise ValueError(f"`{name}`: gradfree methods use no derivatives.")
        merged = {**options, **kwargs}
        run_kw = {k: merged.pop(k) for k in list(merged) if k in _RUN_KEYS}
        return minimize(
            fun,
            x0,
            method,
            args=args,
            bounds=bounds,
            constraints=constraints or None,
            callback=_scipy_callback(callback),
            options=merged,
            **run_kw,
        )

    _method.__name__ = f"gradfree_{method if isinstance(method, str) else type(method).__name__}"
    return _method


_RUN_KEYS = frozenset(
    {
        "rng",
        "workers",
        "maxiter",
        "maxfev",
        "tol",
        "progress",
        "on_error",
        "history",
        "integrality",
        "checkpoint",
        "checkpoint_every",
        "checkpoint_seconds",
        "walltime",
        "timeout",
    }
)
