"""Tensor methods of moments: streamed moments, robust tensor power method, CP, mixtures.

* Moments (`second_moment`, `whiten`, `whitened_third_moment`, `SampleMoment3`):
  streamed over chunks of samples, never an ``n x d^3`` array; ``T(I, v, v)`` straight
  from the samples.
* Decompositions: `robust_power_method` (AGHKT 2014, Algorithm 1) on dense or
  sample-defined tensors, `whitened_symmetric_cp` for non-orthogonal components (the
  default route: the unwhitened power method is biased on them), `cp_als` (multi-start
  CP-ALS through tensorly, for non-symmetric tensors).
* `recovery_error` up to permutation, sign and scale.
* `SphericalGMM` (Hsu & Kakade 2013), scikit-learn style.

Examples
--------
>>> from gradfree.tensor import recovery_error, whitened_symmetric_cp
>>> A = np.random.default_rng(0).standard_normal((6, 3))      # non-orthogonal columns
>>> w = np.asarray([0.2, 0.3, 0.5])
>>> T = np.einsum("r,ir,jr,lr->ijl", w, A, A, A)
>>> weights, factors = whitened_symmetric_cp(T, (A * w) @ A.T, 3, rng=0)
>>> recovery_error(A, factors).max < 1e-8
True
"""

from ._cp_als import cp_als
from ._gmm import SphericalGMM, spherical_gmm_moments
from ._hmm import SpectralHMM
from ._implicit import SampleMoment3
from ._metrics import RecoveryError, recovery_error
from ._moments import (
    check_data,
    multilinear,
    second_moment,
    whiten,
    whitened_third_moment,
)
from ._nnlift import NNLIFTRegressor, gaussian_score3
from ._power import robust_power_method, whitened_symmetric_cp
from ._topics import LDA, SingleTopicModel

__all__ = [
    "LDA",
    "SingleTopicModel",
    "SpectralHMM",
    "NNLIFTRegressor",
    "gaussian_score3",
    "RecoveryError",
    "SampleMoment3",
    "SphericalGMM",
    "check_data",
    "cp_als",
    "multilinear",
    "recovery_error",
    "robust_power_method",
    "second_moment",
    "spherical_gmm_moments",
    "whiten",
    "whitened_symmetric_cp",
    "whitened_third_moment",
]
