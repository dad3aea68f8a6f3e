"""A network that crosses families: NN-LIFT's tensor estimate, fine-tuned by EKI.

A planted one-hidden-layer tanh network (d = 20 Gaussian inputs, k = 5 hidden units,
n = 100000 noisy samples). NN-LIFT (`gradfree.tensor.NNLIFTRegressor`) recovers the first
layer from a third-order moment and fits the readout by ridge regression, without one
evaluation of the network's loss; its fit is a `gradfree.models.MLP` (``model_``) and a
flat parameter vector (``params_``). That vector is the starting point of ensemble
Kalman inversion on the same MLP (`gradfree.models.residual`, `gradfree.minimize`);
from a random start the same EKI budget does much worse.

Run: python examples/tensor_then_eki.py
"""

import warnings

import numpy as np

from gradfree import minimize
from gradfree.kalman import EKI, DataMisfitController
from gradfree.models import residual
from gradfree.tensor import NNLIFTRegressor

D, K, N, NOISE = 20, 5, 100_000, 0.1


def planted(seed):
    """Training samples and noiseless test targets of a random tanh network."""
    g = np.random.default_rng(seed)
    A1 = g.standard_normal((D, K))
    A1 /= np.linalg.norm(A1, axis=0)
    b1 = g.uniform(-0.5, 0.5, K)
    a2 = g.choice([-1.0, 1.0], K) * g.uniform(0.5, 1.5, K)
    X, Xt = g.standard_normal((N, D)), g.standard_normal((20_000, D))
    y = np.tanh(X @ A1 + b1) @ a2 + NOISE * g.standard_normal(N)
    return X, y, Xt, np.tanh(Xt @ A1 + b1) @ a2


def eki(net, X, y, x0, sigma0, rounds=3):
    """EKI on minibatches of 1000 residuals, 200 members, `rounds` restarts at the mean."""
    r = residual(net, X, y, link="identity", batch_size=1000, rng=0, noise_std=NOISE)
    w, nfev = x0, 0
    for k in range(rounds):
        method = EKI(
            n_ensemble=200, sigma0=sigma0, scheduler=DataMisfitController(on_terminate="continue")
        )
        res = minimize(r, w, method=method, rng=k, workers="vectorized", maxiter=20)
        w, nfev = res.state.ensemble.mean(axis=0), nfev + res.nfev
    return w, nfev


def main():
    X, y, Xt, yt = planted(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lift = NNLIFTRegressor(K, rng=0).fit(X, y)
    for w in caught:  # e.g. a neuron too weak in the moment to be seen at this n
        print("NN-LIFT says:", str(w.message).split(":")[0])
    net, x0 = lift.model_, lift.params_
    print(f"network {net.layer_sizes}, {net.n_params} parameters")
    print(f"NN-LIFT alone          test MSE {np.mean((lift.predict(Xt) - yt) ** 2):.2e}")

    w, nfev = eki(net, X, y, x0, sigma0=0.02)
    mse = np.mean((net.forward(w, Xt)[:, 0] - yt) ** 2)
    print(f"NN-LIFT then EKI       test MSE {mse:.2e}  ({nfev} evaluations)")

    w, nfev = eki(net, X, y, net.init_flat(rng=1), sigma0=0.5)
    mse = np.mean((net.forward(w, Xt)[:, 0] - yt) ** 2)
    print(f"EKI from random start  test MSE {mse:.2e}  ({nfev} evaluations)")


if __name__ == "__main__":
    main()
