"""gradfree.models: the MLP's two views, flattening, activations, objective and residual."""

from __future__ import annotations

import numpy as np
import pytest
from array_api_compat import array_namespace

from gradfree._array import to_host
from gradfree.models import ACTIVATIONS, MLP, activate, flatten, objective, residual


def _data(n=40, d=5, k=3, seed=0):
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(n, d))
    return X, np.arange(n) % k


@pytest.mark.parametrize(
    "acts", ["relu", ("tanh", "sign", "sigmoid"), ("step", "hard_threshold", "identity")]
)
def test_population_forward_equals_loop(xp, acts):
    net = MLP((5, 7, 6, 3), activations=acts)
    gen = np.random.default_rng(1)
    P = xp.asarray(gen.normal(size=(9, net.n_params)))
    X = xp.asarray(gen.normal(size=(4, 5)))
    out = net.forward(P, X)
    assert out.shape == (9, 4, 3)
    assert array_namespace(out) is array_namespace(P)
    for j in range(9):
        np.testing.assert_allclose(
            to_host(out[j, ...]), to_host(net.forward(P[j, ...], X)), rtol=1e-12, atol=1e-12
        )


def test_forward_keeps_dtype_and_casts_X(xp):
    net = MLP((5, 4, 2))
    P = xp.asarray(np.random.default_rng(0).normal(size=(3, net.n_params)), dtype=xp.float32)
    out = net.forward(P, xp.asarray(np.ones((2, 5))))  # float64 X is cast
    assert out.dtype == xp.float32 and out.shape == (3, 2, 2)


def test_flatten_round_trip(xp):
    net = MLP((5, 7, 3))
    params = net.init_params(rng=0, like=xp.asarray([0.0]))
    v = net.flatten(params)
    assert v.shape == (net.n_params,) == (6 * 7 + 8 * 3,)
    back = net.unflatten(v)
    for a, b in zip(params, back):
        assert a.shape == b.shape
        np.testing.assert_array_equal(to_host(a), to_host(b))
    np.testing.assert_array_equal(to_host(net.flatten(back)), to_host(v))
    P = xp.stack([v, 2 * v])
    stacks = net.unflatten(P)
    assert [W.shape for W in stacks] == [(2, 6, 7), (2, 8, 3)]
    np.testing.assert_array_equal(to_host(net.flatten(stacks)), to_host(P))
    flat, unflatten = flatten(params)
    np.testing.assert_array_equal(to_host(flat), to_host(v))
    np.testing.assert_array_equal(to_host(unflatten(flat)[1]), to_host(params[1]))


def test_layer_view_matches_black_box():
    net = MLP((5, 7, 3), activations="tanh")
    params = net.init_params(rng=3)
    X, _ = _data(d=5)
    H = X
    for i, W in enumerate(params):
        weight, bias = MLP.split_layer(W)
        np.testing.assert_array_equal(MLP.join_layer(weight, bias), W)
        H = net.forward_layer(i, W, H)
    np.testing.assert_allclose(H, net.forward(net.flatten(params), X))
    assert net.layer_shapes == [(6, 7), (8, 3)] and net.n_layers == 2


def test_seeded_init_is_deterministic_and_scaled():
    net = MLP((200, 300, 10), activations=("relu", "tanh"))
    a, b = net.init_flat(rng=5), net.init_flat(rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, net.init_flat(rng=6))
    W0, W1 = net.init_params(rng=0)
    assert np.all(W0[-1] == 0) and np.all(W1[-1] == 0)  # zero biases
    assert abs(W0[:-1].std() - np.sqrt(2 / 200)) < 0.01  # He for relu
    assert abs(W1[:-1].std() - np.sqrt(2 / 310)) < 0.01  # Xavier otherwise
    W0x, _ = MLP((200, 300, 10), weight_init="xavier").init_params(rng=0)
    assert abs(W0x[:-1].std() - np.sqrt(2 / 500)) < 0.01
    f32 = net.init_flat(rng=0, like=np.zeros(1, dtype=np.float32))
    assert f32.dtype == np.float32


