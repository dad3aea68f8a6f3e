"""Networks for backprop-free training: the MLP, activations, flattening, and objectives.

`MLP` is both a black box over a flat parameter vector (with a population forward
``(n, p), (b, d) -> (n, b, out)`` in one batched matmul chain) and a
`gradfree._typing.LayeredModel` for layer-local solvers. `objective` and `residual`
turn (model, data, loss) into what `gradfree.minimize` evaluates: a scalar loss per
candidate for evolution strategies, a residual vector per candidate for EKI.

Examples
--------
>>> from gradfree import minimize
>>> from gradfree.models import MLP, objective
>>> X = np.random.default_rng(0).normal(size=(60, 2))
>>> y = (X[:, 0] > X[:, 1]).astype(int)
>>> net = MLP((2, 4, 2), activations="tanh")
>>> f = objective(net, X, y)
>>> res = minimize(f, net.init_flat(rng=0), method="openai-es", rng=0,
...                workers="vectorized", maxiter=100, options={"learning_rate": 0.05})
>>> bool((net.predict(res.x, X) == y).mean() > 0.9)
True
"""

from ._activations import ACTIVATIONS, DIFFERENTIABLE, activate, derivative
from ._flatten import flatten, unflatten_like
from ._layer import with_ones
from ._mlp import MLP
from ._objective import ModelObjective, ModelResidual, objective, residual

__all__ = [
    "ACTIVATIONS",
    "DIFFERENTIABLE",
    "MLP",
    "ModelObjective",
    "ModelResidual",
    "activate",
    "derivative",
    "flatten",
    "objective",
    "residual",
    "unflatten_like",
    "with_ones",
]
