"""Warm start across families: NN-LIFT, NN-LIFT then EKI, EKI from random, backprop.

Protocol: the planted network of ``examples/tensor_then_eki.py`` (``x ~ N(0, I_20)``,
``k = 5`` tanh units with unit Gaussian columns, ``b1 ~ U[-0.5, 0.5]``,
``a2 = +-U[0.5, 1.5]``, ``y = a2^T tanh(A1^T x + b1) + 0.1 N(0, 1)``), n = 100000
training samples, test MSE on 20000 fresh noiseless samples, 3 seeds.

- ``nnlift``: `gradfree.tensor.NNLIFTRegressor(5)`: moments, CP, ridge readout; no loss
  evaluation of the network (its data passes are reported instead).
- ``nnlift_eki``: EKI (200 members, minibatches of 1000 residuals, 3 rounds of 20
  iterations restarted at the ensemble mean, ``sigma0 = 0.02``) started from
  NN-LIFT's ``params_`` on its ``model_``.
- ``eki_random``: the same EKI from ``model_.init_flat`` (Glorot) with ``sigma0 = 0.5``,
  at the same budget and at 4x the budget (12 rounds).
- ``mlp``: scikit-learn's ``MLPRegressor((5,), activation="tanh", early_stopping=True,
  max_iter=200)`` (backprop, Adam).

"Evaluations" are network evaluations of one parameter vector on one minibatch
(``res.nfev``); "sample forwards" multiply them by the batch size (for backprop: epochs x
training rows, each also with a backward pass). Times are wall-clock on one BLAS thread.

Run: ``python benchmarks/tensor_then_eki.py [--seeds N]``; writes
``benchmarks/results/tensor_then_eki.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT.parent / "examples"))

from _common import machine_info, versions  # noqa: E402
from tensor_then_eki import NOISE, eki, planted  # noqa: E402

from gradfree.tensor import NNLIFTRegressor  # noqa: E402

BATCH = 1000


def run(seed: int) -> dict:
    """All four methods on one planted instance."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    X, y, Xt, yt = planted(seed)
    rows = {}

    def mse(pred):
        return float(np.mean((pred - yt) ** 2))

    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lift = NNLIFTRegressor(5, rng=seed).fit(X, y)
    net = lift.model_
    rows["nnlift"] = {
        "test_mse": mse(lift.predict(Xt)),
        "evaluations": 0,
        "sample_forwards": X.shape[0],  # the ridge readout's one pass
        "data_passes": "moments, then one pass for the readout",
        "time_s": time.perf_counter() - t0,
        "warnings": [str(w.message).split(":")[0] for w in caught],
    }
    starts = {
        "nnlift_eki": (lift.params_, 0.02, 3),
        "eki_random": (net.init_flat(rng=seed + 100), 0.5, 3),
        "eki_random_4x": (net.init_flat(rng=seed + 100), 0.5, 12),
    }
    for name, (x0, sigma0, rounds) in starts.items():
        t0 = time.perf_counter()
        w, nfev = eki(net, X, y, x0, sigma0, rounds=rounds)
        rows[name] = {
            "test_mse": mse(net.forward(w, Xt)[:, 0]),
            "evaluations": int(nfev),
            "sample_forwards": int(nfev) * BATCH,
            "time_s": time.perf_counter() - t0,
        }
    rows["nnlift_eki"]["time_s"] += rows["nnlift"]["time_s"]  # includes the NN-LIFT fit
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(
            hidden_layer_sizes=(5,),
            activation="tanh",
            early_stopping=True,
            max_iter=200,
            random_state=seed,
        ).fit(X, y)
    rows["mlp"] = {
        "test_mse": mse(mlp.predict(Xt)),
        "evaluations": None,
        "sample_forwards": int(mlp.n_iter_) * int(0.9 * X.shape[0]),  # 10 % held out
        "epochs": int(mlp.n_iter_),
        "time_s": time.perf_counter() - t0,
    }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for seed in range(args.seeds):
        runs.append(run(seed))
        print(
            f"seed {seed}: " + "  ".join(f"{k} {v['test_mse']:.2e}" for k, v in runs[-1].items()),
            flush=True,
        )
    summary = {
        name: {
            "mean_test_mse": float(np.mean([r[name]["test_mse"] for r in runs])),
            "test_mse": [r[name]["test_mse"] for r in runs],
            "mean_evaluations": None
            if runs[0][name]["evaluations"] is None
            else float(np.mean([r[name]["evaluations"] for r in runs])),
            "mean_sample_forwards": float(np.mean([r[name]["sample_forwards"] for r in runs])),
            "mean_time_s": float(np.mean([r[name]["time_s"] for r in runs])),
        }
        for name in runs[0]
    }
    for name, row in summary.items():
        print(
            f"{name:14s} mse {row['mean_test_mse']:.2e}  evals {row['mean_evaluations']}  "
            f"sample forwards {row['mean_sample_forwards']:.3g}  {row['mean_time_s']:.1f}s"
        )
    report = {
        "benchmark": "tensor_then_eki",
        "protocol": {
            "d": 20,
            "k": 5,
            "n_train": 100_000,
            "n_test": 20_000,
            "noise": NOISE,
            "seeds": list(range(args.seeds)),
            "eki": "200 members, batch 1000, rounds x 20 iterations, DataMisfitController",
        },
        "machine": machine_info(),
        "blas_threads": 1,
        "versions": versions(),
        "summary": summary,
        "runs": runs,
    }
    (ROOT / "results" / "tensor_then_eki.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