def test_each_activation(xp):
    z = xp.asarray([-2.0, -0.25, 0.0, 0.25, 2.0])
    expect = {
        "relu": [0, 0, 0, 0.25, 2],
        "tanh": np.tanh([-2.0, -0.25, 0.0, 0.25, 2.0]),
        "sigmoid": 1 / (1 + np.exp([2.0, 0.25, 0.0, -0.25, -2.0])),
        "identity": [-2, -0.25, 0, 0.25, 2],
        "sign": [-1, -1, 0, 1, 1],
        "step": [0, 0, 0, 1, 1],
        "hard_threshold": [-2, 0, 0, 0, 2],
    }
    assert set(expect) == set(ACTIVATIONS)
    for name, want in expect.items():
        got = activate(name, z)
        assert array_namespace(got) is array_namespace(z) and got.dtype == z.dtype
        np.testing.assert_allclose(to_host(got), want, atol=1e-15)
    np.testing.assert_allclose(
        activate("hard_threshold", np.asarray([0.3, 1.0]), threshold=0.2), [0.3, 1.0]
    )
    big = activate("sigmoid", np.asarray([-1000.0, 1000.0]))  # no overflow warning
    np.testing.assert_allclose(big, [0.0, 1.0])


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"layer_sizes": (4,)}, ValueError, "layer_sizes"),
        ({"layer_sizes": (4, 0, 2)}, ValueError, "layer_sizes"),
        ({"layer_sizes": 4}, TypeError, "layer_sizes"),
        ({"layer_sizes": (4, 2), "activations": "swish"}, ValueError, "activations"),
        ({"layer_sizes": (4, 3, 2), "activations": ("relu",)}, ValueError, "activations"),
        ({"layer_sizes": (4, 2), "activations": 3}, TypeError, "activations"),
        ({"layer_sizes": (4, 2), "weight_init": "lecun"}, ValueError, "weight_init"),
        ({"layer_sizes": (4, 2), "threshold": -1.0}, ValueError, "threshold"),
    ],
)
def test_bad_config(kwargs, exc, name):
    with pytest.raises(exc, match=f"`{name}`"):
        MLP(**kwargs)


def test_bad_forward_input():
    net = MLP((5, 4, 3))
    p = net.init_flat(rng=0)
    with pytest.raises(ValueError, match="`params`"):
        net.forward(p[:-1], np.ones((2, 5)))
    with pytest.raises(ValueError, match="`params`"):
        net.forward(np.ones((2, 2, net.n_params)), np.ones((2, 5)))
    with pytest.raises(TypeError, match="`params`"):
        net.forward(np.ones(net.n_params, dtype=int), np.ones((2, 5)))
    with pytest.raises(ValueError, match="`X`"):
        net.forward(p, np.ones((2, 4)))
    with pytest.raises(ValueError, match="`X`"):
        net.forward(p, np.ones(5))
    with pytest.raises(ValueError, match="`i`"):
        net.forward_layer(2, np.ones((5, 4)), np.ones((1, 5)))
    with pytest.raises(ValueError, match="`params`"):
        net.flatten(net.init_params(rng=0)[:1])


@pytest.mark.parametrize("make", [objective, residual])
def test_bad_data(make):
    net = MLP((5, 4, 3))
    X, y = _data()
    Xnan = X.copy()
    Xnan[3, 1] = np.nan
    with pytest.raises(ValueError, match="`X`.*rows \\[3\\]"):
        make(net, Xnan, y)
    with pytest.raises(ValueError, match="`X`"):
        make(net, X[:, :4], y)
    with pytest.raises(ValueError, match="`y`"):
        make(net, X, y[:-1])
    with pytest.raises(ValueError, match="`y` labels"):
        make(net, X, np.where(y == 2, 3, y))
    with pytest.raises(ValueError, match="`y` labels"):
        make(net, X, y - 1)
    with pytest.raises(TypeError, match="`y`"):
        make(net, X, y.astype(float))
    with pytest.raises(ValueError, match="`batch_size`"):
        make(net, X, y, batch_size=41)
    with pytest.raises(TypeError, match="`model`"):
        make("net", X, y)


