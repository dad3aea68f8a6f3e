"""Digits: every local learning rule against backprop, the readout-only control and part 1.

Protocol: `gradfree.datasets.load_digits` split (1347 train / 450 test), standardized;
two hidden layers of 100 units, 40 epochs of mini-batches of 64 (full-batch sweeps for
BCD and ADMM), Adam. For every method with a learning rate (backprop included) the rate
is picked from ``LEARNING_RATES`` by validation accuracy on a stratified 20 % split of the
training set (seed 0); then each method is refitted on the full training set for 5 seeds
and scored on the test set. Time per epoch is the median fit time over the seeds divided
by the epochs, BLAS pinned to one thread; the ratio is against `Backprop` in the same run.
Learning curves (test accuracy per epoch, seed 0) of the local rules go to
``benchmarks/results/local_digits.png``; for backprop, FA, DFA, DTP and synthetic gradients
the JSON also logs, per epoch, the angle between each hidden layer's update and the
backprop gradient on 256 training rows.

Run: ``python benchmarks/local_digits.py [--quick]``; writes
``benchmarks/results/local_digits.json`` (``local_digits_quick.json`` with ``--quick``).
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
    os.environ[_var] = "1"  # pinned before NumPy is imported: comparable single-core timings

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine_info, plot_curves, versions  # noqa: E402

from gradfree import local  # noqa: E402
from gradfree.altmin import ADMMClassifier, BCDClassifier, OnlineAMClassifier  # noqa: E402
from gradfree.datasets import load_digits, stratified_split  # noqa: E402

HIDDEN = (100, 100)
LEARNING_RATES = (3e-4, 1e-3, 3e-3, 1e-2)
# Rule-specific settings (hidden sizes, epochs and batch are shared): see each rule's docs.
RULES = {
    "backprop": ("BackpropClassifier", {}),
    "readout_only": ("ReadoutOnlyLocalClassifier", {}),
    "feedback_alignment": ("FAClassifier", {}),
    "direct_feedback_alignment": ("DFAClassifier", {}),
    "difference_target_propagation": ("DTPClassifier", {}),
    "hsic_bottleneck": ("HSICClassifier", {"batch_size": 128}),
    "synthetic_gradients": ("DNIClassifier", {}),
    "forward_forward": ("FFClassifier", {"batch_size": 32, "threshold": 100.0}),
    "noprop_dt": ("NoPropClassifier", {"n_blocks": 3}),
}


def makers(epochs: int) -> dict[str, tuple[object, bool]]:
    """name -> (factory(lr, seed), whether the learning rate is tuned)."""
    out: dict[str, tuple[object, bool]] = {}
    for name, (cls_name, kw) in RULES.items():
        cls = getattr(local, cls_name, None)
        if cls is None:
            continue
        out[name] = (
            lambda lr, s, cls=cls, kw=kw: cls(
                HIDDEN, learning_rate=lr, max_iter=epochs, rng=s, **kw
            ),
            True,
        )
    out["online_am_adam"] = (
        lambda lr, s: OnlineAMClassifier(
            HIDDEN, weight_update="adam", learning_rate=lr, max_iter=epochs, rng=s
        ),
        True,
    )
    out["online_am_mem"] = (
        lambda lr, s: OnlineAMClassifier(HIDDEN, max_iter=epochs, rng=s),
        False,
    )
    # The papers' algorithms (no readout refit); altmin_digits.py measures the refit.
    out["bcd"] = (
        lambda lr, s: BCDClassifier(HIDDEN, alpha=0.1, max_iter=epochs, readout_ridge=None, rng=s),
        False,
    )
    out["admm"] = (
        lambda lr, s: ADMMClassifier(
            HIDDEN, beta=1.0, gamma=10.0, max_iter=epochs, readout_ridge=None, rng=s
        ),
        False,
    )
    from sklearn.neural_network import MLPClassifier

    out["sklearn_mlp_adam"] = (
        lambda lr, s: MLPClassifier(
            HIDDEN,
            activation="tanh",
            batch_size=64,
            learning_rate_init=lr,
            max_iter=epochs,
            alpha=0.0,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            random_state=s,
        ),
        True,
    )
    return out


def curve(clf: object, X, y, Xt, yt, epochs: int) -> tuple[list[float], list[list[float]]]:
    """Test accuracy after each epoch of a local rule (seed 0), and for rules whose update
    estimates the gradient, the angle to backprop's per hidden layer on 256 training rows
    (epoch 0 included)."""
    solver = clf._solver()
    Xe, Y = clf._encode(X, y)
    state = solver.init(Xe, Y, rng=np.random.default_rng(clf.rng))
    accs, angles = [], []
    for epoch in range(epochs + 1):
        if solver.aligns:
            angles.append(local.alignment_angles(solver, state, Xe[:256], Y[:256]))
        if epoch == epochs:
            break
        state = solver.step(state, Xe, Y)
        accs.append(float(np.mean(np.argmax(solver.decision_function(state, Xt), 1) == yt)))
    return accs, angles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 10 epochs, lr 1e-3")
    args = parser.parse_args()
    seeds = range(2) if args.quick else range(5)
    epochs = 10 if args.quick else 40
    grid = (1e-3,) if args.quick else LEARNING_RATES
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    X, Xt = (data.X_train - mu) / sd, (data.X_test - mu) / sd
    y, yt = data.y_train, data.y_test
    tr, va = stratified_split(y, 0.2, rng=0)
    rows, curves, angles = {}, {}, {}
    for name, (make, tuned) in makers(epochs).items():
        val = {}
        if tuned:
            for lr in grid:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # sklearn's ConvergenceWarning at max_iter
                    val[lr] = float(make(lr, 0).fit(X[tr], y[tr]).score(X[va], y[va]))
        lr = max(val, key=val.get) if tuned else None
        accs, times = [], []
        for s in seeds:
            clf = make(lr, s)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, y)
            times.append(time.perf_counter() - t0)
            accs.append(float(clf.score(Xt, yt)))
        if name in RULES:
            curves[name], angle = curve(make(lr, 0), X, y, Xt, yt, epochs)
            if angle:
                angles[name] = angle
        rows[name] = {
            "test_accuracy": accs,
            "mean_accuracy": float(np.mean(accs)),
            "std_accuracy": float(np.std(accs)),
            "learning_rate": lr,
            "validation_accuracy": {str(k): v for k, v in val.items()},
            "time_per_epoch_s": float(np.median(times)) / epochs,
        }
        print(
            f"{name:30s} lr {lr!s:7s} acc {np.mean(accs):.4f} +- {np.std(accs):.4f}  "
            f"{1e3 * rows[name]['time_per_epoch_s']:.2f} ms/epoch",
            flush=True,
        )
    base = rows["backprop"]
    for row in rows.values():
        row["accuracy_minus_backprop"] = row["mean_accuracy"] - base["mean_accuracy"]
        row["epoch_time_ratio_to_backprop"] = row["time_per_epoch_s"] / base["time_per_epoch_s"]
    report = {
        "benchmark": "local_digits",
        "protocol": {
            "data": "sklearn digits, gradfree.datasets.load_digits split, standardized",
            "hidden_layer_sizes": list(HIDDEN),
            "epochs": epochs,
            "batch_size": 64,
            "seeds": list(seeds),
            "learning_rate_grid": list(grid),
            "tuning": "validation accuracy on a stratified 20% split of the training set, seed 0",
            "rule_settings": {k: v[1] for k, v in RULES.items()},
            "part1": "BCD (alpha 0.1), ADMM (beta 1, gamma 10), online AM-mem: no learning rate",
        },
        "machine": machine_info(),
        "blas_threads": 1,
        "versions": versions(),
        "results": rows,
        "learning_curves_seed0": curves,
        "alignment_angles_seed0_degrees": angles,
    }
    results = Path(__file__).resolve().parent / "results"
    out = results / ("local_digits_quick.json" if args.quick else "local_digits.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    plot_curves(
        out.with_suffix(".png"),
        curves,
        ylabel="test accuracy (seed 0)",
        ylim=(0.8, 1.0),
        title="Digits, 64-100-100-10: local rules against backprop",
    )


if __name__ == "__main__":
    main()
