"""Method-of-moments error against sample size: GMM, LDA, spectral HMM (issue 5, benchmark 3).

Planted models, ``n`` log-spaced, 3 seeds each; the fitted slope of ``log(error)``
against ``log(n)`` should be close to ``-1/2`` (moment estimates converge at
``n^{-1/2}`` and the decompositions are Lipschitz in them; AGHKT 2014, Thm. 5.1;
HKZ 2012, Thm. 6):

- ``gmm``: `gradfree.tensor.SphericalGMM`, ``d = 10``, ``k = 3`` means with norm 4,
  ``sigma = 1``, weights (0.2, 0.3, 0.5); error = `recovery_error` max column error of the
  means;
- ``lda``: `gradfree.tensor._topics.LDA`, vocab 30, ``k = 3`` topics ~ Dirichlet(0.3),
  ``alpha = (0.2, 0.3, 0.5)``, documents of 30 words; error = `recovery_error` of topics;
- ``hmm``: `gradfree.tensor._hmm.SpectralHMM`, 3 states, 6 symbols, sequences of length 3;
  error = ``sum |P_hat(s) - P(s)|`` over all 216 sequences of length 3 (unclipped
  estimates against the forward algorithm).

Usage::

    python benchmarks/latent_moments.py          # -> results/latent_moments.json (+ .png)
    python benchmarks/latent_moments.py --quick  # -> results/latent_moments_quick.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree.tensor import SphericalGMM, recovery_error  # noqa: E402
from gradfree.tensor._hmm import SpectralHMM, _forward_probability, _sample_hmm  # noqa: E402
from gradfree.tensor._topics import LDA  # noqa: E402

WEIGHTS = np.asarray([0.2, 0.3, 0.5])


def gmm_error(n: int, seed: int) -> float:
    g = np.random.default_rng(1000 + seed)
    means = 4.0 * np.linalg.qr(np.random.default_rng(0).standard_normal((10, 3)))[0]  # (d, k)
    labels = g.choice(3, size=n, p=WEIGHTS)
    X = means.T[labels] + g.standard_normal((n, 10))
    return recovery_error(means, SphericalGMM(3, rng=seed).fit(X).means_.T).max


def lda_error(n: int, seed: int) -> float:
    g = np.random.default_rng(2000 + seed)
    mu = np.random.default_rng(0).dirichlet(0.3 * np.ones(30), size=3).T
    X = g.multinomial(30, g.dirichlet(WEIGHTS, size=n) @ mu.T)
    return recovery_error(mu, LDA(3, alpha0=1.0, rng=seed).fit(X).topics_).max


def planted_hmm() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.random.default_rng(1)
    T = 0.6 * np.eye(3) + 0.4 * g.dirichlet(np.ones(3), size=3).T
    E = g.dirichlet(np.ones(6), size=3).T
    return np.asarray([0.5, 0.3, 0.2]), T, E


SEQS = list(itertools.product(range(6), repeat=3))


def hmm_error(n: int, seed: int) -> float:
    pi, T, E = planted_hmm()
    exact = np.asarray([_forward_probability(pi, T, E, s) for s in SEQS])
    hmm = SpectralHMM(3, n_symbols=6).fit(_sample_hmm(pi, T, E, n, 3, rng=3000 + seed))
    return float(np.abs(hmm._raw_probabilities(SEQS) - exact).sum())


MODELS = {"gmm": gmm_error, "lda": lda_error, "hmm": hmm_error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small n grid, 2 seeds")
    args = parser.parse_args()
    sizes = (
        [1000, 3000, 10000] if args.quick else [1000, 3000, 10000, 30000, 100000, 300000, 1000000]
    )
    seeds = [0, 1] if args.quick else [0, 1, 2]
    rows, summary = [], {}
    for name, fun in MODELS.items():
        for n in sizes:
            for seed in seeds:
                t0 = time.perf_counter()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    err = fun(n, seed)
                row = {
                    "model": name,
                    "n": n,
                    "seed": seed,
                    "error": err,
                    "seconds": time.perf_counter() - t0,
                    "warnings": sorted({str(w.message)[:120] for w in caught}),
                }
                rows.append(row)
                print(f"{name:>4} n={n:>7} seed={seed} err={err:.4f} {row['seconds']:.2f}s")
        means = [
            float(np.mean([r["error"] for r in rows if r["model"] == name and r["n"] == n]))
            for n in sizes
        ]
        slope, intercept = np.polyfit(np.log(sizes), np.log(means), 1)
        summary[name] = {
            "mean_error": dict(zip(map(str, sizes), means)),
            "slope": float(slope),
            "intercept": float(intercept),
        }
        print(f"{name}: slope {slope:.3f}")
    out = {
        "benchmark": "latent_moments",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": {
            "gradfree": gradfree.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "sizes": sizes,
        "seeds": seeds,
        "summary": summary,
        "rows": rows,
    }
    stem = "latent_moments_quick" if args.quick else "latent_moments"
    results = Path(__file__).parent / "results"
    path = results / f"{stem}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, s in summary.items():
        errs = list(s["mean_error"].values())
        ax.loglog(sizes, errs, "o-", label=f"{name} (slope {s['slope']:.2f})")
    ref = np.asarray(sizes, dtype=float)
    ax.loglog(ref, 0.5 * errs[0] * (ref / ref[0]) ** -0.5, "k--", lw=1, label="n^-1/2")
    ax.set_xlabel("n (samples / documents / sequences)")
    ax.set_ylabel("error")
    ax.set_title("Method-of-moments error vs n")
    ax.legend()
    fig.tight_layout()
    fig.savefig(results / f"{stem}.png", dpi=120)
    print(f"wrote {results / f'{stem}.png'}")


if __name__ == "__main__":
    main()
