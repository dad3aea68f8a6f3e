"""PGPE: policy gradients with parameter-based exploration, with the ClipUp optimizer.

Sehnke, Osendorfer, Rueckstiess, Graves, Peters & Schmidhuber (2010),
"Parameter-exploring policy gradients", Neural Networks 23(4), 551-559: separable
Gaussian search distribution, symmetric sampling ``mu +- eps`` and its mean and
standard-deviation gradients (sec. 2, symmetric sampling). Centered-rank fitness
shaping as in Salimans et al. (2017), arXiv:1703.03864, sec. 2.1; with ranks of mean
zero the standard-deviation gradient needs no baseline.

Toklu, Liskowski & Srivastava (2020), "ClipUp: A Simple and Powerful Optimizer for
Distribution-based Policy Evolution", PPSN XVI, LNCS 12270, 515-527 (arXiv:2008.02387),
Algorithm 1: heavy-ball momentum on the normalized gradient, velocity clipped to a
maximum speed. Defaults follow EvoTorch's PGPE (stdev learning rate 0.1, relative
stdev change at most 0.2 per generation, max speed twice the step size).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

from .._array import get_xp, to_host
from .._base import StrategyBase, mean_scale
from .._random import normal
from .._typing import Array, UpdateRule
from .._validate import check_choice, check_int, check_nonnegative, check_positive
from ..shaping import centered_ranks
from ..updates import SGD, Adam
from ._cma_common import default_popsize

__all__ = ["PGPE", "ClipUp", "ClipUpState", "PGPEState"]


@dataclass(frozen=True)
class ClipUpState:
    """Velocity of ClipUp (already pointing downhill)."""

    velocity: Array


@dataclass(frozen=True)
class ClipUp:
    """ClipUp: momentum on the normalized gradient, velocity clipped (Toklu et al. 2020).

    ``v <- momentum v - learning_rate g / ||g||``, then ``v <- v * max_speed / ||v||``
    when ``||v|| > max_speed``; the step is ``v`` (Algorithm 1, written for descent).
    The step length never exceeds `max_speed`, whatever the scale of the gradient.

    Parameters
    ----------
    learning_rate : float, default=0.15
        Step size ``alpha``: the length each normalized gradient adds to the velocity.
    max_speed : float, optional
        Largest step length; default ``2 * learning_rate`` (the paper's advice,
        ``alpha = v_max / 2``).
    momentum : float in [0, 1), default=0.9

    Examples
    --------
    >>> rule = ClipUp(learning_rate=0.1)
    >>> step, state = rule.step(np.asarray([3.0, -4.0]), rule.init(np.zeros(2)))
    >>> step
    array([-0.06,  0.08])
    >>> for _ in range(50):
    ...     step, state = rule.step(np.asarray([3.0, -4.0]), state)
    >>> round(float(np.linalg.norm(step)), 12)
    0.2
    """

    learning_rate: float = 0.15
    max_speed: float | None = None
    momentum: float = 0.9

    def __post_init__(self) -> None:
        check_positive(self.learning_rate, "learning_rate")
        if self.max_speed is not None:
            check_positive(self.max_speed, "max_speed")
        if check_nonnegative(self.momentum, "momentum") >= 1:
            raise ValueError(f"`momentum` must be < 1; got {self.momentum!r}.")

    def init(self, params: Array) -> ClipUpState:
        xp, _ = get_xp(params)
        return ClipUpState(velocity=xp.zeros_like(params))

    def step(self, grad: Array, state: ClipUpState) -> tuple[Array, ClipUpState]:
        xp, _ = get_xp(grad)
        vmax = 2 * self.learning_rate if self.max_speed is None else self.max_speed
        norm = xp.linalg.vector_norm(grad)
        unit = grad / xp.where(norm > 0, norm, xp.ones_like(norm))  # zero gradient: no push
        velocity = self.momentum * state.velocity - self.learning_rate * unit  # Alg. 1, v'
        speed = xp.linalg.vector_norm(velocity)
        cap = xp.full_like(speed, vmax)
        velocity = velocity * (cap / xp.maximum(speed, cap))  # Alg. 1, clip ||v|| to v_max
        return velocity, ClipUpState(velocity=velocity)


@dataclass(frozen=True)
class PGPEState:
    """State of `PGPE` between generations."""

    mean: Array  # (d,) centre mu of the search distribution
    sigma: Array  # (d,) per-coordinate standard deviations
    noise: Array | None  # (n/2, d) standard normal directions of the pending generation
    opt: Any  # state of the mean's update rule
    popsize: int  # resolved (even) population size
    generation: int = 0


@dataclass(frozen=True)
class PGPE(StrategyBase):
    """Policy gradients with parameter-based exploration (Sehnke et al. 2010) + ClipUp.

    Each generation draws ``popsize / 2`` directions ``eps_k = sigma * z_k`` and
    evaluates the symmetric pairs ``mu + eps_k`` and ``mu - eps_k``. With centered
    ranks ``w`` (best -0.5, worst +0.5) of the values, the search gradients are
    ``g_mu = mean_k (w_k^+ - w_k^-) / 2 * eps_k`` and
    ``g_sigma = mean_k (w_k^+ + w_k^-) / 2 * (eps_k**2 - sigma**2) / sigma``.
    The mean takes a step of the update rule (ClipUp by default, so a step is at most
    ``2 * center_learning_rate`` long), and ``sigma -= stdev_learning_rate * g_sigma``
    with each entry kept within a factor ``1 +- stdev_max_change`` of its old value.

    Parameters
    ----------
    popsize : int, optional
        Evaluations per generation, even (pairs); default ``4 + floor(3 ln d)``
        rounded up to even.
    sigma0 : float, default=1.0
        Initial standard deviation of every coordinate.
    center_learning_rate : float, optional
        Step size of a named `optimizer` (default=0.15); for ClipUp the maximum speed
        is twice this. Leave unset when `optimizer` is an update-rule instance.
    stdev_learning_rate : float, default=0.1
        Step size of the standard-deviation update.
    stdev_max_change : float in (0, 1), default=0.2
        Largest relative change of each standard deviation per generation.
    optimizer : {'clipup', 'adam', 'sgd'} or update rule, default='clipup'
        How the mean gradient becomes a step; any object with ``init(params)`` and
        ``step(grad, state)`` (see `ClipUp` and `gradfree.updates`).

    Raises
    ------
    TypeError, ValueError
        For an odd or too small `popsize`, a non-positive rate, a `stdev_max_change`
        outside (0, 1), or an unknown `optimizer`.

    References
    ----------
    F. Sehnke et al., "Parameter-exploring policy gradients", Neural Networks 23(4)
    (2010) 551-559, symmetric sampling. N. E. Toklu, P. Liskowski, R. K. Srivastava,
    "ClipUp", PPSN 2020, arXiv:2008.02387, Algorithm 1.

    Examples
    --------
    >>> from gradfree import minimize
    >>> res = minimize(lambda X: (X**2).sum(axis=1), np.ones(5),
    ...                method=PGPE(popsize=20, center_learning_rate=0.05),
    ...                workers="vectorized", rng=0, maxiter=300)
    >>> res.fun < 1e-2
    True
    """

    name: ClassVar[str] = "pgpe"

    popsize: int | None = None
    sigma0: float = 1.0
    center_learning_rate: float | None = None
    stdev_learning_rate: float = 0.1
    stdev_max_change: float = 0.2
    optimizer: Any = "clipup"

    def __post_init__(self) -> None:
        if self.popsize is not None:
            check_int(self.popsize, "popsize", low=2, even=True)
        check_positive(self.sigma0, "sigma0")
        check_positive(self.stdev_learning_rate, "stdev_learning_rate")
        if check_positive(self.stdev_max_change, "stdev_max_change") >= 1:
            raise ValueError(f"`stdev_max_change` must be < 1; got {self.stdev_max_change!r}.")
        if isinstance(self.optimizer, str):
            check_choice(self.optimizer, "optimizer", ("clipup", "adam", "sgd"))
            if self.center_learning_rate is not None:
                check_positive(self.center_learning_rate, "center_learning_rate")
        elif not (hasattr(self.optimizer, "init") and hasattr(self.optimizer, "step")):
            raise TypeError(
                "`optimizer` must be 'clipup', 'adam', 'sgd' or an update rule with init() "
                f"and step(); got {type(self.optimizer).__name__}."
            )
        elif self.center_learning_rate is not None:
            raise ValueError(
                "`center_learning_rate` applies to a named `optimizer`; set it on the "
                "update-rule instance instead."
            )

    @cached_property
    def update(self) -> UpdateRule:
        """The update rule of the mean."""
        if not isinstance(self.optimizer, str):
            return self.optimizer
        lr = 0.15 if self.center_learning_rate is None else self.center_learning_rate
        rules = {"clipup": ClipUp, "adam": Adam, "sgd": SGD}
        return rules[self.optimizer](learning_rate=lr)

    def step_size(self, state: Any) -> float:
        """The per-coordinate standard deviations, averaged."""
        return mean_scale(state.sigma)

    def init(self, x0: Array, *, rng: Any) -> PGPEState:
        del rng  # deterministic start
        xp, _ = get_xp(x0)
        n = self.popsize if self.popsize is not None else default_popsize(x0.shape[0])
        n += n % 2
        return PGPEState(
            mean=x0,
            sigma=xp.full_like(x0, self.sigma0),
            noise=None,
            opt=self.update.init(x0),
            popsize=n,
        )

    def marginal_std(self, state: PGPEState) -> Array:
        """Per-coordinate standard deviations of the sampling distribution, ``(d,)``."""
        return state.sigma

    def ask(self, state: PGPEState, *, rng: Any) -> tuple[Array, PGPEState]:
        xp, _ = get_xp(state.mean)
        z = normal(rng, (state.popsize // 2, state.mean.shape[0]), like=state.mean)
        eps = state.sigma * z
        X = xp.concat([state.mean + eps, state.mean - eps])  # symmetric sampling
        return X, replace(state, noise=z)

    def tell(self, state: PGPEState, X: Array, values: Array) -> PGPEState:
        if state.noise is None or X.shape[0] != 2 * state.noise.shape[0]:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        xp, _ = get_xp(state.mean)
        h = state.noise.shape[0]
        eps = state.sigma * state.noise  # (h, d) directions
        w = xp.astype(centered_ranks(values), eps.dtype)  # mean zero: baseline-free
        w_plus, w_minus = w[:h], w[h:]
        # Sehnke et al., symmetric sampling: mu by (r+ - r-) / 2, sigma by (r+ + r-) / 2
        grad_mu = ((w_plus - w_minus) / 2) @ eps / h
        grad_sigma = ((w_plus + w_minus) / 2) @ (eps * eps / state.sigma - state.sigma) / h
        step, opt = self.update.step(grad_mu, state.opt)  # ClipUp, Alg. 1 (descent)
        sigma = state.sigma - self.stdev_learning_rate * grad_sigma  # stdev gradient step
        bound = self.stdev_max_change * state.sigma
        sigma = xp.minimum(xp.maximum(sigma, state.sigma - bound), state.sigma + bound)
        return replace(
            state,
            mean=state.mean + step,
            sigma=sigma,
            noise=None,
            opt=opt,
            generation=state.generation + 1,
        )

    def stop(self, state: PGPEState) -> str | None:
        """Stop when every standard deviation fell below ``1e-12 * sigma0``."""
        xp, _ = get_xp(state.sigma)
        largest = float(to_host(xp.max(state.sigma)))
        if largest < 1e-12 * self.sigma0:
            return f"sigma collapsed: largest standard deviation {largest:.3g}"
        return None
