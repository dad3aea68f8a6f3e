"""The command line: job files, `gradfree run/resume/plot`, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gradfree import METHODS
from gradfree._checkpoint import read_metadata
from gradfree._history import read_history
from gradfree._jobfile import load_job, parse_job
from gradfree.cli import main
from gradfree.testing import TEST_CONFIGS

OBJECTIVE = """
import os, time
def slow_sphere(x):
    if os.environ.get("GRADFREE_TEST_SLOW"):
        time.sleep(0.01)
    return float((x * x).sum())
def slow_residual(x):
    if os.environ.get("GRADFREE_TEST_SLOW"):
        time.sleep(0.01)
    return x - 1.0
"""


def _job(tmp_path: Path, name: str, output: str, **extra) -> Path:
    lines = [
        'objective = "objective_mod:{}"'.format(
            "slow_residual" if METHODS[name].vector_values else "slow_sphere"
        ),
        "x0 = [0.5, -1.0, 2.0]",
        f'method = "{name}"',
        "seed = 7",
        "maxiter = 12",
        f'output = "{output}"',
        *(f"{k} = {json.dumps(v)}" for k, v in extra.items()),
        "[options]",
        *(f"{k} = {json.dumps(v)}" for k, v in TEST_CONFIGS[name].items()),
    ]
    (tmp_path / "objective_mod.py").write_text(OBJECTIVE)
    path = tmp_path / f"{output}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _result(directory: Path) -> dict:
    return json.loads((directory / "result.json").read_text())


@pytest.mark.parametrize(
    ("table", "pattern", "exc"),
    [
        (
            {"objective": "sphere", "dim": 2, "maxiters": 3},
            r"unknown key\(s\) \['maxiters'\]",
            ValueError,
        ),
        ({"objective": "sphere", "dim": "2"}, "`dim` must be an int", TypeError),
        ({"objective": "sphere", "dim": 2, "seed": 1.5}, "`seed` must be an int", TypeError),
        ({"objective": "sphere", "x0": [1, "a"]}, "`x0` must be a list of numbers", TypeError),
        ({"dim": 2}, "`objective` is required", ValueError),
        ({"objective": "nope", "dim": 2}, "`objective` 'nope'", ValueError),
        (
            {"objective": "sphere", "dim": 2, "x0": [1.0]},
            "exactly one of `x0` and `dim`",
            ValueError,
        ),
        (
            {"objective": "sphere", "dim": 2, "workers": "dask://nohost"},
            "dask://host:port",
            ValueError,
        ),
        ({"objective": "sphere", "dim": 2, "workers": "gpu"}, "`workers`", ValueError),
        (
            {"objective": "sphere", "dim": 2, "bounds": [[0, 1]]},
            "one \\[low, high\\] pair",
            ValueError,
        ),
        (
            {"objective": "sphere", "dim": 2, "checkpoint": {"evry": 2}},
            r"\[checkpoint\]: unknown key\(s\) \['evry'\]",
            ValueError,
        ),
        (
            {"objective": "sphere", "dim": 2, "checkpoint": {"every": True}},
            "`every` must be",
            TypeError,
        ),
        ({"objective": "sphere", "dim": 2, "walltime": -1}, "`walltime` must be", ValueError),
    ],
)
def test_job_validation_names_the_key(table, pattern, exc):
    with pytest.raises(exc, match=pattern):
        parse_job(table)


def test_job_file_errors(tmp_path, capsys):
    path = tmp_path / "job.toml"
    path.write_text('objective = "sphere"\ndim = 2\nmethod = "cma-es"\nfoo = 1\n')
    assert main(["run", str(path)]) == 2
    assert "unknown key(s) ['foo']" in capsys.readouterr().err
    path.write_text("objective = \n")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_job(path)
    path.write_text('objective = "sphere"\ndim = 2\n[options]\nbogus = 1\n')
    assert main(["run", str(path)]) == 2
    assert "unknown option(s) ['bogus']" in capsys.readouterr().err


def test_run_writes_outputs_and_plot(tmp_path, capsys):
    job = tmp_path / "job.toml"
    job.write_text(
        'objective = "rosenbrock"\ndim = 3\nx0_value = 0.5\nbounds = [-2.0, 2.0]\n'
        'seed = 0\nmaxfev = 96\nworkers = "vectorized"\noutput = "out"\n'
        "[options]\npopsize = 8\n[checkpoint]\nevery = 2\n"
    )
    assert main(["run", str(job)]) == 0
    out = tmp_path / "out"
    assert "nfev = 96" in capsys.readouterr().out
    res = _result(out)
    assert res["nfev"] == 96 and res["status_name"] == "MAXFEV" and len(res["x"]) == 3
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0] == "nit,nfev,best,gen_min,gen_median,gen_max,sigma,time"
    assert len(rows) == 1 + 12
    assert read_metadata(out / "checkpoint.npz")["job"]["maxfev"] == 96
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert main(["plot", str(out)]) == 1
        assert not (out / "convergence.png").exists()
    else:
        assert (out / "convergence.png").exists()
        (out / "convergence.png").unlink()
        assert main(["plot", str(out)]) == 0
        assert (out / "convergence.png").exists()
    # resuming a finished job returns its result again
    assert main(["resume", str(out / "checkpoint.npz")]) == 0
    assert _result(out)["x"] == res["x"]


def test_walltime_then_resume(tmp_path):
    job = _job(tmp_path, "cma-es", "ref")
    assert main(["run", str(job)]) == 0
    job = _job(tmp_path, "cma-es", "wall", walltime=0)
    assert main(["run", str(job)]) == 0
    part = _result(tmp_path / "wall")
    assert part["nit"] == 1 and part["status_name"] == "WALLTIME" and "walltime" in part["message"]
    for _ in range(11):  # the walltime applies to each invocation: one generation each
        assert main(["resume", str(tmp_path / "wall" / "checkpoint.npz")]) == 0
    assert "walltime" not in _result(tmp_path / "wall")["message"]
    a, b = _result(tmp_path / "ref"), _result(tmp_path / "wall")
    assert a["x"] == b["x"] and a["history"] == b["history"]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_sigkill_then_resume_is_exact(name, tmp_path):
    """A child `gradfree run` is killed with SIGKILL at a random generation, then resumed."""
    import random

    k = random.Random(name).randint(2, 6)
    reference = _job(tmp_path, name, "ref")
    assert main(["run", str(reference)]) == 0
    job = _job(tmp_path, name, "killed")
    ckpt = tmp_path / "killed" / "checkpoint.npz"
    env = {**os.environ, "GRADFREE_TEST_SLOW": "1", "PYTHONPATH": str(tmp_path)}
    child = subprocess.Popen(
        [sys.executable, "-m", "gradfree", "run", str(job)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    nit = 0
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if ckpt.exists():
                try:
                    nit = read_metadata(ckpt)["driver"]["fields"]["nit"]
                except (ValueError, FileNotFoundError):  # pragma: no cover - never partial
                    raise
                if nit >= k:
                    break
            time.sleep(0.002)
        assert child.poll() is None, child.stderr.read().decode()  # still running: kill it
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "result.json").exists()
    assert main(["resume", str(ckpt)]) == 0
    a, b = _result(tmp_path / "ref"), _result(tmp_path / "killed")
    for key in ("x", "fun", "nfev", "nit", "history", "status", "message"):
        assert a[key] == b[key], key
    rows = (tmp_path / "killed" / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(i) for i in range(1, a["nit"] + 1)]


MINIBATCH = """
import os, time
import numpy as np
from gradfree.models import MLP, objective

