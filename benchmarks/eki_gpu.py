"""Milliseconds per EKI update on a GPU at J = 100, p = 10**6, m = 10**4 (target: <= 5 ms).

gradfree's ``EKI`` (perturbed observations, constant step ``dt = 0.5``, no collapse
check) on CuPy arrays: the ensemble ``(J, p)`` lives on the device, ``ask`` draws the
perturbed observations ``(J, m)`` there (draws of ``>= 2**20`` numbers are made on the
device) and ``tell`` applies the Kalman update in ensemble space,
``O(J^2 (p + m) + J^3)``. The forward map ``G(u) = u[:m]`` is evaluated once, outside
the timer, as in ``eki_scaling.py`` (the NumPy sweep). Two loops, each synchronized with
``cupy.cuda.Device().synchronize()`` after every call, after untimed warm-up calls:

- *update*: ``tell`` alone (the Kalman update; the number the target is about);
- *ask + update*: ``ask`` then ``tell`` (the update plus the draw of the perturbations).

Memory: the ensemble is ``J p b`` bytes (0.8 GB in float64); the update holds a few
arrays of that size. Without a usable GPU the script prints one line and exits 0 (no
results), unless ``--cpu`` asks for the same measurement with NumPy (at ``--quick``
sizes that is a check of the script, not a result to report).

Run: ``python benchmarks/eki_gpu.py`` (-> ``results/eki_gpu.json``), ``--quick``
(p = 10**5, m = 10**3, -> ``eki_gpu_quick.json``), ``--dtype float32``, ``--cpu``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info  # noqa: E402

import gradfree  # noqa: E402
from gradfree._array import gpu_available, to_host  # noqa: E402
from gradfree.kalman import EKI  # noqa: E402

J, DT, TARGET_MS = 100, 0.5, 5.0
FULL = {"p": 1_000_000, "m": 10_000, "repeats": 30, "warmup": 3}
QUICK = {"p": 100_000, "m": 1_000, "repeats": 5, "warmup": 1}
RESULTS = Path(__file__).resolve().parent / "results"


def timings(fn: Any, repeats: int, warmup: int, sync: Any) -> dict[str, float]:
    """Min and median milliseconds of `repeats` synchronized calls of `fn`."""
    for _ in range(warmup):
        fn()
    sync()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        out.append(1e3 * (time.perf_counter() - start))
    return {"min_ms": float(np.min(out)), "median_ms": float(np.median(out))}


def measure(xp: Any, p: int, m: int, dtype: str, repeats: int, warmup: int, sync: Any) -> dict:
    """Time `EKI.tell` and `ask` + `tell` on arrays of namespace `xp`."""
    rng = np.random.default_rng(0)
    eki = EKI(n_ensemble=J, scheduler=DT, collapse_tol=None)
    state = eki.init(xp.zeros(p, dtype=getattr(xp, dtype)), rng=rng)
    X, asked = eki.ask(state, rng=rng)
    y = xp.asarray(rng.standard_normal(m), dtype=X.dtype)
    R = X[:, :m] - y  # the forward map u -> u[:m] and the residual, outside the timer
    update = timings(lambda: eki.tell(asked, X, R), repeats, warmup, sync)

    def ask_and_update() -> None:
        Xa, s = eki.ask(state, rng=rng)
        eki.tell(s, Xa, R)

    both = timings(ask_and_update, repeats, warmup, sync)
    new = eki.tell(asked, X, R)
    finite = bool(np.isfinite(to_host(new.ensemble[:2, :])).all())
    return {
        "p": p,
        "m": m,
        "J": J,
        "dtype": dtype,
        "ensemble_bytes": J * p * np.dtype(dtype).itemsize,
        "update": update,
        "ask_and_update": both,
        "finite": finite,
        "meets_target": update["min_ms"] <= TARGET_MS,
    }


def versions(xp_name: str) -> dict[str, str]:
    out = {"gradfree": gradfree.__version__, "numpy": np.__version__}
    for dist in ("cupy-cuda12x", "cupy-cuda13x", "cupy"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    out["namespace"] = xp_name
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="p = 10**5, m = 10**3")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--cpu", action="store_true", help="NumPy instead of CuPy (a check)")
    parser.add_argument("--out", type=Path, help="default: results/eki_gpu[_quick].json")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.cpu:
        xp, sync, gpu = np, lambda: None, None
    elif not gpu_available():
        print("eki_gpu: skipped: no usable GPU (CuPy missing or cannot allocate); no results.")
        return 0
    else:
        import cupy

        xp, sync = cupy, cupy.cuda.Device().synchronize
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        gpu = name.decode() if isinstance(name, bytes) else str(name)
    start = time.perf_counter()
    row = measure(xp, plan["p"], plan["m"], args.dtype, plan["repeats"], plan["warmup"], sync)
    report = {
        "benchmark": "eki_gpu",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {**machine_info(), "gpu": gpu},
        "versions": versions(xp.__name__),
        "settings": {
            "update": "EKI(n_ensemble=J, scheduler=dt, collapse_tol=None).tell "
            "(perturbed observations)",
            "dt": DT,
            "forward_map": "G(u) = u[:m], evaluated outside the timer",
            "statistic": "min (and median) ms over `repeats` synchronized calls after "
            "`warmup` untimed ones",
            "repeats": plan["repeats"],
            "warmup": plan["warmup"],
            "target_ms": TARGET_MS,
        },
        "result": row,
        "wall_s": time.perf_counter() - start,
    }
    out = args.out or RESULTS / f"eki_gpu{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    u, b = row["update"], row["ask_and_update"]
    print(
        f"EKI J={J} p={row['p']} m={row['m']} {args.dtype} on {gpu or 'CPU (NumPy)'}: "
        f"update {u['min_ms']:.2f} ms (median {u['median_ms']:.2f}), ask + update "
        f"{b['min_ms']:.2f} ms; target <= {TARGET_MS} ms: "
        f"{'met' if row['meets_target'] else 'not met'}\nwrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
