"""Closed-form pieces of the alternating-minimization trainers: proximal maps and solves.

Everything here is linear algebra or an entrywise map; no derivative of the network is
taken. Arrays follow the namespace and device of their inputs.
"""

from __future__ import annotations

from typing import Any

from .._array import get_xp
from ..models import MLP, with_ones

__all__ = ["coupled_solve", "refit_readout", "relu_prox", "ridge_solve"]


def relu_prox(V: Any, T: Any, gamma: float, c: float) -> Any:
    """Entrywise global minimizer of ``gamma/2 (v - relu(u))**2 + c/2 (u - t)**2`` over ``u``.

    On ``u >= 0`` the problem is a quadratic with minimizer ``max(0, (gamma v + c t) /
    (gamma + c))``; on ``u <= 0`` it is ``min(0, t)``; the candidate with the lower value
    wins (the ReLU U-update of Zeng et al. 2019; the z-update of Taylor et al. 2016).

    Examples
    --------
    >>> relu_prox(np.asarray([1.0, 0.0]), np.asarray([1.0, -2.0]), 1.0, 1.0)
    array([ 1., -2.])
    """
    xp, _ = get_xp(V, T)
    zero = xp.zeros_like(T)
    up = xp.maximum((gamma * V + c * T) / (gamma + c), zero)
    un = xp.minimum(T, zero)
    fp = gamma * (V - up) ** 2 + c * (up - T) ** 2
    fn = gamma * V**2 + c * (un - T) ** 2
    return xp.where(fp <= fn, up, un)


def ridge_solve(A: Any, B: Any, alpha: float, W0: Any = None) -> Any:
    """Solve ``min_W ||A W - B||^2 + alpha ||W - W0||^2`` via the normal equations.

    Examples
    --------
    >>> ridge_solve(np.eye(2), np.ones((2, 1)), 0.0)
    array([[1.],
           [1.]])
    """
    xp, dev = get_xp(A, B)
    G = A.T @ A + alpha * xp.eye(A.shape[1], dtype=A.dtype, device=dev)
    R = A.T @ B if W0 is None else A.T @ B + alpha * W0
    return xp.linalg.solve(G, R)


def coupled_solve(Wt: Any, R: Any, rho: float, c: float) -> Any:
    """Solve ``V (c I + rho Wt Wt^T) = R`` for ``V`` (rows are samples).

    This is the activation update shared by BCD and ADMM: the minimizer over ``V`` of
    ``c/2 ||V - P||^2 + rho/2 ||Q - V Wt||^2`` with ``R = c P + rho Q Wt^T``. `Wt` is
    ``(h, k)``, the next layer's weights without the bias row. When ``k < h`` (the next
    layer is narrower) the solve goes through the Woodbury identity
    ``(c I + rho Wt Wt^T)^{-1} = (I - rho Wt (c I_k + rho Wt^T Wt)^{-1} Wt^T) / c``:
    a ``k x k`` system instead of ``h x h``, ``O(n h k)`` instead of ``O(h^3 + n h^2)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Wt, R = rng.normal(size=(5, 2)), rng.normal(size=(3, 5))
    >>> V = coupled_solve(Wt, R, 2.0, 0.5)
    >>> bool(np.allclose(V @ (0.5 * np.eye(5) + 2.0 * Wt @ Wt.T), R))
    True
    """
    xp, dev = get_xp(Wt, R)
    h, k = Wt.shape
    if k < h:
        S = rho * (Wt.T @ Wt) + c * xp.eye(k, dtype=Wt.dtype, device=dev)
        return (R - rho * (xp.linalg.solve(S, (R @ Wt).T).T @ Wt.T)) / c
    M = rho * (Wt @ Wt.T) + c * xp.eye(h, dtype=Wt.dtype, device=dev)
    return xp.linalg.solve(M, R.T).T


def refit_readout(
    network: MLP, layers: tuple[Any, ...], X: Any, Y: Any, ridge: float
) -> tuple[Any, ...]:
    """`layers` with the output layer replaced by the ridge fit of `Y` on the hidden features.

    The hidden features are those of the forward pass of `network`, ``[h(X), 1]``, so the
    readout is the exact minimizer of ``||[h(X), 1] W - Y||^2 + ridge ||W||^2`` for the
    trained hidden layers. During training BCD and ADMM fit the readout to the auxiliary
    activations, which only approach the forward activations; this closing solve removes
    that gap.

    Examples
    --------
    >>> X, Y = np.eye(3), np.eye(3)
    >>> layers = (np.ones((4, 3)), np.zeros((4, 3)))
    >>> [W.shape for W in refit_readout(MLP((3, 3, 3)), layers, X, Y, 1e-3)]
    [(4, 3), (4, 3)]
    """
    features = network.forward_cache(layers, X)[0][-1]
    return (*layers[:-1], ridge_solve(with_ones(features), Y, ridge))
