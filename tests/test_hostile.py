"""Checkpoints are data, never code: crafted files are refused, nothing they name runs.

Each test builds a real job checkpoint, edits it as an attacker would, and checks that
`gradfree resume` / `gradfree.resume` neither import nor call anything it names, and
that every edited value is a `ValueError` naming the field.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gradfree
from gradfree._checkpoint import read_metadata
from gradfree._history import read_history
from gradfree._job import resume_job
from gradfree._jobfile import load_job
from gradfree.cli import main
from gradfree.testing import sphere

JOB = """objective = "sphere"
x0 = [0.5, -1.0, 2.0]
method = "cma-es"
seed = 3
maxiter = {maxiter}
output = "out"
{extra}
[options]
popsize = 6
"""


def _run_job(directory: Path, maxiter: int = 6, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    job = directory / "job.toml"
    job.write_text(JOB.format(maxiter=maxiter, extra=extra))
    assert main(["run", str(job)]) == 0
    return job


def _tamper(src: Path, dst: Path, edit) -> Path:
    """Rewrite a checkpoint with `edit(meta, arrays)` applied, as a crafted file would be."""
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    edit(meta, arrays)
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("wb") as f:
        np.savez(f, __meta__=blob, **arrays)
    return dst


def _edit_history(meta, arrays, value):
    """Set the saved history's nit column to `value`, or (None) make it an int array."""
    key = meta["driver"]["fields"]["history"]["__array__"]
    if value is None:
        arrays[key] = arrays[key].astype(np.int64)
        meta["driver"]["fields"]["history"]["dtype"] = "int64"
    else:
        arrays[key] = arrays[key].copy()
        arrays[key][:, 0] = value


def _state_fields(meta):
    return meta["state"]["fields"]


@pytest.fixture
def legit(tmp_path):
    """A finished-halfway job: its checkpoint at generation 3 of 6 (walltime 0 per call)."""
    job = _run_job(tmp_path / "legit", maxiter=6, extra="walltime = 0")
    for _ in range(2):
        assert main(["resume", str(job)]) == 0
    ckpt = tmp_path / "legit" / "out" / "checkpoint.npz"
    assert read_metadata(ckpt)["driver"]["fields"]["nit"] == 3
    return job, ckpt


