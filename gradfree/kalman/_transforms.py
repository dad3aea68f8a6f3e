"""Bounds through bijective transforms, and Gaussian priors for bounded parameters.

Ensemble Kalman methods work in an unconstrained space ``u``; a physical parameter
``phi`` with bounds is ``phi = T(u)``, coordinate by coordinate:

- no bound: ``phi = u``;
- lower bound ``a``: ``phi = a + exp(u)``;
- upper bound ``b``: ``phi = b - exp(-u)``;
- both: ``phi = a + (b - a) / (1 + exp(-u))`` (logistic).

Every map is increasing. These are the transforms of EnsembleKalmanProcesses.jl's
``bounded_below``, ``bounded_above`` and ``bounded`` constraints (up to the sign
convention of the upper one), and `constrained_gaussian` is its helper of the same
name: the Gaussian in ``u`` whose push-forward has a given mean and standard deviation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import integrate, optimize, special

from .._array import get_xp, to_host
from .._typing import Array
from ._gaussian import Gaussian, like

__all__ = ["ConstrainedGaussian", "Transform", "constrained_gaussian"]


def _bounds_arrays(lower: Any, upper: Any, d: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Host float64 bound vectors, broadcast to a common length, validated."""
    try:
        lo = np.atleast_1d(np.asarray(to_host(lower) if hasattr(lower, "shape") else lower))
        hi = np.atleast_1d(np.asarray(to_host(upper) if hasattr(upper, "shape") else upper))
        lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`lower` and `upper` must be real numbers or arrays: {exc}") from exc
    if d is None:
        d = max(lo.shape[0], hi.shape[0])
    try:
        lo, hi = np.broadcast_to(lo, (d,)).copy(), np.broadcast_to(hi, (d,)).copy()
    except ValueError as exc:
        raise ValueError(
            f"`lower` {lo.shape} and `upper` {hi.shape} do not broadcast to ({d},)."
        ) from exc
    if np.isnan(lo).any() or np.isnan(hi).any():
        raise ValueError("`lower` and `upper` must not be NaN.")
    if (lo == np.inf).any() or (hi == -np.inf).any() or not (lo < hi).all():
        raise ValueError("every `lower` must be < its `upper` (and not +inf / -inf).")
    return lo, hi


