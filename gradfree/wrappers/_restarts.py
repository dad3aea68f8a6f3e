"""Restarts with increasing population: IPOP and BIPOP, around any population strategy.

IPOP: Auger & Hansen (2005), "A Restart CMA Evolution Strategy With Increasing
Population Size", CEC: restart with the population multiplied by 2 whenever the inner
strategy stops. BIPOP: Hansen (2009), "Benchmarking a BI-Population CMA-ES on the
BBOB-2009 Function Testbed", GECCO workshop, sec. 2: after the first run (default
population, its evaluations counted in the small regime's budget), each restart is in
the small regime while the small regime has used fewer evaluations than the large one,
else in the large regime. Large: ``lam_l = lam_def * 2**k`` for the k-th large run and
the given ``sigma0``. Small: ``lam_s = floor(lam_def * (lam_l / (2 lam_def)) ** U1**2)``
with ``lam_l`` the next large population (``lam_l / 2`` the last one), ``sigma0_s =
sigma0 * 10 ** (-2 U2)`` with ``U1, U2 ~ U(0, 1)`` drawn apart, for at most
``min(100 + 150 (n + 3)**2 / sqrt(lam_def), 0.5 B_l / lam_s)`` generations, ``B_l`` the
large regime's evaluations so far. Only large restarts count against the restart limit,
as in pycma's ``fmin2(..., bipop=True)``; the run ends when the last large run stops, or
with the budget.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .._array import asarray_like
from .._base import WrapperBase, option_names
from .._typing import Array
from .._validate import check_choice, check_int, check_x0

__all__ = ["Restart", "Restarts", "RestartsState"]


@dataclass(frozen=True)
class Restart:
    """Record of one restart: when, why, and the configuration that followed."""

    generation: int  # generations of the whole run before the restart
    evaluations: int  # evaluations of the whole run before the restart
    reason: str  # the inner strategy's stop message
    regime: str  # 'ipop', 'large' or 'small'
    popsize: int
    sigma0: float | None


@dataclass(frozen=True)
class RestartsState:
    """State of `Restarts`: the inner run plus the bookkeeping across restarts."""

    x0: Array
    current: Any  # the inner strategy's configuration in use
    inner: Any  # the inner strategy's state
    base_popsize: int | None = None  # first population size seen
    large_popsize: int | None = None  # BIPOP: population of the last large regime
    evals_large: int = 0
    evals_small: int = 0
    regime: str = "small"  # BIPOP: the first run counts in the small regime's budget
    large_runs: int = 0  # BIPOP: large restarts so far
    run_generations: int = 0  # generations of the inner run in use
    max_generations: int | None = None  # BIPOP: the small run's generation limit
    pending: str | None = None  # stop message that asks for a restart at the next ask
    final: str | None = None  # stop message once no restart is left
    generation: int = 0
    evaluations: int = 0
    restarts: tuple[Restart, ...] = ()


@dataclass(frozen=True)
class Restarts(WrapperBase):
    """Restart a strategy whenever it stops, with a larger (or BIPOP-varied) population.

    Parameters
    ----------
    strategy : strategy
        A configured strategy with a ``popsize`` option and a ``stop`` rule (CMA-ES,
        sep-CMA-ES, NES, ...). ``popsize=None`` uses the strategy's own default first.
    kind : {'ipop', 'bipop'}, default='ipop'
    max_restarts : int, default=9
        Restarts allowed; for BIPOP the large-population restarts (small-population
        runs interleave by the budget rule and are not counted), as in pycma.
    popsize_factor : float, default=2.0
        Growth of the (large) population at each restart.
    restart_x0 : callable, optional
        ``restart_x0(rng) -> x0`` draws each restart's start point (e.g. uniformly in
        a box); by default every restart begins at the original `x0`.

    Notes
    -----
    Each restart is recorded in ``result.state.restarts`` (generation, evaluations,
    reason, regime, popsize, sigma0). The run stops when the inner strategy stops and
    no restart is left, or with the budget (`maxfev`, `maxiter` count the whole run):
    with ``max_restarts=9`` BIPOP's last large population is ``2**9`` times the default,
    so a run with `maxfev` usually spends it all. The popsize and step size are changed
    on `strategy`, or on the strategy it wraps (e.g. `gradfree.wrappers.LQSurrogate`), whose
    state then starts afresh with each restart.
    ``minimize(..., options={"restarts": "bipop", "max_restarts": 9})`` wraps any
    method this way.

    Examples
    --------
    >>> from gradfree import minimize
    >>> from gradfree.es import CMAES
    >>> def rastrigin(X):
    ...     return 10 * X.shape[1] + (X**2 - 10 * np.cos(2 * np.pi * X)).sum(axis=1)
    >>> res = minimize(rastrigin, np.full(2, 3.0), method=Restarts(CMAES(sigma0=2.0)),
    ...                rng=1, workers="vectorized")
    >>> res.fun < 1e-8, len(res.state.restarts) > 0
    (True, True)
    """

    strategy: Any = None
    kind: str = "ipop"
    max_restarts: int = 9
    popsize_factor: float = 2.0
    restart_x0: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if _sized(self.strategy) is None:
            raise TypeError(
                "`strategy` must be a configured strategy with a `popsize` option (or a "
                f"wrapper around one); got {self.strategy!r}."
            )
        check_choice(self.kind, "kind", ("ipop", "bipop"))
        check_int(self.max_restarts, "max_restarts", low=0)
        if not (isinstance(self.popsize_factor, (int, float)) and self.popsize_factor > 1):
            raise ValueError(f"`popsize_factor` must be > 1; got {self.popsize_factor!r}.")
        if self.restart_x0 is not None and not callable(self.restart_x0):
            raise TypeError("`restart_x0` must be callable: restart_x0(rng) -> x0.")

    @property
    def _sigma_name(self) -> str | None:
        names = option_names(type(_sized(self.strategy)))
        return next((n for n in ("sigma0", "sigma") if n in names), None)

    def init(self, x0: Array, *, rng: Any) -> RestartsState:
        return RestartsState(x0=x0, current=self.strategy, inner=self.strategy.init(x0, rng=rng))

    def ask(self, state: RestartsState, *, rng: Any) -> tuple[Array, RestartsState]:
        if state.pending is not None:
            state = self._restart(state, rng)
        X, inner = state.current.ask(state.inner, rng=rng)
        if state.base_popsize is None:  # a surrogate's batch is part of the population
            size = getattr(state.current, "population_size", lambda s: X.shape[0])(inner)
            state = replace(state, base_popsize=size, large_popsize=size)
        return X, replace(state, inner=inner)

    def tell(self, state: RestartsState, X: Array, values: Array) -> RestartsState:
        inner = state.current.tell(state.inner, X, values)
        n = X.shape[0]
        small = self.kind == "bipop" and state.regime == "small"
        state = replace(
            state,
            inner=inner,
            generation=state.generation + 1,
            run_generations=state.run_generations + 1,
            evaluations=state.evaluations + n,
            evals_small=state.evals_small + n * small,
            evals_large=state.evals_large + n * (not small),
        )
        message = state.current.stop(inner)
        if not message and state.max_generations is not None:
            if state.run_generations >= state.max_generations:
                message = f"bipop: small run's limit of {state.max_generations} generations"
        if not message:
            return state
        done = state.large_runs if self.kind == "bipop" else len(state.restarts)
        if done < self.max_restarts:
            return replace(state, pending=message)
        return replace(state, final=f"{message} (after {len(state.restarts)} restarts)")

    def stop(self, state: RestartsState) -> str | None:
        return state.final

    def _current(self, state: RestartsState) -> Any:
        return state.current

    def _restart(self, state: RestartsState, rng: Any) -> RestartsState:
        """Start a fresh inner run; all randomness of the choice comes from `rng`."""
        base, large = state.base_popsize or 2, state.large_popsize or 2
        sigma_name = self._sigma_name
        sigma0 = getattr(_sized(self.strategy), sigma_name) if sigma_name else None
        max_generations = None
        if self.kind == "bipop" and state.evals_small < max(1, state.evals_large):
            regime = "small"
            popsize = int(base * (large / base) ** (float(rng.uniform()) ** 2))
            if sigma0 is not None:
                sigma0 = sigma0 * 10 ** (-2 * float(rng.uniform()))
            n = state.x0.shape[0]
            first = 100 + 150 * (n + 3) ** 2 / math.sqrt(base)
            max_generations = max(1, int(min(first, 0.5 * state.evals_large / max(popsize, 1))))
        else:
            regime = "ipop" if self.kind == "ipop" else "large"
            popsize = int(round(large * self.popsize_factor))
            large = popsize
        popsize = max(popsize, base)
        if base % 2 == 0 and popsize % 2:  # keep mirrored-sampling methods valid
            popsize += 1
        changes: dict[str, Any] = {"popsize": popsize}
        if sigma_name is not None:
            changes[sigma_name] = sigma0
        current = _with_sized_options(self.strategy, changes)
        x0 = state.x0
        if self.restart_x0 is not None:
            x0 = check_x0(asarray_like(self.restart_x0(rng), state.x0))
        record = Restart(
            state.generation, state.evaluations, state.pending or "", regime, popsize, sigma0
        )
        return replace(
            state,
            current=current,
            inner=current.init(x0, rng=rng),
            large_popsize=large,
            regime="small" if regime == "small" else "large",
            large_runs=state.large_runs + (regime == "large"),
            run_generations=0,
            max_generations=max_generations,
            pending=None,
            restarts=state.restarts + (record,),
        )


def _sized(strategy: Any) -> Any:
    """The strategy with a ``popsize`` option: `strategy`, or the one a wrapper holds."""
    while dataclasses.is_dataclass(strategy):
        if "popsize" in option_names(type(strategy)):
            return strategy
        strategy = getattr(strategy, "strategy", None)
    return None


def _with_sized_options(strategy: Any, changes: dict[str, Any]) -> Any:
    """`strategy` with `changes` made on `_sized(strategy)` (inside its wrappers)."""
    if "popsize" in option_names(type(strategy)):
        return replace(strategy, **changes)
    return replace(strategy, strategy=_with_sized_options(strategy.strategy, changes))
