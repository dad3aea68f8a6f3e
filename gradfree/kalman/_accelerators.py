"""Momentum on the ensemble: Nesterov-type accelerators of ensemble Kalman inversion.

The particle momentum of Kovachki & Stuart (2019, Inverse Problems 35 095005, sec. 4,
"momentum EKI") in the form of EnsembleKalmanProcesses.jl's accelerators (Vernon, Bach
& Dunbar 2025, arXiv:2501.08779). With ``u_k`` the ensemble after the plain Kalman
update and ``v_k`` the look-ahead ensemble that is evaluated,

    u_{k+1} = v_k + K(v_k) (y - G(v_k))          (the strategy's update of v_k)     (1)
    v_{k+1} = u_{k+1} + beta_k (u_{k+1} - u_k)                                       (2)

with ``v_0 = u_0`` the initial ensemble and

- `NesterovAccelerator`: ``theta_0 = 1``,
  ``theta_{k+1} = (sqrt(theta_k^4 + 4 theta_k^2) - theta_k^2) / 2``,
  ``beta_k = theta_{k+1} (1 / theta_k - 1)`` (Su, Boyd & Candes 2016, JMLR 17:153;
  ``beta_0 = 0``);
- `FirstOrderNesterovAccelerator`: ``beta_k = 1 - r / (k + 3)`` (Su, Boyd & Candes'
  ODE discretisation, ``r = 3`` by default);
- `ConstantNesterovAccelerator`: ``beta_k = momentum`` (EKP notes it is effective but
  can be unstable).

The state keeps ``u_k`` (``J x p``) between generations. Momentum works best with the
deterministic update (``EKI(perturbed=False)`` or `ETKI`); EKP switches perturbed
observations off under acceleration.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from .._typing import Array
from .._validate import check_positive

__all__ = [
    "Accelerator",
    "ConstantNesterovAccelerator",
    "FirstOrderNesterovAccelerator",
    "MomentumState",
    "NesterovAccelerator",
    "accelerate",
    "as_accelerator",
]


@dataclass(frozen=True)
class MomentumState:
    """``u_k`` of (1)-(2), the Nesterov ``theta_k`` and the step count ``k``."""

    previous: Array  # (J, p): u_k, the last plain-update ensemble
    theta: float = 1.0
    step: int = 0


class Accelerator(ABC):
    """Base of the accelerators: ``beta(step, theta) -> (beta_k, theta_{k+1})``.

    Examples
    --------
    >>> NesterovAccelerator().beta(0, 1.0)[0]
    0.0
    """

    @abstractmethod
    def beta(self, step: int, theta: float) -> tuple[float, float]:
        """Implemented by each subclass."""


@dataclass(frozen=True)
class NesterovAccelerator(Accelerator):
    """Nesterov momentum with Su-Boyd-Candes weights (EKP's ``NesterovAccelerator``).

    Examples
    --------
    >>> b1, th = NesterovAccelerator().beta(0, 1.0)
    >>> b2, _ = NesterovAccelerator().beta(1, th)
    >>> b1, round(th, 4), round(b2, 4)
    (0.0, 0.618, 0.2818)
    """

    def beta(self, step: int, theta: float) -> tuple[float, float]:
        del step
        t2 = theta * theta
        nxt = 0.5 * (math.sqrt(t2 * t2 + 4.0 * t2) - t2)
        return nxt * (1.0 / theta - 1.0), nxt


@dataclass(frozen=True)
class FirstOrderNesterovAccelerator(Accelerator):
    """``beta_k = 1 - r / (k + 3)`` (EKP's ``FirstOrderNesterovAccelerator``).

    Parameters
    ----------
    r : float, default=3.0
        Friction parameter (> 0).

    Examples
    --------
    >>> [round(FirstOrderNesterovAccelerator().beta(k, 1.0)[0], 3) for k in range(3)]
    [0.0, 0.25, 0.4]
    """

    r: float = 3.0

    def __post_init__(self) -> None:
        check_positive(self.r, "r")

    def beta(self, step: int, theta: float) -> tuple[float, float]:
        return max(1.0 - self.r / (step + 3.0), 0.0), theta


@dataclass(frozen=True)
class ConstantNesterovAccelerator(Accelerator):
    """A constant momentum ``beta_k = momentum`` (EKP's ``ConstantNesterovAccelerator``).

    Parameters
    ----------
    momentum : float, default=0.9
        In (0, 1).

    Examples
    --------
    >>> ConstantNesterovAccelerator(0.5).beta(7, 1.0)
    (0.5, 1.0)
    """

    momentum: float = 0.9

    def __post_init__(self) -> None:
        if check_positive(self.momentum, "momentum") >= 1:
            raise ValueError(f"`momentum` must be < 1; got {self.momentum!r}.")

    def beta(self, step: int, theta: float) -> tuple[float, float]:
        del step
        return self.momentum, theta


_NAMES: dict[str, type] = {
    "nesterov": NesterovAccelerator,
    "first-order": FirstOrderNesterovAccelerator,
    "constant": ConstantNesterovAccelerator,
}


def as_accelerator(value: Any) -> Accelerator | None:
    """Normalize the `accelerator` option: None, a name or an Accelerator.

    Names: ``'none'``, ``'nesterov'``, ``'first-order'``, ``'constant'``.

    Examples
    --------
    >>> as_accelerator("nesterov"), as_accelerator(None)
    (NesterovAccelerator(), None)
    """
    if value is None:
        return None
    if isinstance(value, str):
        key = value.lower().replace("_", "-")
        if key == "none":
            return None
        if key not in _NAMES:
            raise ValueError(
                f"unknown `accelerator` {value!r}; choose one of "
                f"{['none', *sorted(_NAMES)]} or pass an Accelerator."
            )
        return _NAMES[key]()
    if not isinstance(value, Accelerator):
        raise TypeError(
            "`accelerator` must be None, a name or an Accelerator (NesterovAccelerator, "
            f"FirstOrderNesterovAccelerator, ConstantNesterovAccelerator); "
            f"got {type(value).__name__}."
        )
    return value


def accelerate(
    accelerator: Accelerator, momentum: MomentumState | None, evaluated: Array, updated: Array
) -> tuple[Array, MomentumState]:
    """Eq. (2): the next ensemble to evaluate, and the new momentum state.

    `evaluated` is ``v_k`` (which is ``u_0`` at the first step), `updated` is ``u_{k+1}``.

    Examples
    --------
    >>> acc = ConstantNesterovAccelerator(0.5)
    >>> v, mom = accelerate(acc, None, np.zeros((2, 1)), np.ones((2, 1)))
    >>> v.ravel(), mom.step
    (array([1.5, 1.5]), 1)
    """
    previous = evaluated if momentum is None else momentum.previous
    theta = 1.0 if momentum is None else momentum.theta
    step = 0 if momentum is None else momentum.step
    beta, theta_next = accelerator.beta(step, theta)
    look_ahead = updated if beta == 0 else updated + beta * (updated - previous)
    return look_ahead, MomentumState(previous=updated, theta=theta_next, step=step + 1)