def test_exec_payload_in_the_checkpoint_never_runs(legit, tmp_path, capsys):
    job, ckpt = legit
    marker = tmp_path / "pwned"
    source = f"open({str(marker)!r}, 'w').write('x')".encode()
    payload = np.frombuffer(source.ljust(-(-len(source) // 8) * 8), dtype=np.float64)

    def edit(meta, arrays):
        meta["job"]["objective"] = "builtins:exec"
        arrays[_state_fields(meta)["mean"]["__array__"]] = payload
        _state_fields(meta)["mean"]["shape"] = list(payload.shape)

    evil = _tamper(ckpt, tmp_path / "evil" / "checkpoint.npz", edit)
    assert main(["resume", str(evil)]) == 2  # no job file of the user's names it
    assert "pass the job file with --job" in capsys.readouterr().err
    assert main(["resume", str(evil), "--job", str(job)]) == 2
    err = capsys.readouterr().err
    assert "`objective` = 'builtins:exec'" in err and "job file has 'sphere'" in err
    with pytest.raises(ValueError, match=r"`state.mean` must keep the dimension 3"):
        gradfree.resume(evil, sphere)
    assert not marker.exists()


def test_a_foreign_module_named_anywhere_is_never_imported(legit, tmp_path, monkeypatch):
    job, ckpt = legit
    (tmp_path / "evilmod.py").write_text(
        f"open({str(tmp_path / 'imported')!r}, 'w').write('x')\ndef f(x):\n    return 0.0\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gradfree.altmin._bcd", raising=False)  # as if unloaded

    def as_objective(meta, arrays):
        meta["job"]["objective"] = "evilmod:f"

    def as_class(meta, arrays):
        meta["state"]["__dataclass__"] = "evilmod:State"

    def as_unloaded_gradfree(meta, arrays):
        meta["strategy"]["__dataclass__"] = "gradfree.altmin._bcd:BCD"

    for i, edit in enumerate((as_objective, as_class, as_unloaded_gradfree)):
        evil = _tamper(ckpt, tmp_path / f"evil{i}" / "checkpoint.npz", edit)
        with pytest.raises(ValueError):
            resume_job(load_job(job), checkpoint=evil)
        if edit is as_objective:  # the Python API calls only the user's `fun`
            assert gradfree.resume(evil, sphere).nit == 6
            continue
        with pytest.raises(ValueError, match="has not loaded|not a gradfree module"):
            gradfree.resume(evil, sphere)
    assert not (tmp_path / "imported").exists()
    assert "evilmod" not in sys.modules and "gradfree.altmin._bcd" not in sys.modules


def test_edited_output_is_ignored_the_job_file_decides(legit, tmp_path):
    job, ckpt = legit
    elsewhere = tmp_path / "elsewhere"

    def edit(meta, arrays):
        meta["job"]["output"] = str(elsewhere)
        meta["job"]["checkpoint"]["path"] = str(elsewhere / "checkpoint.npz")

    _tamper(ckpt, ckpt, edit)
    assert main(["resume", str(ckpt)]) == 0
    assert not elsewhere.exists()
    assert (ckpt.parent / "result.json").exists()


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda m, a: m["job"].update(method="xnes"), r"`method` = 'xnes'"),
        (lambda m, a: m.update(method="xnes"), r"method 'xnes', not 'cma-es'|says 'xnes'"),
        (lambda m, a: m["job"]["options"].update(popsize=8), r"`options`"),
        (lambda m, a: m["driver"]["fields"].update(nit=-5), r"`driver.nit` must be an int"),
        (lambda m, a: m["driver"]["fields"].update(nfev="18"), r"`driver.nfev` must be an int"),
        (lambda m, a: m["driver"]["fields"].update(best_fun="x"), r"`driver.best_fun`"),
        (lambda m, a: m["driver"]["fields"].update(status=99), r"`driver.status`"),
        (lambda m, a: _edit_history(m, a, -1.0), r"`driver.history` must hold counts"),
        (lambda m, a: _edit_history(m, a, None), r"`driver.history` must be a float64"),
        (
            lambda m, a: m["driver"]["fields"].update(
                recent_maxlen=1, recent={"__tuple__": [1, 2]}
            ),
            r"`driver.recent`",
        ),
        (
            lambda m, a: m["driver"]["fields"].update(population_values=[1.0, 2.0]),
            r"`driver.population_values`",
        ),
        (
            lambda m, a: m["driver"]["fields"].update(failures={"__dict__": {"count": 1}}),
            r"`driver.failures`",
        ),
        (
            lambda m, a: m["driver"].update(__dataclass__="gradfree._run_record:Failures"),
            r"`driver`",
        ),
        (lambda m, a: m["state"]["fields"].update(sigma=-1.0), r"`state.sigma` must be finite"),
        (lambda m, a: m["state"]["fields"].update(sigma=float("nan")), r"`state.sigma`"),
        (lambda m, a: m["state"]["fields"].update(generation=-2), r"`state.generation`"),
        (lambda m, a: m["state"]["fields"].update(generation=True), r"`state.generation`"),
        (
            lambda m, a: m["strategy"]["fields"].update(sigma0=-1.0),
            r"`strategy` is refused by CMAES: `sigma0` must be finite and > 0",
        ),
        (lambda m, a: m["strategy"]["fields"].update(popsize=-3), r"refused by CMAES"),
    ],
    ids=[
        "job-method",
        "method",
        "options",
        "nit",
        "nfev",
        "best_fun",
        "status",
        "history-counts",
        "history-dtype",
        "recent",
        "population-values",
        "failures",
        "driver-class",
        "sigma-negative",
        "sigma-nan",
        "generation",
        "generation-bool",
        "sigma0",
        "popsize",
    ],
)
def test_every_edited_field_is_a_value_error_naming_it(legit, tmp_path, edit, pattern, request):
    job, ckpt = legit
    evil = _tamper(ckpt, tmp_path / "evil" / "checkpoint.npz", edit)
    with pytest.raises(ValueError, match=pattern):
        resume_job(load_job(job), checkpoint=evil)
    if request.node.callspec.id not in ("job-method", "options"):  # a job's own record
        with pytest.raises(ValueError, match=pattern):
            gradfree.resume(evil, sphere)  # the Python API checks the same fields


def test_an_edited_nan_in_a_state_array_is_refused(legit, tmp_path):
    job, ckpt = legit

    def edit(meta, arrays):
        key = _state_fields(meta)["mean"]["__array__"]
        arrays[key] = np.full_like(arrays[key], np.nan)

    evil = _tamper(ckpt, tmp_path / "evil" / "checkpoint.npz", edit)
    with pytest.raises(ValueError, match=r"`state.mean` must be finite"):
        gradfree.resume(evil, sphere)


