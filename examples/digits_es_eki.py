"""Train a 64-32-10 digits classifier without backprop: OpenAI-ES and EKI, on minibatches.

ES minimizes the minibatch cross-entropy (`gradfree.models.objective`, one population
forward per generation); EKI fits softmax outputs to one-hot labels
(`gradfree.models.residual`, m = batch * 10 residuals). EKI moves the ensemble inside
the span of its initial spread, so it runs in rounds, each re-spreading a fresh ensemble
around the last mean. Run: python examples/digits_es_eki.py
"""

import time

from threadpoolctl import threadpool_limits  # installed with scikit-learn

from gradfree import OpenES, minimize
from gradfree.datasets import load_digits
from gradfree.kalman import EKI, DataMisfitController
from gradfree.models import MLP, objective, residual


def accuracy(net, w, data):
    return float((net.predict(w, data.X_test) == data.y_test).mean())


def main():
    data = load_digits(rng=0)  # 1347 train / 450 test, pixels in [0, 1]
    net = MLP((64, 32, 10), activations="tanh")
    x0 = net.init_flat(rng=0)

    # 1. OpenAI-ES: 100 candidates per generation, one minibatch of 128 per generation
    start = time.perf_counter()
    f = objective(net, data.X_train, data.y_train, batch_size=128, rng=0)
    es = OpenES(popsize=100, sigma=0.05, learning_rate=0.03)
    res = minimize(f, x0, method=es, rng=0, workers="vectorized", maxiter=500)
    w_es = res.state.mean  # the search mean, not the luckiest minibatch's best
    print(
        f"openai-es: test accuracy {accuracy(net, w_es, data):.3f} "
        f"({res.nfev} evaluations, {time.perf_counter() - start:.1f} s)"
    )

    # 2. EKI: 100 members, residuals on one minibatch of 128 per generation, 10 rounds
    start = time.perf_counter()
    r = residual(net, data.X_train, data.y_train, batch_size=128, rng=0, noise_std=0.1)
    w_eki, nfev = x0, 0
    for k in range(10):
        eki = EKI(
            n_ensemble=100, sigma0=0.1, scheduler=DataMisfitController(on_terminate="continue")
        )
        res = minimize(r, w_eki, method=eki, rng=k, workers="vectorized", maxiter=20)
        w_eki, nfev = res.state.ensemble.mean(axis=0), nfev + res.nfev
    print(
        f"eki:       test accuracy {accuracy(net, w_eki, data):.3f} "
        f"({nfev} evaluations, {time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    with threadpool_limits(limits=1):  # small matrices: one BLAS thread is fastest
        main()
