"""Ensemble Kalman methods for inverse problems and least squares, on any array namespace.

Strategies (for `gradfree.minimize` on a residual function, or `solve` on an
`InverseProblem`): `EKI` (perturbed-observation or deterministic ensemble Kalman
inversion), `ETKI` (ensemble transform / square-root EKI), `TEKI` (Tikhonov EKI) and
the sampler `EKS` (with ALDI's correction). Steps are set by a scheduler:
`DataMisfitController` (default of the inversions; `solve` stops at algorithm time 1,
`gradfree.minimize` keeps going to a convergence rule),
`DefaultScheduler` (constant) or `EKSStable` (default of the sampler). All algebra
is in ensemble space, so the cost is linear in the number of parameters ``p`` and of
observations ``m``.

Examples
--------
>>> from gradfree.kalman import InverseProblem, solve
>>> problem = InverseProblem(lambda U: U[:, :1] + U[:, 1:], y=np.asarray([2.0]),
...                          noise_cov=0.01, prior_mean=np.zeros(2), prior_cov=1.0)
>>> res = solve(problem, "eki", n_ensemble=50, rng=0, workers="vectorized")
>>> bool(abs(float(res.mean.sum()) - 2.0) < 0.1)
True
"""

from ._accelerators import (
    Accelerator,
    ConstantNesterovAccelerator,
    FirstOrderNesterovAccelerator,
    NesterovAccelerator,
)
from ._eki import EKI, TEKI
from ._eks import EKS
from ._ensemble import EnsembleKalmanBase, EnsembleKalmanState
from ._etki import ETKI
from ._gaussian import Gaussian
from ._inflation import AdditiveInflation, Inflation, MultiplicativeInflation
from ._localization import SEC, BernoulliDropout, Localizer, SECFisher, SECNice
from ._minibatch import MinibatchResiduals, resume_minibatched, solve_minibatched
from ._problem import STRATEGIES, InverseProblem, solve
from ._schedulers import DataMisfitController, DefaultScheduler, EKSStable, Scheduler
from ._series import FixedMinibatcher, Minibatch, ObservationSeries, RandomFixedSizeMinibatcher
from ._transforms import ConstrainedGaussian, Transform, constrained_gaussian
from ._uki import UKI, UKIState

__all__ = [
    "STRATEGIES",
    "FixedMinibatcher",
    "Minibatch",
    "MinibatchResiduals",
    "ObservationSeries",
    "RandomFixedSizeMinibatcher",
    "resume_minibatched",
    "solve_minibatched",
    "Accelerator",
    "AdditiveInflation",
    "BernoulliDropout",
    "ConstantNesterovAccelerator",
    "ConstrainedGaussian",
    "DataMisfitController",
    "DefaultScheduler",
    "EKI",
    "EKS",
    "EKSStable",
    "ETKI",
    "EnsembleKalmanBase",
    "EnsembleKalmanState",
    "FirstOrderNesterovAccelerator",
    "Gaussian",
    "Inflation",
    "InverseProblem",
    "Localizer",
    "MultiplicativeInflation",
    "NesterovAccelerator",
    "SEC",
    "SECFisher",
    "SECNice",
    "Scheduler",
    "TEKI",
    "Transform",
    "UKI",
    "UKIState",
    "constrained_gaussian",
    "solve",
]
