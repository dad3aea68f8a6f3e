"""Digits: every classifier with its defaults against scikit-learn's MLPClassifier.

Protocol: `gradfree.datasets.load_digits` split (1347 train / 450 test), standardized.
Each classifier gets only the hidden sizes (100, 100) and the epochs (40; sweeps for the
full-batch trainers) and a seed; everything else is its default. The reference is
``MLPClassifier((100, 100), max_iter=40)`` with its own defaults. 5 seeds; the table
reports the mean test accuracy and its difference to the reference.

``--tune`` instead scores candidate settings of the trainers named in ``GRIDS`` on a
stratified 20 % validation split of the training set (seed 0; 2 seeds each), never on
the test split: the defaults are the best settings found there.

Run: ``python benchmarks/defaults_digits.py [--tune] [--seeds N]``; writes
``benchmarks/results/defaults_digits.json`` (``defaults_digits_tuning.json`` with
``--tune``).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine_info, versions  # noqa: E402

from gradfree import altmin, local  # noqa: E402
from gradfree.datasets import load_digits, stratified_split  # noqa: E402

HIDDEN = (100, 100)
EPOCHS = 40
CLASSIFIERS = {
    "BackpropClassifier": local,
    "FAClassifier": local,
    "DFAClassifier": local,
    "DTPClassifier": local,
    "HSICClassifier": local,
    "DNIClassifier": local,
    "FFClassifier": local,
    "NoPropClassifier": local,
    "ReadoutOnlyLocalClassifier": local,
    "BCDClassifier": altmin,
    "ADMMClassifier": altmin,
    "OnlineAMClassifier": altmin,
    "ReadoutOnlyClassifier": altmin,
}
CONTROLS = ("ReadoutOnlyLocalClassifier", "ReadoutOnlyClassifier")
"""Random frozen hidden layers: the baseline a feature learner must beat, not a trainer."""

GRIDS: dict[str, list[dict]] = {
    "BCDClassifier": [
        {"alpha": a, "gamma": g, "rho": g, "readout_ridge": r}
        for a in (5.0, 1.0, 0.1, 0.01)
        for g in (10.0, 1.0, 0.1)
        for r in (1.0, 0.1)
    ],
    "ADMMClassifier": [
        {"beta": b, "gamma": g, "readout_ridge": r}
        for b, g in ((1.0, 10.0), (0.1, 0.1), (1.0, 1.0), (10.0, 10.0), (1.0, 0.1), (0.01, 0.01))
        for r in (1.0, 10.0)
    ],
    "OnlineAMClassifier": [
        {"weight_update": w, "mu": m} for w in ("mem", "adam") for m in (0.1, 1.0)
    ],
    "FFClassifier": [
        {"learning_rate": lr, "batch_size": b, "threshold": t}
        for lr in (0.01, 0.003)
        for b in (64, 32)
        for t in (100.0, 10.0)
    ],
}


def make(name: str, seed: int, **kw: object) -> object:
    """The classifier `name` with the shared shape and epochs, a seed and `kw`."""
    if name == "MLPClassifier":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(HIDDEN, max_iter=EPOCHS, random_state=seed, **kw)
    cls = getattr(CLASSIFIERS[name], name)
    if "max_iter" in cls().get_params():
        kw = {"max_iter": EPOCHS, **kw}  # ReadoutOnlyClassifier is closed form: no epochs
    return cls(HIDDEN, rng=seed, **kw)


def score(name: str, seed: int, X, y, Xt, yt, **kw: object) -> tuple[float, float]:
    """Accuracy on ``(Xt, yt)`` after fitting on ``(X, y)``, and the fit time."""
    clf = make(name, seed, **kw)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLPClassifier's ConvergenceWarning at max_iter
        clf.fit(X, y)
    return float(clf.score(Xt, yt)), time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tune", action="store_true", help="validation split, GRIDS")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="classifier names (default: all)")
    args = parser.parse_args()
    data = load_digits()
    mu, sd = data.X_train.mean(0), data.X_train.std(0) + 1e-8
    X, Xt = (data.X_train - mu) / sd, (data.X_test - mu) / sd
    y, yt = data.y_train, data.y_test
    names = ["MLPClassifier", *CLASSIFIERS]
    if args.only:
        names = [n for n in names if n in args.only or n == "MLPClassifier"]
    rows: dict[str, dict] = {}
    if args.tune:
        tr, va = stratified_split(y, 0.2, rng=0)
        seeds = range(2)
        for name in names:
            for kw in [{}] if name not in GRIDS else GRIDS[name]:
                accs = [score(name, s, X[tr], y[tr], X[va], y[va], **kw)[0] for s in seeds]
                key = name + " " + json.dumps(kw, sort_keys=True)
                rows[key] = {"validation_accuracy": accs, "mean": float(np.mean(accs))}
                print(f"{key:75s} {np.mean(accs):.4f}", flush=True)
    else:
        seeds = range(args.seeds)
        for name in names:
            runs = [score(name, s, X, y, Xt, yt) for s in seeds]
            accs = [a for a, _ in runs]
            rows[name] = {
                "test_accuracy": accs,
                "mean_accuracy": float(np.mean(accs)),
                "std_accuracy": float(np.std(accs)),
                "fit_time_s": float(np.median([t for _, t in runs])),
                "control": name in CONTROLS,
            }
            print(f"{name:28s} {np.mean(accs):.4f} +- {np.std(accs):.4f}", flush=True)
        base = rows["MLPClassifier"]["mean_accuracy"]
        for row in rows.values():
            row["points_minus_mlp"] = 100.0 * (row["mean_accuracy"] - base)
    report = {
        "benchmark": "defaults_digits" + ("_tuning" if args.tune else ""),
        "protocol": {
            "data": "sklearn digits, gradfree.datasets.load_digits split, standardized",
            "hidden_layer_sizes": list(HIDDEN),
            "epochs": EPOCHS,
            "seeds": list(seeds),
            "given": "hidden sizes, epochs (max_iter) and seed only; all else default",
            "reference": "sklearn MLPClassifier(hidden_layer_sizes, max_iter) defaults",
            "split": "stratified 20% validation split of train, seed 0"
            if args.tune
            else "test split",
        },
        "machine": machine_info(),
        "blas_threads": 1,
        "versions": versions(),
        "results": rows,
    }
    out = Path(__file__).resolve().parent / "results"
    stem = "defaults_digits_tuning" if args.tune else "defaults_digits"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