_gen = np.random.default_rng(0)
_net = MLP((4, 6, 3))
_X, _y = _gen.normal(size=(90, 4)), _gen.integers(0, 3, 90)


class Slow:
    '''The models.objective minibatch schedule, slowed down in the child process.'''

    def __init__(self):
        self.inner = objective(_net, _X, _y, batch_size=15, rng=3)

    def at(self, k):
        if os.environ.get("GRADFREE_TEST_SLOW"):
            time.sleep(0.02)
        return self.inner.at(k)

    def __call__(self, P):
        return self.inner(P)


loss = Slow()
"""


def test_sigkill_of_a_minibatch_job_then_resume_is_bit_identical(tmp_path):
    """A job on a minibatch objective killed at random generations, resumed each time."""
    import random

    (tmp_path / "mbobj.py").write_text(MINIBATCH)
    lines = 'objective = "mbobj:loss"\ndim = {}\nmethod = "openai-es"\nseed = 2\nmaxiter = 30\n'
    lines += 'workers = "vectorized"\noutput = "{}"\n[options]\npopsize = 8\n'
    n_params = 4 * 6 + 6 + 6 * 3 + 3
    for name in ("ref", "killed"):
        (tmp_path / f"{name}.toml").write_text(lines.format(n_params, name))
    assert main(["run", str(tmp_path / "ref.toml")]) == 0
    ckpt = tmp_path / "killed" / "checkpoint.npz"
    env = {**os.environ, "GRADFREE_TEST_SLOW": "1", "PYTHONPATH": str(tmp_path)}
    gen = random.Random(11)
    for _ in range(2):  # kill, resume (and kill the resumed run too), then finish
        start = 0 if not ckpt.exists() else read_metadata(ckpt)["driver"]["fields"]["nit"]
        k = start + gen.randint(2, 6)
        cmd = ["run", str(tmp_path / "killed.toml")] if start == 0 else ["resume", str(ckpt)]
        child = subprocess.Popen(
            [sys.executable, "-m", "gradfree", *cmd],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and child.poll() is None:
                if ckpt.exists() and read_metadata(ckpt)["driver"]["fields"]["nit"] >= k:
                    break
                time.sleep(0.002)
            assert child.poll() is None
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.wait()
    assert main(["resume", str(ckpt)]) == 0
    a, b = _result(tmp_path / "ref"), _result(tmp_path / "killed")
    for key in ("x", "fun", "nfev", "nit", "history", "status"):
        assert a[key] == b[key], key
    rows = (tmp_path / "killed" / "history.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(i) for i in range(1, 31)]


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("cma-es", {}),
        ("sep-cma-es", {}),
        ("lm-ma-es", {}),
        ("xnes", {}),
        ("snes", {}),
        ("pgpe", {}),
        ("openai-es", {"sigma": 0.25}),
        ("cma-es", {"restarts": "ipop"}),
    ],
)
def test_history_logs_each_methods_declared_step_size(tmp_path, method, options):
    """The ``sigma`` column is the strategy's `step_size` (wrappers ask the inner run)."""
    from gradfree._job import run_job
    from gradfree._registry import resolve_method

    table = {"objective": "sphere", "dim": 3, "x0_value": 1.0, "method": method, "seed": 0}
    table |= {"maxiter": 6, "workers": "vectorized", "output": "out", "options": options}
    res = run_job(parse_job(table, base=tmp_path))
    rows, _ = read_history(tmp_path / "out" / "history.csv")
    sigmas = [row["sigma"] for row in rows]
    assert len(sigmas) == 6 and all(np.isfinite(s) and s > 0 for s in sigmas)
    assert sigmas[-1] == resolve_method(method, options).step_size(res.state)
    assert len(set(sigmas)) == (1 if method == "openai-es" else 6)  # adapted, or fixed
    if method == "openai-es":
        assert sigmas[0] == 0.25
