"""Arrays, randomness, validation, shaping and update rules."""

from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree import check_rng
from gradfree._array import asarray_like, get_xp, gpu_available, to_host
from gradfree._random import normal, spawn
from gradfree._validate import check_int, check_positive, check_x0
from gradfree.shaping import centered_ranks, standardize
from gradfree.updates import SGD, Adam


def test_check_rng_variants():
    g = np.random.default_rng(1)
    assert check_rng(g) is g
    for seed in (None, 3, np.random.SeedSequence(3), np.random.PCG64(3), np.int64(3)):
        assert isinstance(check_rng(seed), np.random.Generator)
    assert check_rng(3).random() == check_rng(np.int64(3)).random()
    with pytest.raises(TypeError, match="RandomState"):
        check_rng(np.random.RandomState(0))
    with pytest.raises(TypeError, match="`rng`"):
        check_rng(1.5)
    with pytest.raises(TypeError, match="`rng`"):
        check_rng(True)


def test_normal_follows_like(xp):
    like = xp.zeros(1, dtype=xp.float32)
    z = normal(np.random.default_rng(0), (3, 4), like=like)
    assert array_namespace(z) is array_namespace(like) and z.dtype == xp.float32
    np.testing.assert_allclose(
        to_host(z), np.random.default_rng(0).standard_normal((3, 4)), rtol=1e-6
    )


def test_spawn_children_differ():
    a, b = spawn(np.random.default_rng(0), 2)
    assert a.random() != b.random()


def test_get_xp_and_asarray_like(xp):
    x = xp.asarray([1.0, 2.0])
    ns, _ = get_xp(x, x)
    assert ns is array_namespace(x)
    y = asarray_like(np.asarray([3, 4]), x)
    assert y.dtype == x.dtype and array_namespace(y) is array_namespace(x)


def test_get_xp_rejects_mixed_libraries():
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError):
        get_xp(np.zeros(1), strict.zeros(1))


def test_gpu_detection_allocates():
    # On a machine without a GPU this must be False even when cupy imports.
    assert gpu_available() in (True, False)
    try:
        import cupy  # noqa: F401
    except ImportError:
        assert gpu_available() is False


def test_check_x0_dtypes(xp):
    assert check_x0(xp.asarray([1, 2])).dtype == xp.float64
    assert check_x0(xp.asarray([1.0], dtype=xp.float32)).dtype == xp.float32
    assert check_x0(3.0).shape == (1,)
    x = xp.asarray([1.0, 2.0])
    assert check_x0(x) is not x  # a copy: the run never aliases the caller's array


def test_check_numbers():
    assert check_positive(np.float32(2), "a") == 2.0
    with pytest.raises(TypeError, match="`a`"):
        check_positive("1", "a")
    with pytest.raises(ValueError, match="`a`"):
        check_positive(float("inf"), "a")
    with pytest.raises(ValueError, match="<= 3"):
        check_int(4, "k", high=3)


def test_centered_ranks_nan_worst_and_namespace(xp):
    v = xp.asarray([2.0, float("nan"), 1.0, float("-inf")])
    w = to_host(centered_ranks(v))
    # finite values first (1.0 best), then the non-finite ones in position order
    np.testing.assert_allclose(w, [-1 / 6, 1 / 6, -0.5, 0.5])


def test_standardize(xp):
    v = xp.asarray([1.0, 2.0, 3.0, float("nan")])
    z = to_host(standardize(v))
    np.testing.assert_allclose(z[:3], [-1.224744871, 0.0, 1.224744871])
    assert z[3] == z[:3].max()
    np.testing.assert_array_equal(to_host(standardize(xp.asarray([5.0, 5.0]))), [0.0, 0.0])


def test_adam_matches_hand_computation():
    rule = Adam(learning_rate=0.1, beta1=0.5, beta2=0.75, eps=1e-300)
    state = rule.init(np.zeros(1))
    g1, g2 = np.asarray([2.0]), np.asarray([-1.0])
    s1, state = rule.step(g1, state)
    s2, state = rule.step(g2, state)
    m, v = 0.5 * 2.0, 0.25 * 4.0
    m, v = 0.5 * m + 0.5 * -1.0, 0.75 * v + 0.25 * 1.0
    lr2 = 0.1 * np.sqrt(1 - 0.75**2) / (1 - 0.5**2)
    np.testing.assert_allclose(s1, [-0.1])
    np.testing.assert_allclose(s2, [-lr2 * m / np.sqrt(v)])
    assert state.count == 2


def test_sgd_momentum_and_nesterov():
    rule = SGD(learning_rate=0.1, momentum=0.5)
    s1, st = rule.step(np.asarray([1.0]), rule.init(np.zeros(1)))
    s2, st = rule.step(np.asarray([1.0]), st)
    np.testing.assert_allclose([s1[0], s2[0]], [-0.1, -0.15])
    nest = SGD(learning_rate=0.1, momentum=0.5, nesterov=True)
    s1, _ = nest.step(np.asarray([1.0]), nest.init(np.zeros(1)))
    np.testing.assert_allclose(s1, [-0.15])
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=1.0)
    with pytest.raises(ValueError, match="beta2"):
        Adam(beta2=1.5)
