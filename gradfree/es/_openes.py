"""OpenAI-ES: a search-gradient estimate from antithetic Gaussian perturbations.

Salimans, Ho, Chen, Sidor & Sutskever (2017), "Evolution Strategies as a Scalable
Alternative to Reinforcement Learning", arXiv:1703.03864: Algorithm 1 (gradient
estimate), sec. 2.1 (mirrored sampling, centered-rank fitness shaping, weight decay).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

from .._array import get_xp
from .._base import StrategyBase
from .._random import normal
from .._typing import Array, UpdateRule
from .._validate import check_choice, check_int, check_nonnegative, check_positive
from ..shaping import centered_ranks
from ..updates import SGD, Adam

__all__ = ["OpenES", "OpenESState"]


@dataclass(frozen=True)
class OpenESState:
    """State of `OpenES` between generations."""

    mean: Array  # (d,) centre of the search distribution
    noise: Array | None  # (n, d) perturbations of the pending generation
    opt: Any  # state of the update rule
    generation: int = 0


@dataclass(frozen=True)
class OpenES(StrategyBase):
    """OpenAI evolution strategy (Salimans et al. 2017).

    Each generation samples ``popsize / 2`` perturbations ``eps_i ~ N(0, I)`` and
    evaluates ``mean +- sigma * eps_i`` (mirrored sampling). The values are replaced by
    centered ranks ``w_i`` in [-0.5, 0.5], the search gradient is
    ``g = sum_i w_i eps_i / (popsize * sigma)`` (Algorithm 1; the 1/n estimate with
    shaped fitness), L2 weight decay adds ``weight_decay * mean``, and the update rule
    (Adam by default) moves the mean downhill. `sigma` stays fixed, as in the paper.

    Parameters
    ----------
    popsize : int, default=50
        Evaluations per generation; even, since candidates come in mirrored pairs.
    sigma : float, default=0.1
        Standard deviation of the perturbations.
    learning_rate : float, optional
        Step size of a named `optimizer` (default=0.01). Leave unset when `optimizer`
        is an update-rule instance, which carries its own.
    optimizer : {'adam', 'sgd'} or update rule, default='adam'
        How the gradient estimate becomes a step; any object with
        ``init(params)`` and ``step(grad, state)`` (see `gradfree.updates`).
    weight_decay : float, default=0.0
        Coefficient of the L2 penalty ``weight_decay / 2 * ||mean||**2``.

    References
    ----------
    T. Salimans et al., arXiv:1703.03864 (2017), Algorithm 1 and sec. 2.1.

    Examples
    --------
    >>> from gradfree import minimize
    >>> res = minimize(lambda x: float(x @ x), np.ones(4), method=OpenES(learning_rate=0.05),
    ...                rng=0, maxiter=300)
    >>> res.fun < 1e-2
    True
    """

    name: ClassVar[str] = "openai-es"

    popsize: int = 50
    sigma: float = 0.1
    learning_rate: float | None = None
    optimizer: Any = "adam"
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_int(self.popsize, "popsize", low=2, even=True)
        check_positive(self.sigma, "sigma")
        check_nonnegative(self.weight_decay, "weight_decay")
        if isinstance(self.optimizer, str):
            check_choice(self.optimizer, "optimizer", ("adam", "sgd"))
            if self.learning_rate is not None:
                check_positive(self.learning_rate, "learning_rate")
        elif not (hasattr(self.optimizer, "init") and hasattr(self.optimizer, "step")):
            raise TypeError(
                "`optimizer` must be 'adam', 'sgd' or an update rule with init() and step(); "
                f"got {type(self.optimizer).__name__}."
            )
        elif self.learning_rate is not None:
            raise ValueError(
                "`learning_rate` applies to a named `optimizer`; set it on the update-rule "
                "instance instead."
            )

    @cached_property
    def update(self) -> UpdateRule:
        """The update rule in use."""
        if not isinstance(self.optimizer, str):
            return self.optimizer
        lr = 0.01 if self.learning_rate is None else self.learning_rate
        return Adam(learning_rate=lr) if self.optimizer == "adam" else SGD(learning_rate=lr)

    def step_size(self, state: Any) -> float:
        """The fixed perturbation scale ``sigma``."""
        return float(self.sigma)

    def init(self, x0: Array, *, rng: Any) -> OpenESState:
        del rng  # deterministic start
        return OpenESState(mean=x0, noise=None, opt=self.update.init(x0))

    def marginal_std(self, state: OpenESState) -> Array:
        """Per-coordinate standard deviations of the sampling distribution, ``(d,)``."""
        xp, _ = get_xp(state.mean)
        return xp.full_like(state.mean, self.sigma)

    def ask(self, state: OpenESState, *, rng: Any) -> tuple[Array, OpenESState]:
        xp, _ = get_xp(state.mean)
        half = normal(rng, (self.popsize // 2, state.mean.shape[0]), like=state.mean)
        noise = xp.concat([half, -half])  # mirrored pairs, sec. 2.1
        return state.mean + self.sigma * noise, replace(state, noise=noise)

    def tell(self, state: OpenESState, X: Array, values: Array) -> OpenESState:
        if state.noise is None or X.shape != state.noise.shape:
            raise ValueError("`tell` needs the population of the preceding `ask`.")
        w = centered_ranks(values)  # sec. 2.1, fitness shaping
        grad = (w @ state.noise) / (self.popsize * self.sigma)  # Alg. 1, line 5
        if self.weight_decay:
            grad = grad + self.weight_decay * state.mean  # sec. 2.1, weight decay
        step, opt = self.update.step(grad, state.opt)
        return replace(
            state, mean=state.mean + step, noise=None, opt=opt, generation=state.generation + 1
        )
