"""Generations per second and memory-bandwidth use of OpenAI-ES and sep-CMA-ES on a GPU.

`gradfree.es.OpenES` (``openai-es``) and `gradfree.es.SepCMAES` (``sep-cma-es``) run
on CuPy with population ``n = 4096`` and dimension ``d = 10**6`` on the shifted sphere
``f(x) = sum((x_i - 1)**2)`` from ``x0 = zeros(d)``, evaluated on the device for the
whole population in one call (``fun(X) -> (n,)``, ``workers="vectorized"``; a CuPy
``ReductionKernel`` that reads ``X`` once and allocates nothing of size ``n d``).

dtype: float32 by default. One population matrix is ``n d b`` bytes (b bytes per value):
16.4 GB in float32 at the default sizes, and the strategies hold several at once:
OpenAI-ES 3.5 matrices in ``ask`` (the half draw, the mirrored noise, ``sigma * noise``, ``X``),
sep-CMA-ES 3 (``z``, the scaled draw, ``X``; in ``tell`` ``X``, ``z``, ``z**2``). The
driver keeps the previous population until ``tell``, one more: at most 4.5 matrices,
74 GB, which fits an 80 GB H100. ``--dtype float64`` doubles that and does not fit at
these sizes; every method is checked against the free device memory first and recorded
as skipped when it would not fit (lower ``--dim`` for float64), and a loop that runs
out of memory all the same is recorded as skipped.

Loops timed (a generation = ask, evaluate, tell), all after untimed warm-up generations
(kernel compilation, memory-pool growth; evosax compiles twice), timed with
``cupy.cuda.Device().synchronize()``:

- *strategy*: the bare ``init / ask / fun(X) / tell`` loop of the strategy;
- *phases*: the same loop synchronized after each phase, giving the time of sampling
  (``ask``), the objective, and the update (``tell``) separately;
- *driver*: ``gradfree.iterate(strategy, fun, x0, workers="vectorized", maxiter=G)``
  (setup included), which adds counting, the best point and the stop rules;
- *evosax*: evosax's ``Open_ES`` / ``Sep_CMA_ES`` (JAX) on the same problem, sizes and
  dtype, in the same process after the CuPy runs (its memory pool freed), timed with
  ``jax.block_until_ready``. Optional: when jax or evosax is missing, jax sees no GPU,
  or the installed evosax API does not match, the JSON records ``skipped: reason``.

Generations per second = generations / fastest repeat.

Byte model (ideal traffic of one generation, ``n d b`` bytes per matrix):

- sampling writes the population once: ``n d b``;
- the objective reads it once: ``n d b``;
- the update reads the draws (or the population) once: ``n d b``;

so ``3 n d b`` bytes per generation (49.2 GB at the default sizes); vectors of length
``d`` (mean, Adam moments, the diagonal covariance and paths) are negligible and not
counted. ``bandwidth_fraction = 3 n d b * generations_per_s / peak``, and per phase
``n d b / phase_time / peak``. It is the fraction of peak a fully fused generation would
need to run this fast: the implementations move more bytes than this (temporaries such
as the mirrored copy and ``sigma * noise``; random-number generation costs compute), so
a fraction well below 1 shows how much a fused implementation could gain, not that a
kernel runs below the bandwidth it reaches. Peak bandwidth is
``2 * memoryClockRate[kHz] * 1e3 * memoryBusWidth[bits] / 8`` bytes/s from
``cupy.cuda.runtime.getDeviceProperties(0)`` (falling back to the device attributes;
``--peak-gbs`` overrides it); the JSON records the values used.

On a machine without a usable GPU (``gradfree._array.gpu_available()`` is False;
``import cupy`` alone proves nothing) the script prints one line saying it skipped and
exits 0 without writing results. Usage::

    python benchmarks/es_gpu.py          # full run -> results/es_gpu.json
    python benchmarks/es_gpu.py --quick  # d = 10**5, few generations -> es_gpu_quick.json

The GPU machine has no internet: carry evosax over as a wheel. On a machine with
internet, ``pip download --no-deps evosax`` (plus any of its dependencies the GPU
machine lacks, e.g. optax, flax, chex, the same way), copy the wheels over, then
``pip install --no-deps evosax-*.whl`` there; jax with CUDA support must be installed
already. Without it the evosax rows are recorded as skipped.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import os
import platform
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# JAX (for evosax) runs in the same process after CuPy: never let it grab 75% of the GPU.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import numpy as np  # noqa: E402

import gradfree  # noqa: E402
from gradfree import iterate  # noqa: E402
from gradfree._array import gpu_available  # noqa: E402
from gradfree.es import OpenES, SepCMAES  # noqa: E402

SEED = 0
SHIFT = 1.0  # optimum of the shifted sphere: x_i = SHIFT
OPENES_SIGMA = 0.1
OPENES_LR = 0.01  # Adam, for gradfree and evosax alike
SEPCMA_SIGMA0 = 0.5
METHOD_NAMES = ("openai-es", "sep-cma-es")
# Peak number of (n, d) matrices alive during a generation (see the module docstring),
# plus one for the previous population that the driver (and the caller) still holds.
PEAK_MATRICES = {"openai-es": 3.5, "sep-cma-es": 3.0}
MEMORY_MARGIN = 1.05
RESULTS = Path(__file__).resolve().parent / "results"
FULL = {"dim": 1_000_000, "generations": 20, "warmup": 3, "repeats": 3}
# warm-up >= 2: JAX compiles evosax's ask/tell again in the second generation
QUICK = {"dim": 100_000, "generations": 5, "warmup": 2, "repeats": 1}


def make_objective(xp: Any, chunk_rows: int = 64) -> tuple[Callable[[Any], Any], str]:
    """The shifted sphere over a population ``(n, d) -> (n,)`` and a description.

    CuPy gets a reduction kernel (reads ``X`` once, no ``(n, d)`` temporary); other
    array modules (NumPy, for checks) a row-chunked expression.
    """
    if getattr(xp, "__name__", "") == "cupy":
        try:
            kernel = xp.ReductionKernel(
                "T x",
                "T y",
                f"(x - {SHIFT!r}) * (x - {SHIFT!r})",
                "a + b",
                "y = a",
                "0",
                "gradfree_shifted_sphere",
            )
            kernel(xp.zeros((2, 3), dtype=xp.float32), axis=1)  # compile once, fail here

            def fun(X: Any) -> Any:
                return kernel(X, axis=1)

            return fun, "cupy.ReductionKernel sum((x - 1)**2) over axis 1"
        except Exception as exc:  # noqa: BLE001 - fall back to plain CuPy expressions
            note = f"; ReductionKernel failed ({type(exc).__name__}: {exc})"
    else:
        note = ""

    def fun_chunked(X: Any) -> Any:
        n = X.shape[0]
        out = xp.empty((n,), dtype=X.dtype)
        for i in range(0, n, chunk_rows):
            out[i : i + chunk_rows] = xp.sum((X[i : i + chunk_rows] - SHIFT) ** 2, axis=1)
        return out

    return fun_chunked, f"{xp.__name__}: sum((x - 1)**2) in chunks of {chunk_rows} rows{note}"


def make_strategy(method: str, popsize: int) -> OpenES | SepCMAES:
    """The gradfree strategy of `method`."""
    if method == "openai-es":
        return OpenES(popsize=popsize, sigma=OPENES_SIGMA, learning_rate=OPENES_LR)
    return SepCMAES(popsize=popsize, sigma0=SEPCMA_SIGMA0)


def byte_model(popsize: int, dim: int, itemsize: int) -> dict:
    """Ideal bytes of one generation and of each phase (see the module docstring)."""
    matrix = popsize * dim * itemsize
    return {"matrix_bytes": matrix, "per_generation": 3 * matrix, "per_phase": matrix}


def time_gradfree(
    xp: Any,
    method: str,
    *,
    popsize: int,
    dim: int,
    dtype: str,
    generations: int,
    warmup: int,
    repeats: int,
    sync: Callable[[], Any],
    peak_bytes_per_s: float | None,
    pool_bytes: Callable[[], int | None] = lambda: None,
    tolerate: tuple[type[BaseException], ...] = (MemoryError,),
) -> dict:
    """Time the strategy, phased and driver loops of one gradfree method.

    `xp` is the array module (``cupy`` on the GPU; NumPy works too, for checks) and
    `sync` waits for the device (a no-op on the host). A loop that raises one of
    `tolerate` (CuPy's OutOfMemoryError is a MemoryError) gets a ``skipped`` row.
    """
    strategy = make_strategy(method, popsize)
    fun, objective = make_objective(xp)
    x0 = xp.zeros(dim, dtype=getattr(xp, dtype))
    model = byte_model(popsize, dim, x0.dtype.itemsize)

    def strategy_loop(G: int) -> tuple[float, dict]:
        rng = np.random.default_rng(SEED)
        state = strategy.init(x0, rng=rng)
        sync()
        start = time.perf_counter()
        for _ in range(G):
            X, state = strategy.ask(state, rng=rng)
            values = fun(X)
            state = strategy.tell(state, X, values)
            del X, values  # the next ask must not see the last population alive
        sync()
        return time.perf_counter() - start, {"generations": G}

    def phases_loop(G: int) -> tuple[float, dict]:
        rng = np.random.default_rng(SEED)
        state = strategy.init(x0, rng=rng)
        spent = {"ask": 0.0, "evaluate": 0.0, "tell": 0.0}
        sync()
        start = time.perf_counter()
        for _ in range(G):
            t0 = time.perf_counter()
            X, state = strategy.ask(state, rng=rng)
            sync()
            t1 = time.perf_counter()
            values = fun(X)
            sync()
            t2 = time.perf_counter()
            state = strategy.tell(state, X, values)
            sync()
            t3 = time.perf_counter()
            del X, values
            spent["ask"] += t1 - t0
            spent["evaluate"] += t2 - t1
            spent["tell"] += t3 - t2
        return time.perf_counter() - start, {"generations": G, "phase_s": spent}

    def driver_loop(G: int) -> tuple[float, dict]:
        sync()
        start = time.perf_counter()
        # keep only the latest result (each holds its population), as a for loop would
        results = iterate(strategy, fun, x0, rng=SEED, workers="vectorized", maxiter=G)
        res = deque(results, maxlen=1).pop()
        sync()
        elapsed = time.perf_counter() - start
        nit, fun_best = res.nit, float(res.fun)
        del res
        return elapsed, {"generations": nit, "best_fun": fun_best}

    loops = {"strategy": strategy_loop, "phases": phases_loop, "driver": driver_loop}
    rows: list[dict] = []
    for loop, body in loops.items():
        try:
            body(warmup)  # untimed: compiles kernels, grows the memory pool
            runs = [body(generations) for _ in range(repeats)]
        except tolerate as exc:  # e.g. out of device memory: record it, go on
            reason = f"{type(exc).__name__}: {str(exc)[:500]}"
            rows.append({"library": "gradfree", "method": method, "loop": loop, "skipped": reason})
            continue
        elapsed, info = min(runs, key=lambda r: r[0] / r[1]["generations"])
        gens = info["generations"]
        row = {
            "library": "gradfree",
            "method": method,
            "loop": loop,
            "generations": gens,
            "repeats": repeats,
            "times_s": [r[0] for r in runs],
            "generations_per_s": gens / elapsed,
            "ms_per_generation": elapsed / gens * 1e3,
            **bandwidth(model["per_generation"], elapsed / gens, peak_bytes_per_s),
        }
        if "best_fun" in info:
            row["best_fun"] = info["best_fun"]
        if "phase_s" in info:
            row["phases"] = {
                name: {
                    "ms": t / gens * 1e3,
                    **bandwidth(model["per_phase"], t / gens, peak_bytes_per_s),
                }
                for name, t in info["phase_s"].items()
            }
        rows.append(row)
    return {
        "method": method,
        "objective": objective,
        "dtype": str(x0.dtype),
        "bytes": model,
        "pool_total_bytes_after": pool_bytes(),  # memory pool size: about the peak
        "rows": rows,
    }


def bandwidth(nbytes: float, seconds: float, peak: float | None) -> dict:
    """Effective bandwidth of moving `nbytes` in `seconds`, and its fraction of `peak`."""
    rate = nbytes / seconds
    return {
        "effective_GB_per_s": rate / 1e9,
        "bandwidth_fraction": None if peak is None else rate / peak,
    }


# -- evosax (JAX), optional ----------------------------------------------------------
def _accepted(callable_: Any, kwargs: dict) -> tuple[dict, list[str]]:
    """The keyword arguments `callable_` accepts, and the names it does not."""
    try:
        params = inspect.signature(callable_).parameters
    except (TypeError, ValueError):
        return kwargs, []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs, []
    return {k: v for k, v in kwargs.items() if k in params}, [k for k in kwargs if k not in params]


def _replace_params(params: Any, **values: Any) -> Any:
    """``params.replace(**values)`` for the fields `params` has (flax dataclass)."""
    have = {k: v for k, v in values.items() if hasattr(params, k)}
    return params.replace(**have) if have and hasattr(params, "replace") else params


def load_evosax(dtype: str) -> tuple[Any, Any, str | None]:
    """(jax, evosax) or a reason to skip."""
    try:
        import jax
    except Exception as exc:  # noqa: BLE001
        return None, None, f"jax not importable ({type(exc).__name__}: {exc})"
    try:
        if not any(dev.platform in ("gpu", "cuda") for dev in jax.devices()):
            return None, None, f"jax sees no GPU (backend {jax.default_backend()!r})"
    except Exception as exc:  # noqa: BLE001
        return None, None, f"jax has no usable device ({type(exc).__name__}: {exc})"
    try:
        import evosax
    except Exception as exc:  # noqa: BLE001
        return None, None, f"evosax not importable ({type(exc).__name__}: {exc})"
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    return jax, evosax, None


def build_evosax(jax: Any, evosax: Any, method: str, popsize: int, x0: Any) -> dict:
    """ES object, params, initial state and generation step for the installed evosax."""
    notes: list[str] = []
    key = jax.random.key(SEED) if hasattr(jax.random, "key") else jax.random.PRNGKey(SEED)
    try:
        import evosax.algorithms as algorithms  # evosax >= 0.2
    except ImportError:
        algorithms = None
    if algorithms is not None:
        import optax

        if method == "openai-es":
            kwargs = {
                "population_size": popsize,
                "solution": x0,
                "optimizer": optax.adam(learning_rate=OPENES_LR),
                "std_schedule": optax.constant_schedule(OPENES_SIGMA),
            }
            cls = algorithms.Open_ES
        else:
            kwargs = {"population_size": popsize, "solution": x0}
            cls = algorithms.Sep_CMA_ES
        kwargs, dropped = _accepted(cls, kwargs)
        notes += [f"{cls.__name__} takes no {name!r}" for name in dropped]
        es = cls(**kwargs)
        sigma = OPENES_SIGMA if method == "openai-es" else SEPCMA_SIGMA0
        params = _replace_params(es.default_params, std_init=sigma)
        state = es.init(key, x0, params)

        def step(state: Any, key: Any, fitness_fn: Callable) -> tuple[Any, Any]:
            key, k_ask, k_tell = jax.random.split(key, 3)
            population, state = es.ask(k_ask, state, params)
            out = es.tell(k_tell, population, fitness_fn(population), state, params)
            return (out[0] if isinstance(out, tuple) else out), key

        api = "evosax.algorithms (init/ask/tell with keys, >= 0.2)"
    else:  # evosax 0.1.x: OpenES(popsize=, num_dims=), initialize(), tell(x, fitness, ...)
        name = "OpenES" if method == "openai-es" else "Sep_CMA_ES"
        cls = getattr(evosax, name)
        kwargs = {"popsize": popsize, "num_dims": x0.shape[0]}
        if method == "openai-es":
            kwargs.update(opt_name="adam", lrate_init=OPENES_LR, sigma_init=OPENES_SIGMA)
        kwargs, dropped = _accepted(cls, kwargs)
        notes += [f"{name} takes no {k!r}" for k in dropped]
        es = cls(**kwargs)
        sigma = OPENES_SIGMA if method == "openai-es" else SEPCMA_SIGMA0
        params = _replace_params(es.default_params, sigma_init=sigma)
        init_kw, _ = _accepted(es.initialize, {"init_mean": x0})
        state = es.initialize(key, params, **init_kw)
        if not init_kw:
            state = state.replace(mean=x0)
        shaper = None
        if method == "openai-es" and hasattr(evosax, "FitnessShaper"):
            shaper = evosax.FitnessShaper(centered_rank=True)

        def step(state: Any, key: Any, fitness_fn: Callable) -> tuple[Any, Any]:
            key, k_ask = jax.random.split(key)
            x, state = es.ask(k_ask, state, params)
            fitness = fitness_fn(x)
            if shaper is not None:
                fitness = shaper.apply(x, fitness)
            return es.tell(x, fitness, state, params), key

        api = "evosax 0.1.x (popsize/num_dims, initialize, tell(x, fitness, state, params))"
    return {"step": step, "state": state, "key": key, "api": api, "notes": notes}


def time_evosax(
    method: str,
    *,
    popsize: int,
    dim: int,
    dtype: str,
    generations: int,
    warmup: int,
    repeats: int,
    peak_bytes_per_s: float | None,
) -> dict:
    """evosax's version of `method` on the same problem, or a row saying why it skipped."""
    row: dict[str, Any] = {"library": "evosax", "method": method, "loop": "ask-eval-tell"}
    jax, evosax, reason = load_evosax(dtype)
    if reason is not None:
        return row | {"skipped": reason}
    try:
        import jax.numpy as jnp

        x0 = jnp.zeros(dim, dtype=getattr(jnp, dtype))
        if str(x0.dtype) != dtype:
            return row | {"skipped": f"jax made {x0.dtype}, not {dtype}"}
        fitness_fn = jax.jit(lambda X: jnp.sum(jnp.square(X - SHIFT), axis=1))
        es = build_evosax(jax, evosax, method, popsize, x0)
        step, state, key = es["step"], es["state"], es["key"]
        for _ in range(warmup):  # compiles ask, the objective and tell
            state, key = step(state, key, fitness_fn)
        jax.block_until_ready(state)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(generations):
                state, key = step(state, key, fitness_fn)
            jax.block_until_ready(state)
            times.append(time.perf_counter() - start)
        del state
    except Exception as exc:  # noqa: BLE001 - API mismatch, out of memory, ...
        return row | {"skipped": f"{type(exc).__name__}: {str(exc)[:500]}"}
    model = byte_model(popsize, dim, np.dtype(dtype).itemsize)
    per_gen = min(times) / generations
    return row | {
        "api": es["api"],
        "notes": es["notes"],
        "generations": generations,
        "repeats": repeats,
        "times_s": times,
        "generations_per_s": 1 / per_gen,
        "ms_per_generation": per_gen * 1e3,
        **bandwidth(model["per_generation"], per_gen, peak_bytes_per_s),
    }


# -- device and report ---------------------------------------------------------------
def device_info(cupy: Any, peak_gbs: float | None) -> dict:
    """GPU name, memory, versions and the peak bandwidth used for the fractions."""
    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(0)
    name = props.get("name", b"?")
    info: dict[str, Any] = {
        "gpu": name.decode() if isinstance(name, bytes) else str(name),
        "total_memory_bytes": int(props.get("totalGlobalMem", 0)),
        "compute_capability": f"{props.get('major')}.{props.get('minor')}",
        "driver_version": runtime.driverGetVersion(),
        "runtime_version": runtime.runtimeGetVersion(),
    }
    clock_khz, bus_bits = props.get("memoryClockRate"), props.get("memoryBusWidth")
    source = "getDeviceProperties(0)"
    if not (clock_khz and bus_bits):  # CUDA 13 dropped these fields from the struct
        try:
            clock_khz = runtime.deviceGetAttribute(36, 0)  # cudaDevAttrMemoryClockRate
            bus_bits = runtime.deviceGetAttribute(37, 0)  # cudaDevAttrGlobalMemoryBusWidth
            source = "deviceGetAttribute(cudaDevAttrMemoryClockRate, GlobalMemoryBusWidth)"
        except Exception:  # noqa: BLE001
            clock_khz = bus_bits = None
    peak = 2 * clock_khz * 1e3 * bus_bits / 8 if clock_khz and bus_bits else None
    if peak_gbs is not None:
        peak, source = peak_gbs * 1e9, "--peak-gbs"
    info["peak_bandwidth"] = {
        "bytes_per_s": peak,
        "memory_clock_khz": clock_khz,
        "memory_bus_width_bits": bus_bits,
        "formula": "2 * memoryClockRate[kHz] * 1e3 * memoryBusWidth[bits] / 8",
        "source": source if peak is not None else "unknown: fractions are null",
    }
    return info


def versions() -> dict:
    """Versions of the libraries involved (those installed)."""
    out: dict[str, Any] = {"gradfree": gradfree.__version__, "numpy": np.__version__}
    for dist in ("cupy", "cupy-cuda12x", "cupy-cuda13x", "jax", "jaxlib", "evosax", "optax"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.1f}"


def markdown_table(cases: list[dict]) -> str:
    """Results as markdown: one row per library and loop, then the phases."""
    head = (
        "| method | library | loop | gen/s | ms/gen | eff. GB/s (3nd·b) | % of peak |\n"
        "|:---|:---|:---|---:|---:|---:|---:|"
    )
    rows, phase_rows = [head], []
    for case in cases:
        for r in case["rows"]:
            if "skipped" in r:
                rows.append(
                    f"| {r['method']} | {r['library']} | {r['loop']} | skipped: "
                    f"{r['skipped'][:120]} | | | |"
                )
                continue
            frac = r["bandwidth_fraction"]
            rows.append(
                f"| {r['method']} | {r['library']} | {r['loop']} | "
                f"{r['generations_per_s']:.2f} | {r['ms_per_generation']:.1f} | "
                f"{r['effective_GB_per_s']:.0f} | "
                f"{_percent(frac)} |"
            )
            for phase, p in r.get("phases", {}).items():
                pf = p["bandwidth_fraction"]
                phase_rows.append(
                    f"| {r['method']} | {phase} | {p['ms']:.1f} | "
                    f"{p['effective_GB_per_s']:.0f} | {_percent(pf)} |"
                )
    if phase_rows:
        rows += [
            "",
            "| method | phase | ms/gen | eff. GB/s (nd·b) | % of peak |",
            "|:---|:---|---:|---:|---:|",
            *phase_rows,
        ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 10**5, few generations")
    parser.add_argument("--popsize", type=int, default=4096)
    parser.add_argument("--dim", type=int, help=f"default {FULL['dim']} ({QUICK['dim']} quick)")
    parser.add_argument("--generations", type=int, help="timed generations per repeat")
    parser.add_argument("--repeats", type=int, help="timed repeats (the fastest counts)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--methods", nargs="+", choices=METHOD_NAMES, default=METHOD_NAMES)
    parser.add_argument("--no-evosax", action="store_true", help="skip the evosax rows")
    parser.add_argument("--peak-gbs", type=float, help="peak bandwidth in GB/s (override)")
    parser.add_argument("--out", type=Path, help="default: results/es_gpu[_quick].json")
    args = parser.parse_args(argv)
    if args.popsize < 2 or args.popsize % 2:
        parser.error(f"--popsize must be even and >= 2 (mirrored pairs); got {args.popsize}")

    if not gpu_available():
        print(
            "es_gpu: skipped: no usable GPU (gradfree._array.gpu_available() is False: "
            "CuPy missing or cannot allocate on a device); no results written."
        )
        return 0
    import cupy

    plan = dict(QUICK if args.quick else FULL)
    for name in ("dim", "generations", "repeats"):
        if getattr(args, name) is not None:
            plan[name] = getattr(args, name)
    out = args.out or RESULTS / f"es_gpu{'_quick' if args.quick else ''}.json"
    sync = cupy.cuda.Device().synchronize
    pool = cupy.get_default_memory_pool()
    device = device_info(cupy, args.peak_gbs)
    peak = device["peak_bandwidth"]["bytes_per_s"]
    n, d = args.popsize, plan["dim"]
    matrix = n * d * np.dtype(args.dtype).itemsize
    timing = {k: plan[k] for k in ("generations", "warmup", "repeats")}

    start = time.perf_counter()
    cases = []
    for method in args.methods:
        pool.free_all_blocks()
        free, total = cupy.cuda.runtime.memGetInfo()
        need = (PEAK_MATRICES[method] + 1) * matrix * MEMORY_MARGIN  # + 1: driver
        memory = {"free_bytes": free, "total_bytes": total, "estimated_peak_bytes": need}
        if need > free:
            reason = (
                f"needs about {need / 1e9:.1f} GB ({PEAK_MATRICES[method] + 1} matrices of "
                f"{matrix / 1e9:.1f} GB), {free / 1e9:.1f} GB free: lower --dim or --popsize"
            )
            rows = [{"library": "gradfree", "method": method, "loop": "all", "skipped": reason}]
            cases.append({"method": method, "memory": memory, "rows": rows})
        else:
            case = time_gradfree(
                cupy,
                method,
                popsize=n,
                dim=d,
                dtype=args.dtype,
                sync=sync,
                peak_bytes_per_s=peak,
                pool_bytes=pool.total_bytes,
                tolerate=(Exception,),  # one failing loop must not lose the others
                **timing,
            )
            cases.append(case | {"memory": memory})
        print(f"{method}: gradfree done after {time.perf_counter() - start:.0f} s", flush=True)
    pool.free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()
    for case in cases:  # evosax last: JAX keeps the memory it takes
        if args.no_evosax:
            row = {"library": "evosax", "method": case["method"], "skipped": "--no-evosax"}
        else:
            row = time_evosax(
                case["method"],
                popsize=n,
                dim=d,
                dtype=args.dtype,
                peak_bytes_per_s=peak,
                **timing,
            )
        case["rows"].append(row | {"loop": row.get("loop", "ask-eval-tell")})
        print(f"{case['method']}: evosax done after {time.perf_counter() - start:.0f} s")

    report = {
        "benchmark": "es_gpu",
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "host": platform.node(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            **device,
        },
        "versions": versions(),
        "settings": {
            "problem": f"shifted sphere sum((x - {SHIFT})**2), x0 = zeros(d)",
            "popsize": n,
            "dim": d,
            "dtype": args.dtype,
            "workers": "vectorized",
            "seed": SEED,
            "openai-es": {"sigma": OPENES_SIGMA, "optimizer": "adam", "learning_rate": OPENES_LR},
            "sep-cma-es": {"sigma0": SEPCMA_SIGMA0},
            "quick": args.quick,
            **timing,
            "statistic": "generations / fastest repeat (after an untimed warm-up)",
            "byte_model": "3 n d b per generation (sampling write, objective read, "
            "update read); n d b per phase",
            "synchronize": "cupy.cuda.Device().synchronize(); jax.block_until_ready",
        },
        "results": cases,
        "wall_s": time.perf_counter() - start,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    gb = matrix / 1e9
    peak_text = f"{peak / 1e9:.0f} GB/s" if peak else "unknown"
    print(
        f"\n{device['gpu']}: n={n}, d={d}, {args.dtype}, {gb:.1f} GB per population, "
        f"peak {peak_text}\n"
    )
    print(markdown_table(cases))
    print(f"\nwrote {out} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
