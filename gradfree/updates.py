"""First-order update rules with explicit state, for search-gradient methods.

Each rule is a frozen config with ``init(params) -> state`` and
``step(grad, state) -> (step, state)``. The returned step is *added* to the parameters
and already points downhill (we always minimize), so ``params + step`` is the update.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._array import get_xp
from ._typing import Array
from ._validate import check_nonnegative, check_positive

__all__ = ["SGD", "Adam", "SGDState", "AdamState", "adam", "sgd"]


@dataclass(frozen=True)
class SGDState:
    """Velocity of SGD with momentum (None without momentum)."""

    velocity: Array | None


@dataclass(frozen=True)
class SGD:
    """Stochastic gradient descent with optional (heavy-ball or Nesterov) momentum.

    Parameters
    ----------
    learning_rate : float, default=0.01
    momentum : float in [0, 1), default=0.0
    nesterov : bool, default=False

    Examples
    --------
    >>> rule = SGD(learning_rate=0.1)
    >>> step, state = rule.step(np.asarray([1.0, -2.0]), rule.init(np.zeros(2)))
    >>> step
    array([-0.1,  0.2])
    """

    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        check_positive(self.learning_rate, "learning_rate")
        check_nonnegative(self.momentum, "momentum")
        if self.momentum >= 1:
            raise ValueError(f"`momentum` must be < 1; got {self.momentum!r}.")
        if not isinstance(self.nesterov, bool):
            raise TypeError(f"`nesterov` must be a bool; got {type(self.nesterov).__name__}.")

    def init(self, params: Array) -> SGDState:
        xp, _ = get_xp(params)
        return SGDState(velocity=xp.zeros_like(params) if self.momentum else None)

    def step(self, grad: Array, state: SGDState) -> tuple[Array, SGDState]:
        if state.velocity is None:
            return -self.learning_rate * grad, state
        velocity = self.momentum * state.velocity + grad
        direction = grad + self.momentum * velocity if self.nesterov else velocity
        return -self.learning_rate * direction, SGDState(velocity=velocity)


@dataclass(frozen=True)
class AdamState:
    """First and second moment estimates and the step count of Adam."""

    m: Array
    v: Array
    count: int = 0


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015, arXiv:1412.6980, Algorithm 1).

    Parameters
    ----------
    learning_rate : float, default=0.01
    beta1, beta2 : float in [0, 1), default=0.9, 0.999
    eps : float, default=1e-8

    Examples
    --------
    >>> rule = Adam(learning_rate=0.1)
    >>> step, state = rule.step(np.asarray([1.0, -2.0]), rule.init(np.zeros(2)))
    >>> np.round(step, 6), state.count
    (array([-0.1,  0.1]), 1)
    """

    learning_rate: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        check_positive(self.learning_rate, "learning_rate")
        for name in ("beta1", "beta2"):
            value = check_nonnegative(getattr(self, name), name)
            if value >= 1:
                raise ValueError(f"`{name}` must be < 1; got {value!r}.")
        check_positive(self.eps, "eps")

    def init(self, params: Array) -> AdamState:
        xp, _ = get_xp(params)
        return AdamState(m=xp.zeros_like(params), v=xp.zeros_like(params))

    def step(self, grad: Array, state: AdamState) -> tuple[Array, AdamState]:
        xp, _ = get_xp(grad)
        count = state.count + 1
        m = self.beta1 * state.m + (1 - self.beta1) * grad  # Alg. 1, m_t
        v = self.beta2 * state.v + (1 - self.beta2) * grad**2  # Alg. 1, v_t
        lr = self.learning_rate * (1 - self.beta2**count) ** 0.5 / (1 - self.beta1**count)
        return -lr * m / (xp.sqrt(v) + self.eps), AdamState(m=m, v=v, count=count)


def sgd(learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False) -> SGD:
    """Shorthand for `SGD`.

    Examples
    --------
    >>> sgd(0.1).learning_rate
    0.1
    """
    return SGD(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov)


def adam(
    learning_rate: float = 0.01, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
) -> Adam:
    """Shorthand for `Adam`.

    Examples
    --------
    >>> adam(0.05).learning_rate
    0.05
    """
    return Adam(learning_rate=learning_rate, beta1=beta1, beta2=beta2, eps=eps)
