"""Time per EKI update against the number of parameters p and of observations m (J = 100).

gradfree's ``EKI`` strategy (perturbed observations, constant step ``dt = 0.5``) is timed
on one ``tell`` (the Kalman update; the ``ask`` before it only hands out the ensemble):
the forward model is excluded: the residuals of the cheap linear forward map
``G(u) = u[:m]`` (``m <= p``) are computed once, outside the timer. Float64, NumPy,
``OPENBLAS_NUM_THREADS=1``.

- p sweep: p = 1e3, 1e4, 1e5, 1e6 at m = 100;
- m sweep: m = 1e2, 1e3, 1e4 at p = 1e4.

The theory (ensemble-space algebra, `gradfree.kalman._eki`) is ``O(J^2 (p + m) + J^3)``:
linear in p and in m. The log-log slope of time against p (at m = 100) should be about
1. Against m at p = 1e4 the ``p`` term dominates until ``m`` approaches ``p``, so the raw
slope against m is expected well below 1; the script also reports the slope of the
m-dependent part ``t(m) - t0`` (``t0`` extrapolated from a straight-line fit
``t = t0 + c m``), which is the one that must be about 1 (no ``m^2`` or ``m^3`` term).
Likewise the slope over all p is pulled below 1 by the ``J^3`` and ``J^2 m`` terms at
p = 1e3, so the slope over p >= 1e4 is reported too.

**Peer**: ``kalman-inversion-lib``'s ``EnsembleKalmanInversion`` update, the body of its
``inversion_step`` for one step: ``update_sigmas`` + ``predict_step`` +
``analysis_step`` (its forward evaluation replaced by the same vectorized slice, so the
forward model is excluded there too; setup excluded). Its update draws the prediction
noise from a ``p x p`` covariance with ``Generator.multivariate_normal`` (an SVD:
``O(p^3)`` time, several ``p x p`` arrays), forms ``np.cov`` of the ensemble (``p x p``),
the ``m x m`` observation covariance and an ``m x m`` solve, and draws the observation
noise from ``N(0, Gamma/dt)`` (``m x m`` SVD). It is run where ``p <= 2000`` and
``m <= 2000`` (each at most a few seconds on this machine); the other sizes are skipped
with the reason recorded (p = 1e4 alone needs an SVD of a 1e4 x 1e4 matrix per update,
minutes, and 0.8 GB per p x p array). To have more than one comparison point, the
peer is also run at the off-grid sizes (p, m) = (2000, 100) and (1000, 1000), with
gradfree timed there too.

Timing: ``repeat`` runs per size (fewer for the largest), the minimum and the median
are recorded; the minimum is reported (the machine is shared). Memory: at p = 1e6 the
ensemble is 0.8 GB; ``tell`` allocates a few arrays of that size (centred ensemble,
update, result), about 3-4 GB at peak.

Run: ``python benchmarks/eki_scaling.py`` (about 1.5 minutes on 2 cores, writes
``benchmarks/results/eki_scaling.json``) or ``--quick`` (smaller sizes,
``eki_scaling_quick.json``, gitignored); ``--no-peer`` skips kalman-inversion-lib.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree.kalman import EKI  # noqa: E402

J, DT = 100, 0.5
PEER_MAX_P, PEER_MAX_M = 2000, 2000
PEER_EXTRA = [(2000, 100), (1000, 1000)]  # off-grid (p, m) where the peer also runs


def repeats_for(p: int, m: int, quick: bool) -> int:
    work = J * (p + m)
    if work >= 5e7:
        return 3
    if work >= 5e6:
        return 5 if quick else 10
    return 10 if quick else 30


def timings(fn, repeat: int) -> tuple[float, float]:
    """(min, median) wall time of `repeat` calls of `fn`, after one untimed warm-up call."""
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return float(np.min(out)), float(np.median(out))


def time_gradfree(p: int, m: int, repeat: int) -> tuple[float, float]:
    rng = np.random.default_rng([p, m])
    eki = EKI(n_ensemble=J, scheduler=DT, collapse_tol=None)
    state = eki.init(np.zeros(p), rng=rng)  # draws the (J, p) ensemble
    X, state = eki.ask(state, rng=rng)
    y = rng.standard_normal(m)
    R = X[:, :m] - y  # the linear forward map u -> u[:m], outside the timer
    return timings(lambda: eki.tell(state, X, R), repeat)


def peer_skip_reason(p: int, m: int) -> str | None:
    if p <= PEER_MAX_P and m <= PEER_MAX_M:
        return None
    why = []
    if p > PEER_MAX_P:
        why.append(
            f"p = {p:.0e}: multivariate_normal SVD of the p x p prediction covariance "
            f"(O(p^3) per update) and p x p arrays of {8 * p * p / 1e9:.1f} GB each"
        )
    if m > PEER_MAX_M:
        why.append(
            f"m = {m:.0e}: m x m observation covariance, its solve and the SVD of "
            "Gamma/dt in multivariate_normal (O(m^3) per update)"
        )
    return "; ".join(why) + f" (cap: p, m <= {PEER_MAX_P})"


def time_peer(p: int, m: int, repeat: int) -> tuple[float, float]:
    import kalman_inversion_lib.kalman_base_classes as kb
    from kalman_inversion_lib.kalman_inversion_optimizers import EnsembleKalmanInversion
    from kalman_inversion_lib.timestep_schedulers import FixedTimeStepScheduler

    kb.tqdm = lambda it: it  # tqdm.notebook fails outside Jupyter
    rng = np.random.default_rng([p, m])
    U = rng.standard_normal((J, p))
    y = rng.standard_normal(m)
    data = kb.KalmanInversionDataContainer(y, np.eye(m), np.zeros(p), np.eye(p))

    def setup():
        ki = EnsembleKalmanInversion(data, U.copy(), FixedTimeStepScheduler, seed=0)
        ki.time_step, ki.init_step, ki.alpha_regularizer = DT, DT, 1.0
        ki.create_observation_space()
        ki.M = m
        ki.y_forward = np.zeros((J, m))
        # the forward model excluded: the same slice, vectorized, no joblib
        ki.compute_forward_model = lambda y_forward, ensemble: ensemble[:, :m].copy()
        ki.posterior_covariance = np.cov(U.T)
        return ki

    out = []
    for k in range(repeat + 1):  # the first, untimed, is a warm-up
        ki = setup()
        t0 = time.perf_counter()
        ki.update_sigmas()
        ki.predict_step()
        ki.analysis_step()
        if k:
            out.append(time.perf_counter() - t0)
        del ki
    gc.collect()
    return float(np.min(out)), float(np.median(out))


def slope(x, t) -> float:
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(t, float)), 1)[0])


def measure(p: int, m: int, quick: bool, peer: bool) -> dict:
    rep = repeats_for(p, m, quick)
    g_min, g_med = time_gradfree(p, m, rep)
    gc.collect()  # the (J, p) arrays of the last size
    row = {"p": p, "m": m, "J": J, "repeat": rep, "gradfree_s": g_min, "gradfree_median_s": g_med}
    reason = peer_skip_reason(p, m) if peer else "kalman-inversion-lib not run"
    if reason is None:
        prep = max(2, min(rep, 3))
        p_min, p_med = time_peer(p, m, prep)
        row.update(peer_s=p_min, peer_median_s=p_med, peer_repeat=prep, ratio=p_min / g_min)
    else:
        row.update(peer_s=None, ratio=None, peer_skipped=reason)
    print(f"  p={p:.0e} m={m:.0e}: {row}", file=sys.stderr, flush=True)
    return row


def fmt_ms(s: float | None) -> str:
    return "—" if s is None else (f"{1e3 * s:.3g}" if s < 1 else f"{1e3 * s:,.0f}")


def markdown(res: dict) -> str:
    lines = [
        f"EKI update, J = {J}, float64, 1 thread (min of repeats; forward model excluded)",
        "",
        "| sweep | p | m | gradfree (ms) | kalman-inversion-lib (ms) | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for name, rows in (("p", res["p_sweep"]), ("m", res["m_sweep"]), ("extra", res["extra"])):
        for r in rows:
            ratio = "skipped" if r["ratio"] is None else f"{r['ratio']:.0f}×"
            lines.append(
                f"| {name} | {r['p']:.0e} | {r['m']:.0e} | {fmt_ms(r['gradfree_s'])} "
                f"| {fmt_ms(r['peer_s'])} | {ratio} |"
            )
    s = res["slopes"]
    lines += [
        "",
        "| fit | log-log slope |",
        "|---|---|",
        f"| time vs p (m = 100, all p) | {s['p_all']:.2f} |",
        f"| time vs p (m = 100, p ≥ 1e4) | {s['p_large']:.2f} |",
        f"| time vs m (p = 1e4, raw) | {s['m_raw']:.2f} |",
        f"| m-dependent part t − t0 vs m | {s['m_increment']:.2f} |",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, *_quick.json")
    ap.add_argument("--no-peer", action="store_true", help="skip kalman-inversion-lib")
    args = ap.parse_args()
    peer, peer_version = not args.no_peer, None
    if peer:
        try:
            peer_version = version("kalman-inversion-lib")
        except Exception:
            print("kalman-inversion-lib not installed: gradfree only", file=sys.stderr)
            peer = False
    if args.quick:
        p_sizes, m_sizes, p_fixed = [1000, 10000, 100000], [100, 1000, 3000], 10000
    else:
        p_sizes, m_sizes, p_fixed = [1000, 10000, 100000, 1000000], [100, 1000, 10000], 10000
    t0 = time.perf_counter()
    p_sweep = [measure(p, 100, args.quick, peer) for p in p_sizes]
    m_sweep = [measure(p_fixed, m, args.quick, peer) for m in m_sizes]
    extra = [measure(p, m, args.quick, peer) for p, m in PEER_EXTRA] if peer else []

    tp = [r["gradfree_s"] for r in p_sweep]
    tm = [r["gradfree_s"] for r in m_sweep]
    ms = np.asarray(m_sizes, float)
    c, t_0 = np.polyfit(ms, tm, 1)  # t = t0 + c m
    inc = np.asarray(tm) - t_0
    keep = inc > 0
    slopes = {
        "p_all": slope(p_sizes, tp),
        "p_large": slope(p_sizes[1:], tp[1:]),
        "m_raw": slope(m_sizes, tm),
        "m_increment": slope(ms[keep], inc[keep]) if keep.sum() >= 2 else math.nan,
        "m_linear_fit": {"t0_s": float(t_0), "per_observation_s": float(c)},
    }
    ratios = [r["ratio"] for r in p_sweep + m_sweep + extra if r["ratio"] is not None]
    res = {
        "benchmark": "eki_scaling",
        "quick": args.quick,
        "machine": {
            **machine_info(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        "versions": {
            "gradfree": gradfree.__version__,
            "numpy": np.__version__,
            "kalman-inversion-lib": peer_version,
        },
        "settings": {
            "J": J,
            "dt": DT,
            "dtype": "float64",
            "forward_map": "G(u) = u[:m] (linear, m <= p), evaluated outside the timer",
            "gradfree_update": "EKI(n_ensemble=J, scheduler=dt, collapse_tol=None).tell "
            "(perturbed observations)",
            "peer_update": "EnsembleKalmanInversion: update_sigmas + predict_step + "
            "analysis_step (forward model replaced by the vectorized slice)",
            "peer_cap": {"p_max": PEER_MAX_P, "m_max": PEER_MAX_M},
            "timing": "min (reported) and median over `repeat` calls",
        },
        "p_sweep": p_sweep,
        "m_sweep": m_sweep,
        "extra": extra,
        "slopes": slopes,
        "speedup_min": min(ratios) if ratios else None,
        "speedup_max": max(ratios) if ratios else None,
        "target_speedup": 10,
        "total_s": time.perf_counter() - t0,
    }
    name = "eki_scaling_quick.json" if args.quick else "eki_scaling.json"
    out = Path(__file__).parent / "results" / name
    out.write_text(json.dumps(res, indent=1) + "\n")
    print(markdown(res))
    print(f"\nwrote {out} in {res['total_s']:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
