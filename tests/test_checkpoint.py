"""Checkpoints: codec round trips, exact resume, corrupt files, safety, atomic writes."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from array_api_compat import array_namespace, is_array_api_obj

from gradfree import METHODS, Optimizer, Status
from gradfree import _checkpoint as ck
from gradfree._checkpoint import read_metadata
from gradfree._driver import Run
from gradfree._minimize import build_strategy
from gradfree._run import resume, run
from gradfree.es import CMAES, Restarts
from gradfree.testing import TEST_CONFIGS, assert_states_equal, problem_for


def _arrays(obj, path="state"):
    """Yield (path, array) for every array inside a (nested) state."""
    import dataclasses

    if is_array_api_obj(obj):
        yield path, obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for name, value in vars(obj).items():
            yield from _arrays(value, f"{path}.{name}")
    elif isinstance(obj, (tuple, list)):
        for i, value in enumerate(obj):
            yield from _arrays(value, f"{path}[{i}]")


def _assert_same_kinds(a, b):
    for (pa, xa), (pb, xb) in zip(_arrays(a), _arrays(b), strict=True):
        assert pa == pb
        assert array_namespace(xa) is array_namespace(xb), pa
        assert xa.dtype == xb.dtype, pa


@pytest.mark.parametrize("name", sorted(METHODS))
def test_state_round_trip(name, xp):
    strategy = METHODS[name](**TEST_CONFIGS[name])
    x0 = xp.asarray([0.5, -1.0, 2.0])
    state = strategy.init(x0, rng=np.random.default_rng(0))
    X, asked = strategy.ask(state, rng=np.random.default_rng(1))
    told = strategy.tell(asked, X, problem_for(strategy)(X))
    for obj in (strategy, state, asked, told):
        tree, arrays = ck.encode(obj, like=x0)
        json.dumps(tree)  # JSON only
        back = ck.decode(tree, arrays, like=x0)
        assert_states_equal(obj, back)
        _assert_same_kinds(obj, back)


def _problem(strategy):
    return problem_for(strategy)


def _compare(a, b):
    assert a.nit == b.nit and a.nfev == b.nfev and a.fun == b.fun
    assert a.status == b.status and a.message == b.message
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))
    assert a.history.keys() == b.history.keys()
    for key in a.history:
        np.testing.assert_array_equal(a.history[key], b.history[key], err_msg=key)
    assert_states_equal(a.state, b.state)


class _Killed(Exception):
    pass


def _interrupted(strategy, fun, x0, path, k, **kw):
    """Run with a checkpoint every generation and 'die' during generation k + 1."""

    def callback(res):
        if res.nit == k + 1:
            raise _Killed

    with pytest.raises(_Killed):
        run(strategy, fun, x0, checkpoint=path, checkpoint_every=1, callback=callback, **kw)


def _exact_resume(strategy, tmp_path, k, x0=None, **kw):
    x0 = np.asarray([0.5, -1.0, 2.0]) if x0 is None else x0
    fun = _problem(strategy)
    kw = {"rng": 3, "maxiter": 10, "workers": "vectorized", **kw}
    full = run(strategy, fun, x0, **kw)
    path = tmp_path / "run.ckpt"
    _interrupted(strategy, fun, x0, path, k, **kw)
    assert Run.restore(path).nit == k
    _compare(resume(path, fun, workers="vectorized"), full)
    return full


@pytest.mark.parametrize("name", sorted(METHODS))
def test_exact_resume_every_method(name, tmp_path):
    k = 1 + sum(map(ord, name)) % 7  # a different generation per method
    _exact_resume(METHODS[name](**TEST_CONFIGS[name]), tmp_path, k)


def test_exact_resume_array_api_strict(tmp_path):
    xps = pytest.importorskip("array_api_strict")
    strategy = CMAES(popsize=6)
    x0 = xps.asarray([0.5, -1.0, 2.0])
    full = run(strategy, problem_for(strategy), x0, rng=2, maxiter=8, workers="vectorized")
    path = tmp_path / "run.ckpt"
    _interrupted(
        strategy, problem_for(strategy), x0, path, 4, rng=2, maxiter=8, workers="vectorized"
    )
    res = resume(path, problem_for(strategy), x0=x0, workers="vectorized")
    assert array_namespace(res.x) is array_namespace(x0)
    _compare(res, full)


def test_exact_resume_restarts(tmp_path):
    strategy = build_strategy(
        "cma-es",
        {"popsize": 4, "tolfun": 1e-1, "restarts": "bipop", "max_restarts": 3},
        None,
        np.zeros(3),
    )
    full = _exact_resume(strategy, tmp_path, 60, maxiter=100)
    assert len(full.state.restarts) == 2  # one before the checkpoint, one (BIPOP) after


@pytest.mark.parametrize("options", [{}, {"bounds_method": "reflect"}])
def test_exact_resume_bounds(tmp_path, options):
    x0 = np.asarray([0.5, -1.0, 2.0])
    strategy = build_strategy("sep-cma-es", {"popsize": 6, **options}, [(-1, 3)] * 3, x0)
    _exact_resume(strategy, tmp_path, 3, x0=x0)


def test_exact_resume_integrality_and_noise(tmp_path):
    x0 = np.asarray([0.5, -1.0, 2.0])
    strategy = build_strategy(
        "cma-es", {"popsize": 6}, [(-4, 4)] * 3, x0, integrality=[True, False, False]
    )
    _exact_resume(strategy, tmp_path, 3, x0=x0)
    noisy = build_strategy("cma-es", {"popsize": 6, "noise_handling": True}, None, x0)
    _exact_resume(noisy, tmp_path, 2, x0=x0)


def test_kalman_states_round_trip(tmp_path):
    kalman = [cls for cls in METHODS.values() if cls.vector_values]
    assert len(kalman) == 5
    for cls in kalman:
        _exact_resume(cls(), tmp_path, 1, maxiter=4)


def test_finished_checkpoint_returns_the_result(tmp_path):
    path = tmp_path / "done.ckpt"
    strategy = METHODS["snes"](popsize=6)
    full = run(strategy, problem_for(strategy), np.ones(2), rng=0, maxiter=3, checkpoint=path)
    _compare(resume(path, problem_for(strategy)), full)


def test_walltime_stops_and_resumes(tmp_path):
    path = tmp_path / "w.ckpt"
    strategy = CMAES(popsize=6)
    full = run(strategy, problem_for(strategy), np.ones(3), rng=0, maxiter=5)
    part = run(
        strategy, problem_for(strategy), np.ones(3), rng=0, maxiter=5, walltime=0, checkpoint=path
    )
    assert part.nit == 1 and part.status == Status.WALLTIME and "walltime" in part.message
    _compare(resume(path, problem_for(strategy)), full)


def test_checkpoint_seconds(tmp_path):
    path = tmp_path / "s.ckpt"
    run(
        CMAES(popsize=6),
        problem_for(CMAES()),
        np.ones(3),
        rng=0,
        maxiter=3,
        checkpoint=path,
        checkpoint_seconds=3600,
    )
    assert Run.restore(path).nit == 3  # the final save
    with pytest.raises(ValueError, match="checkpoint_every"):
        run(CMAES(), problem_for(CMAES()), np.ones(3), checkpoint_every=2)


def _saved(tmp_path, name="ok.ckpt"):
    path = tmp_path / name
    job = Run(CMAES(popsize=6), np.ones(3), rng=np.random.default_rng(0), maxiter=5)
    job.save(path)
    return path


def _rewrite(path, meta_change=None, drop=None):
    with np.load(path, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    meta = json.loads(members["__meta__"].tobytes())
    if meta_change:
        meta_change(meta)
    members["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    for key in drop or ():
        members.pop(key)
    with open(path, "wb") as f:
        np.savez(f, **members)


def test_corrupt_truncated_and_mismatched(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    bad = tmp_path / "bad.ckpt"
    for blob in (data[: len(data) // 2], b"garbage", b""):
        bad.write_bytes(blob)
        with pytest.raises(ValueError, match="corrupt or truncated"):
            ck.load_checkpoint(bad)
    bad.write_bytes(data)
    _rewrite(bad, lambda m: m.update(version=99))
    with pytest.raises(ValueError, match="format version 99"):
        ck.load_checkpoint(bad)
    bad.write_bytes(data)
    _rewrite(bad, lambda m: m.pop("state"))
    with pytest.raises(ValueError, match=r"lacks \['state'\]"):
        ck.load_checkpoint(bad)
    bad.write_bytes(data)
    _rewrite(bad, drop=["a3"])
    with pytest.raises(ValueError, match="array member 'a3' is missing"):
        ck.load_checkpoint(bad)
    with np.load(path) as npz:
        np.savez(bad, **{k: npz[k] for k in npz.files if k != "__meta__"})
    with pytest.raises(ValueError, match="no gradfree metadata"):
        ck.load_checkpoint(str(bad) + ".npz")
    with pytest.raises(ValueError, match="method 'cma-es', not 'snes'"):
        ck.load_checkpoint(path, method="snes")
    with pytest.raises(ValueError, match=r"`x0` has shape \(4,\)"):
        ck.load_checkpoint(path, x0=np.ones(4))
    with pytest.raises(ValueError, match="`x0` has dtype float32"):
        ck.load_checkpoint(path, x0=np.ones(3, dtype=np.float32))
    assert ck.load_checkpoint(path, method=CMAES()).method == "cma-es"


@pytest.mark.parametrize(
    "ref", ["gradfree_evil_module_xyz:Thing", "os:system", "gradfree._checkpoint:np.ndarray"]
)
def test_foreign_classes_are_refused_and_not_imported(tmp_path, ref):
    path = _saved(tmp_path)
    module = ref.split(":")[0]

    def change(meta):
        meta["state"]["fields"]["params"] = {"__dataclass__": ref, "fields": {}}

    _rewrite(path, change)
    before = set(sys.modules)
    with pytest.raises(ValueError, match="not a gradfree module|not defined there"):
        ck.load_checkpoint(path)
    assert module == "os" or module not in set(sys.modules) - before


def test_foreign_function_is_refused(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, lambda m: m["driver"]["fields"].update(message={"__function__": "os:system"}))
    with pytest.raises(ValueError, match="'os', which is not a gradfree module"):
        ck.load_checkpoint(path)


def test_user_callables_and_classes_cannot_be_saved(tmp_path):
    strategy = Restarts(CMAES(popsize=4), restart_x0=lambda rng: rng.uniform(size=3))
    job = Run(strategy, np.ones(3), rng=np.random.default_rng(0), maxiter=3)
    with pytest.raises(ValueError, match=r"`strategy\.restart_x0`"):
        job.save(tmp_path / "x.ckpt")
    assert not (tmp_path / "x.ckpt").exists()
    assert not list(tmp_path.iterdir())  # no temp file left behind

    class Mine:
        pass

    with pytest.raises(ValueError, match=r"`obj\[0\]`: objects of type"):
        ck.encode((Mine(),))


def test_atomic_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = _saved(tmp_path, "run.ckpt")
    before = path.read_bytes()
    real = np.savez

    def crash(f, **members):
        real(f, **members)
        f.truncate(100)  # a partial file, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(ck.np, "savez", crash)
    job = Run(CMAES(popsize=6), np.ones(3), rng=np.random.default_rng(5), maxiter=5)
    with pytest.raises(KeyboardInterrupt):
        job.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]
    assert ck.load_checkpoint(path).method == "cma-es"
    assert zipfile.is_zipfile(path)


def test_optimizer_save_load(tmp_path):
    fun = problem_for(CMAES())
    path = tmp_path / "opt.ckpt"
    ref = Optimizer("cma-es", np.ones(3), rng=0, maxiter=6, popsize=6)
    opt = Optimizer("cma-es", np.ones(3), rng=0, maxiter=6, popsize=6)
    for _ in range(2):
        X = ref.ask()
        ref.tell(X, fun(X))
        X = opt.ask()
        opt.tell(X, fun(X))
    X = opt.ask()
    opt.save(path)  # with a pending population
    loaded = Optimizer.load(path, method="cma-es")
    np.testing.assert_array_equal(loaded.pending, X)
    loaded.tell(loaded.pending, fun(loaded.pending))
    while not ref.stop():
        X = ref.ask()
        ref.tell(X, fun(X))
    while not loaded.stop():
        X = loaded.ask()
        loaded.tell(X, fun(X))
    _compare(loaded.result(), ref.result())


def test_save_path_is_exact_name(tmp_path):
    path = tmp_path / "no_suffix"
    _saved(tmp_path, "no_suffix")
    assert path.exists() and not Path(str(path) + ".npz").exists()
    assert os.path.getsize(path) > 0


def test_exact_resume_with_a_minibatch_objective(tmp_path):
    """A scheduled objective needs nothing in the checkpoint: batch k is fixed by k."""
    from gradfree.es import OpenES
    from gradfree.models import MLP, objective

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 3, 60)
    net = MLP((4, 5, 3))
    make = lambda: objective(net, X, y, batch_size=16, rng=7)  # noqa: E731
    w0 = net.init_flat(rng=0)
    es, kw = OpenES(popsize=8), {"rng": 1, "maxiter": 6, "workers": "vectorized"}
    full = run(es, make(), w0, **kw)
    path = tmp_path / "mb.ckpt"
    part = run(es, make(), w0, checkpoint=path, walltime=0, **kw)
    assert part.nit == 1
    assert "objective" not in read_metadata(path)["driver"]["fields"]
    _compare(resume(path, make(), workers="vectorized"), full)
    serial = run(es, make(), w0, rng=1, maxiter=6)  # rows one by one: the same batches
    np.testing.assert_allclose(serial.x, full.x, rtol=1e-12)