def test_bad_choices():
    net = MLP((5, 4, 3))
    X, y = _data()
    with pytest.raises(ValueError, match="`loss`"):
        objective(net, X, y, loss="hinge")
    with pytest.raises(ValueError, match="`link`"):
        residual(net, X, y, link="probit")
    with pytest.raises(ValueError, match="`noise_std`"):
        residual(net, X, y, noise_std=0.0)


@pytest.mark.parametrize("make", [objective, residual])
def test_minibatches_are_deterministic(make):
    net = MLP((5, 4, 3))
    X, y = _data()
    P = np.stack([net.init_flat(rng=s) for s in range(4)])
    a, b = make(net, X, y, batch_size=8, rng=7), make(net, X, y, batch_size=8, rng=7)
    runs = [[to_host(g(P)) for _ in range(7)] for g in (a, b)]  # crosses an epoch (5 batches)
    for u, v in zip(*runs):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(runs[0][0], runs[0][1])  # the batch advances per call
    a.calls = 2  # rewinding replays
    np.testing.assert_array_equal(to_host(a(P)), runs[0][2])
    epoch = np.concatenate([a.indices(k) for k in range(5)])
    assert sorted(epoch.tolist()) == sorted(set(epoch.tolist()))  # no repeats in an epoch
    c = make(net, X, y, batch_size=8, rng=8)
    assert not np.array_equal(to_host(c(P)), runs[0][0])
    full = make(net, X, y)
    np.testing.assert_array_equal(to_host(full(P)), to_host(full(P)))


def test_objective_values(xp):
    net = MLP((5, 4, 3))
    X, y = _data()
    P = np.stack([net.init_flat(rng=s) for s in range(3)])
    Xx, Px = xp.asarray(X), xp.asarray(P)
    for loss in ("cross_entropy", "mse"):
        f = objective(net, Xx, y, loss=loss)
        vals = f(Px)
        assert vals.shape == (3,) and array_namespace(vals) is array_namespace(Px)
        out = net.forward(P, X)
        T = np.eye(3)[y]
        if loss == "mse":
            want = ((out - T) ** 2).mean(axis=(1, 2))
        else:
            logp = out - out.max(-1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
            want = -(T * logp).sum(-1).mean(-1)
        np.testing.assert_allclose(to_host(vals), want, rtol=1e-10)
        np.testing.assert_allclose(float(f(Px[0, ...])), want[0], rtol=1e-10)
    r = residual(net, Xx, y, batch_size=10, rng=0, noise_std=0.5)
    R = r(Px)
    assert R.shape == (3, r.n_residuals) == (3, 30)
    assert r(Px[0, ...]).shape == (30,)
    mse = objective(net, X, np.eye(3)[y] * 2.0, loss="mse")  # real-valued targets
    assert mse(P).shape == (3,)


def test_known_good_params_beat_random():
    """A linear readout fit by least squares scores better than random weights."""
    gen = np.random.default_rng(0)
    X = gen.normal(size=(200, 6))
    y = np.argmax(X[:, :3], axis=1)
    net = MLP((6, 3))
    A = np.hstack([X, np.ones((200, 1))])
    W = np.linalg.lstsq(A, 10 * (np.eye(3)[y] - 1 / 3), rcond=None)[0]
    good = net.flatten([W])
    bad = net.init_flat(rng=1)
    P = np.stack([good, bad])
    f = objective(net, X, y, batch_size=50, rng=0)
    r = residual(net, X, y, batch_size=50, rng=0)
    for _ in range(3):
        vals = f(P)
        assert vals[0] < vals[1]
        R = r(P)
        assert (R[0] ** 2).sum() < (R[1] ** 2).sum()
    assert (net.predict(good, X) == y).mean() > 0.9