@dataclass(frozen=True, eq=False)
class Transform:
    """Coordinate-wise increasing bijection from R^d onto the box ``(lower, upper)``.

    Parameters
    ----------
    lower, upper : float or array of shape (d,)
        Bounds; ``-inf`` / ``inf`` for a free side. Broadcast to a common length.

    Raises
    ------
    ValueError
        For NaN bounds or ``lower >= upper``.

    Examples
    --------
    >>> t = Transform([0.0, -np.inf, 0.0], [np.inf, np.inf, 1.0])
    >>> phi = t.to_constrained(np.asarray([0.0, 2.0, 0.0]))
    >>> phi
    array([1. , 2. , 0.5])
    >>> t.to_unconstrained(phi)
    array([0., 2., 0.])
    """

    lower: Any
    upper: Any

    def __post_init__(self) -> None:
        lo, hi = _bounds_arrays(self.lower, self.upper)
        object.__setattr__(self, "lower", lo)
        object.__setattr__(self, "upper", hi)

    @property
    def dim(self) -> int:
        """Number of coordinates ``d``."""
        return int(self.lower.shape[0])

    def _parts(self, x: Array) -> tuple[Any, ...]:
        xp, _ = get_xp(x)
        if x.shape[-1] != self.dim:
            raise ValueError(f"expected {self.dim} coordinates in the last axis; got {x.shape}.")
        lo, hi = like(self.lower, x), like(self.upper, x)
        has_lo, has_hi = xp.isfinite(lo), xp.isfinite(hi)
        zero = xp.zeros_like(lo)
        lo0, hi0 = xp.where(has_lo, lo, zero), xp.where(has_hi, hi, zero)
        both = has_lo & has_hi
        return xp, lo0, hi0, both, has_lo & ~has_hi, has_hi & ~has_lo

    def to_constrained(self, u: Array) -> Array:
        """``phi = T(u)`` for a vector ``(d,)`` or rows ``(n, d)``; never overflows."""
        xp, lo0, hi0, both, lo_only, hi_only = self._parts(u)
        cap = math.log(float(xp.finfo(u.dtype).max)) - 1.0
        e = xp.exp(-xp.abs(u))
        logistic = xp.where(u >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        out = xp.where(both, lo0 + (hi0 - lo0) * logistic, u)
        out = xp.where(lo_only, lo0 + xp.exp(xp.clip(u, max=cap)), out)
        return xp.where(hi_only, hi0 - xp.exp(xp.clip(-u, max=cap)), out)

    def to_unconstrained(self, phi: Array) -> Array:
        """``u = T^{-1}(phi)``; `phi` must lie strictly inside the bounds.

        Raises
        ------
        ValueError
            If an entry of `phi` is on or outside its bounds.
        """
        xp, lo0, hi0, both, lo_only, hi_only = self._parts(phi)
        host = to_host(phi)
        if not (np.all(host > self.lower) and np.all(host < self.upper)):
            raise ValueError("`phi` must lie strictly inside (`lower`, `upper`).")
        one = xp.ones_like(phi)
        width = xp.where(both, hi0 - lo0, xp.ones_like(lo0))
        t = xp.where(both, (phi - lo0) / width, 0.5 * one)
        out = xp.where(both, xp.log(t) - xp.log1p(-t), phi)
        out = xp.where(lo_only, xp.log(xp.where(lo_only, phi - lo0, one)), out)
        return xp.where(hi_only, -xp.log(xp.where(hi_only, hi0 - phi, one)), out)


@dataclass(frozen=True, eq=False)
class ConstrainedGaussian:
    """A Gaussian ``N(mean, diag(std**2))`` in unconstrained space with its `Transform`.

    Returned by `constrained_gaussian`; pass ``mean``, ``cov`` and ``transform`` to
    `InverseProblem`.

    Examples
    --------
    >>> cg = constrained_gaussian(1.0, 0.5, lower=0.0)
    >>> cg.cov.shape, cg.transform.dim
    ((1,), 1)
    """

    mean: np.ndarray
    std: np.ndarray
    transform: Transform

    @property
    def cov(self) -> np.ndarray:
        """The variances ``std**2`` (a diagonal covariance)."""
        return self.std**2

    @property
    def prior(self) -> Gaussian:
        """The unconstrained Gaussian as a `Gaussian`."""
        return Gaussian(self.mean, self.cov)


def _logistic_moments(mu: float, sigma: float) -> tuple[float, float]:
    """Mean and standard deviation of ``1 / (1 + exp(-u))`` for ``u ~ N(mu, sigma^2)``."""

    def moment(k: int) -> float:
        def f(z: float) -> float:
            return float(special.expit(mu + sigma * z) ** k * math.exp(-0.5 * z * z))

        # split where the logistic turns (z = -mu / sigma) and at the Gaussian's peak
        cuts = sorted((0.0, min(max(-mu / sigma, -50.0), 50.0)))
        total = 0.0
        for lo, hi in ((-np.inf, cuts[0]), (cuts[0], cuts[1]), (cuts[1], np.inf)):
            if lo < hi:
                total += integrate.quad(f, lo, hi, epsabs=1e-13, epsrel=1e-11)[0]
        return total / math.sqrt(2 * math.pi)

    m1, m2 = moment(1), moment(2)
    return m1, math.sqrt(max(m2 - m1 * m1, 0.0))


def _match_logistic(m: float, s: float) -> tuple[float, float]:
    """``(mu, sigma)`` such that the logistic push-forward has mean `m`, std `s` (0 < m < 1)."""
    slope = m * (1 - m)
    start = np.asarray([special.logit(m), math.log(min(max(s / slope, 1e-3), 20.0))])

    def residual(z: np.ndarray) -> np.ndarray:
        mean, std = _logistic_moments(float(z[0]), math.exp(float(z[1])))
        return np.asarray([(mean - m) / s, (std - s) / s])

    sol = optimize.least_squares(residual, start, xtol=1e-14, ftol=1e-14, gtol=1e-14)
    if not np.all(np.abs(residual(sol.x)) < 1e-6):
        raise ValueError(
            f"`std`: no Gaussian found whose logistic push-forward has mean {m:g} and std "
            f"{s:g} on the unit interval; the std is too close to its maximum "
            f"{math.sqrt(m * (1 - m)):g} for this mean."
        )
    return float(sol.x[0]), math.exp(float(sol.x[1]))


def constrained_gaussian(
    mean: Any, std: Any, lower: Any = -np.inf, upper: Any = np.inf
) -> ConstrainedGaussian:
    """Gaussian prior in unconstrained space whose push-forward has a given mean and std.

    For each coordinate, finds ``(mu, sigma)`` such that ``phi = T(u)`` with
    ``u ~ N(mu, sigma^2)`` and the `Transform` ``T`` of the bounds has mean `mean`
    and standard deviation `std` (EnsembleKalmanProcesses.jl's helper of this name).
    One bound: ``phi - a`` (or ``b - phi``) is log-normal, solved in closed form,
    ``sigma^2 = log(1 + std^2 / (mean - a)^2)``, ``mu = log(mean - a) - sigma^2 / 2``.
    Two bounds: the logistic-normal moments are computed by adaptive quadrature and
    matched by least squares, started from the delta-method guess.

    Parameters
    ----------
    mean, std : float or array of shape (d,)
        Target mean (strictly inside the bounds) and standard deviation (> 0).
    lower, upper : float or array of shape (d,), default=-inf, inf
        Bounds of the physical parameter.

    Returns
    -------
    ConstrainedGaussian
        ``mean`` and ``std`` of the unconstrained Gaussian (NumPy arrays), its
        ``cov`` (variances) and the ``transform``.

    Raises
    ------
    ValueError
        For a mean on or outside the bounds, ``std <= 0``, or (two bounds) a std at
        or above ``sqrt((mean - a) (b - mean))``, which no distribution on ``(a, b)``
        can have.

    Examples
    --------
    >>> cg = constrained_gaussian([2.0, 0.3], [1.0, 0.1], lower=[0.0, 0.0], upper=[np.inf, 1.0])
    >>> rng = np.random.default_rng(0)
    >>> phi = cg.transform.to_constrained(cg.mean + cg.std * rng.standard_normal((200000, 2)))
    >>> np.round(phi.mean(axis=0), 2), np.round(phi.std(axis=0), 2)
    (array([2. , 0.3]), array([1. , 0.1]))
    """
    mean_h = np.atleast_1d(np.asarray(mean, dtype=np.float64))
    std_h = np.atleast_1d(np.asarray(std, dtype=np.float64))
    d = max(mean_h.shape[0], std_h.shape[0], np.size(lower), np.size(upper))
    if mean_h.ndim != 1 or std_h.ndim != 1:
        raise ValueError("`mean` and `std` must be scalars or 1-d arrays.")
    try:
        mean_h, std_h = np.broadcast_to(mean_h, (d,)), np.broadcast_to(std_h, (d,))
    except ValueError as exc:
        raise ValueError(f"`mean` and `std` do not broadcast to ({d},).") from exc
    if not np.isfinite(std_h).all() or (std_h <= 0).any():
        raise ValueError(f"`std` must be finite and > 0; got {std_h.tolist()}.")
    if not np.isfinite(mean_h).all():
        raise ValueError(f"`mean` must be finite; got {mean_h.tolist()}.")
    transform = Transform(*_bounds_arrays(lower, upper, d))
    lo, hi = transform.lower, transform.upper
    if not ((mean_h > lo).all() and (mean_h < hi).all()):
        raise ValueError("`mean` must lie strictly inside (`lower`, `upper`).")
    mu, sigma = np.empty(d), np.empty(d)
    for i in range(d):
        m, s, a, b = float(mean_h[i]), float(std_h[i]), float(lo[i]), float(hi[i])
        if math.isinf(a) and math.isinf(b):
            mu[i], sigma[i] = m, s
        elif math.isinf(b) or math.isinf(a):
            gap = m - a if math.isinf(b) else b - m  # the log-normal part's mean
            var = math.log1p((s / gap) ** 2)
            centre = math.log(gap) - var / 2
            mu[i], sigma[i] = (centre if math.isinf(b) else -centre), math.sqrt(var)
        else:
            w = b - a
            t, r = (m - a) / w, s / w
            if r >= math.sqrt(t * (1 - t)):
                raise ValueError(
                    f"`std`[{i}] = {s:g} is too large for mean {m:g} on ({a:g}, {b:g}); "
                    f"it must be < {w * math.sqrt(t * (1 - t)):g}."
                )
            mu[i], sigma[i] = _match_logistic(t, r)
    return ConstrainedGaussian(mean=mu, std=sigma, transform=transform)