def test_resume_of_a_local_objective_finds_the_job_files_directory(tmp_path):
    """`gradfree resume` imports the job's own module from the job file's directory."""
    (tmp_path / "localobj.py").write_text("def f(x):\n    return float((x * x).sum())\n")
    job = tmp_path / "job.toml"
    job.write_text(JOB.replace('"sphere"', '"localobj:f"').format(maxiter=4, extra="walltime = 0"))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(gradfree.__file__).parents[1])}
    for cmd in (["run", str(job)], ["resume", str(tmp_path / "out" / "checkpoint.npz")]):
        proc = subprocess.run(
            [sys.executable, "-m", "gradfree", *cmd],
            cwd="/",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "result.json").read_text())["nit"] == 2


def test_a_kill_during_the_history_write_loses_no_row(tmp_path, monkeypatch):
    """A writer stopped mid-row (as by kill -9) during a resume, then resumed again."""
    ref = _run_job(tmp_path / "ref", maxiter=8)
    job = _run_job(tmp_path / "cut", maxiter=8, extra="walltime = 0")
    history = tmp_path / "cut" / "out" / "history.csv"
    from gradfree import _history

    real_sync = _history.HistoryWriter._sync
    calls = {"n": 0}

    def dies_mid_row(self):
        calls["n"] += 1
        if calls["n"] == 2:  # the resume's first row is written, then a kill mid-row
            self.file.write("4,24,0.12")  # a row cut mid-line, flushed to the file
            self.file.flush()
            raise KeyboardInterrupt
        real_sync(self)

    monkeypatch.setattr(_history.HistoryWriter, "_sync", dies_mid_row)
    job_file = str(job)
    with pytest.raises(KeyboardInterrupt):
        main(["resume", job_file])
    monkeypatch.setattr(_history.HistoryWriter, "_sync", real_sync)
    rows, _ = read_history(history)
    assert [r["nit"] for r in rows] == [1.0, 2.0]  # the cut row is not a row
    assert (
        read_metadata(tmp_path / "cut" / "out" / "checkpoint.npz")["driver"]["fields"]["nit"] == 1
    )  # the checkpoint is behind the history: the resume cuts row 2 and redoes it
    while json.loads((tmp_path / "cut" / "out" / "result.json").read_text())["nit"] < 8:
        assert main(["resume", job_file]) == 0
    a = (tmp_path / "ref" / "out" / "history.csv").read_text().splitlines()
    b = history.read_text().splitlines()
    assert [r.split(",")[:6] for r in a] == [r.split(",")[:6] for r in b]
    assert len(b) == 9 and ref.exists()


def test_plot_skips_a_row_cut_by_a_kill(tmp_path):
    pytest.importorskip("matplotlib")
    _run_job(tmp_path / "p", maxiter=4)
    out = tmp_path / "p" / "out"
    with (out / "history.csv").open("a") as f:
        f.write("5,30,0.0")
    (out / "convergence.png").unlink()
    assert main(["plot", str(out)]) == 0 and (out / "convergence.png").exists()


def test_temp_files_of_interrupted_writes_are_removed_on_the_next_start(legit):
    job, ckpt = legit
    stale = [
        ckpt.parent / ".checkpoint.npz.k2j4.tmp",
        ckpt.parent / ".result.json.9x1.tmp",
        ckpt.parent / ".convergence.png.a7.tmp",
    ]
    for path in stale:
        path.write_bytes(b"partial" * 1000)
    assert main(["resume", str(job)]) == 0
    assert not any(p.exists() for p in stale)
    assert not list(ckpt.parent.glob(".*.tmp"))


def test_optimizer_load_checks_the_pending_population(tmp_path):
    opt = gradfree.Optimizer("cma-es", np.zeros(3), rng=0, popsize=6)
    opt.ask()
    path = tmp_path / "opt.npz"
    opt.save(path)
    assert gradfree.Optimizer.load(path).pending.shape == (6, 3)

    def edit(meta, arrays):
        key = meta["driver"]["fields"]["pending"]["__array__"]
        arrays[key] = np.zeros((6, 5))
        meta["driver"]["fields"]["pending"]["shape"] = [6, 5]

    evil = _tamper(path, tmp_path / "evil.npz", edit)
    with pytest.raises(ValueError, match=r"`driver.pending` must be an array of shape \(n, d\)"):
        gradfree.Optimizer.load(evil)
