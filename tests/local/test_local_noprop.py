"""NoProp-DT (gradfree.local._noprop): contract, single-block gradients, schedule, digits."""

from __future__ import annotations

import numpy as np
import pytest
from _data import DIGITS
from _data import toy as _toy
from array_api_compat import array_namespace

from gradfree._result import Status
from gradfree.altmin import fit
from gradfree.local import alignment_angles
from gradfree.local._noprop import NoPropClassifier, NoPropDT, noise_schedule

# The digits protocol of tests/test_local.py: (100, 100) tanh, 40 epochs of batch 64, Adam 1e-3.


# ---------------------------------------------------------------- contract


def test_shapes_and_namespace(xp):
    X, _, Y = _toy()
    rule = NoPropDT(hidden_layer_sizes=(5, 4), n_blocks=2, batch_size=16)
    Xa, Ya = xp.asarray(X), xp.asarray(Y)
    state = rule.step(rule.init(Xa, Ya, rng=0), Xa, Ya)
    block = [(7, 5), (6, 4), (5, 3)]  # [x, z] = 3 + 3 inputs, softmax over k = 3
    assert [W.shape for W in state.layers] == block + block + [(4, 3)]
    assert [W.shape for W in state.fixed] == [(3, 3)] and state.aux == ()
    assert len(state.opt) == len(state.layers)
    assert all(array_namespace(W) is array_namespace(Xa) for W in state.layers)
    assert state.sweep == 1 and state.t == 3
    out = rule.decision_function(state, xp.asarray(X))
    assert out.shape == (40, 3) and array_namespace(out) is array_namespace(Xa)


def test_float32_stays_float32():
    X, _, Y = _toy()
    rule = NoPropDT(hidden_layer_sizes=(6,), n_blocks=2, embedding="orthogonal", batch_size=16)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    state = rule.step(rule.init(X32, Y32, rng=0), X32, Y32)
    assert all(W.dtype == np.float32 for W in (*state.layers, *state.fixed))
    assert rule.decision_function(state, X.astype(np.float32)).dtype == np.float32


def test_seeded_determinism_and_inputs_untouched():
    X, _, Y = _toy()
    X0 = X.copy()
    rule = NoPropDT(hidden_layer_sizes=(6,), n_blocks=3, batch_size=8)
    a = fit(rule, X, Y, rng=1, maxiter=3)
    b = fit(rule, X, Y, rng=1, maxiter=3)
    c = fit(rule, X, Y, rng=2, maxiter=3)
    assert isinstance(a.x, list) and len(a.x) == len(a.state.layers) == 3 * 2 + 1
    for Wa, Wb in zip(a.x, b.x):
        np.testing.assert_array_equal(Wa, Wb)
    assert not np.array_equal(a.x[0], c.x[0])
    np.testing.assert_array_equal(X, X0)
    assert a.status == Status.MAXITER and a.nit == 3 and len(a.history) == 4
    assert np.isfinite(a.fun)


def test_prediction_is_deterministic_and_row_wise():
    X, _, Y = _toy()
    rule = NoPropDT(hidden_layer_sizes=(6,), n_blocks=3, batch_size=8)
    state = fit(rule, X, Y, rng=0, maxiter=2).state
    out = rule.decision_function(state, X)
    np.testing.assert_array_equal(out, rule.decision_function(state, X))
    np.testing.assert_allclose(rule.decision_function(state, X[5:9]), out[5:9], rtol=1e-12)


def test_partial_fit_from_scratch():
    X, y, _ = _toy(n=60)
    clf = NoPropClassifier((16,), n_blocks=2, learning_rate=0.01, rng=0)
    with pytest.raises(ValueError, match="`classes`"):
        clf.partial_fit(X[:20], y[:20])
    for _ in range(30):
        for start in range(0, 60, 20):
            clf.partial_fit(X[start : start + 20], y[start : start + 20], classes=np.arange(3))
    assert clf.state_.t == 90 and clf.score(X, y) >= 0.8


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="`n_blocks`"):
        NoPropDT(n_blocks=0)
    with pytest.raises(TypeError, match="`n_blocks`"):
        NoPropDT(n_blocks=2.5)
    with pytest.raises(ValueError, match="`embedding`"):
        NoPropDT(embedding="learned")
    with pytest.raises(ValueError, match="`embedding_dim`"):
        NoPropDT(embedding_dim=12)  # one-hot fixes d_e = k
    with pytest.raises(ValueError, match="`embedding_dim`"):
        NoPropDT(embedding="orthogonal", embedding_dim=0)
    with pytest.raises(ValueError, match="`eta`"):
        NoPropDT(eta=0.0)
    with pytest.raises(ValueError, match="`hidden_layer_sizes`"):
        NoPropDT(hidden_layer_sizes=())
    with pytest.raises(ValueError, match="`learning_rate`"):
        NoPropDT(learning_rate=-1.0)
    X, _, Y = _toy()
    with pytest.raises(ValueError, match="`embedding_dim`"):
        NoPropDT(embedding="orthogonal", embedding_dim=2).init(X, Y, rng=0)
    with pytest.raises(ValueError, match="`n_blocks`"):
        noise_schedule(0)


def test_no_alignment_angles():
    X, _, Y = _toy()
    rule = NoPropDT(hidden_layer_sizes=(4,))
    assert NoPropDT.aligns is False
    with pytest.raises(TypeError, match="does not follow"):
        alignment_angles(rule, rule.init(X, Y, rng=0), X, Y)


# ---------------------------------------------------------------- the rule itself


def test_schedule_is_the_posterior_of_the_noising_process():
    """``a_t, b_t, c_t`` are the mean and variance of q(z_t | z_{t-1}, y) (Sec. 2.1)."""
    for T in (1, 3, 10):
        s = noise_schedule(T)
        abar = s["abar"]
        assert abar.shape == (T + 1,) and abar[0] == 0.0 and abar[-1] == pytest.approx(0.999)
        assert np.all(np.diff(abar) > 0) and np.all(np.diff(s["snr"]) > 0)
        # E[z_t] = a_t u + b_t sqrt(abar_{t-1}) u must equal sqrt(abar_t) u ...
        np.testing.assert_allclose(s["a"] + s["b"] * np.sqrt(abar[:-1]), np.sqrt(abar[1:]))
        # ... and Var[z_t] = b_t^2 (1 - abar_{t-1}) + c_t must equal 1 - abar_t.
        np.testing.assert_allclose(s["b"] ** 2 * (1 - abar[:-1]) + s["c"], 1 - abar[1:])


def _block_losses(rule, state, X, Y, seed):
    """Eq. (8) term of every block, with the noise `local_grads` draws for `seed`."""
    rng = np.random.default_rng(seed)
    s = noise_schedule(rule.n_blocks)
    (W_embed,) = state.fixed
    U = Y @ W_embed
    losses = []
    for t, block in enumerate(rule._blocks(state), start=1):
        eps = rng.standard_normal(U.shape)
        Z = np.sqrt(s["abar"][t - 1]) * U + np.sqrt(1 - s["abar"][t - 1]) * eps
        _, _, P = rule._block_forward(block, X, Z)
        w = rule.eta * (s["snr"][t] - s["snr"][t - 1])
        losses.append(0.5 * w * np.sum((P @ W_embed - U) ** 2) / X.shape[0])
    return losses


@pytest.mark.parametrize("embedding", ["onehot", "orthogonal"])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_block_gradient_is_its_own_single_block_gradient(embedding, activation):
    X, _, Y = _toy(n=12)
    rule = NoPropDT(
        hidden_layer_sizes=(5, 4),
        n_blocks=2,
        activation=activation,
        embedding=embedding,
        embedding_dim=None if embedding == "onehot" else 4,
    )
    state = rule.init(X, Y, rng=0)
    grads, aux, *_ = rule.local_grads(state, X, Y, np.random.default_rng(7))
    assert aux == [] and len(grads) == len(state.layers)
    per_block, eps = 3, 1e-6
    for i in range(len(state.layers) - 1):
        W = state.layers[i]
        for idx in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1), (1, 2)]:
            plus, minus = list(state.layers), list(state.layers)
            plus[i], minus[i] = W.copy(), W.copy()
            plus[i][idx] += eps
            minus[i][idx] -= eps
            lp = _block_losses(rule, _replace(state, plus), X, Y, 7)
            lm = _block_losses(rule, _replace(state, minus), X, Y, 7)
            fd = [(p - m) / (2 * eps) for p, m in zip(lp, lm)]
            own = i // per_block
            np.testing.assert_allclose(grads[i][idx], fd[own], rtol=1e-5, atol=1e-12)
            # the weight moves no other block's loss: the blocks are decoupled
            assert all(abs(f) < 1e-9 for b, f in enumerate(fd) if b != own)


def test_no_signal_between_blocks():
    """Changing one block changes neither another block's update nor the head's."""
    X, _, Y = _toy(n=20)
    rule = NoPropDT(hidden_layer_sizes=(6,), n_blocks=3)
    state = rule.init(X, Y, rng=0)
    layers = list(state.layers)
    layers[0] = layers[0] + 1.0  # block 1's first layer
    layers[5] = layers[5] - 0.5  # block 3's last layer
    g0, _, *_ = rule.local_grads(state, X, Y, np.random.default_rng(3))
    g1, _, *_ = rule.local_grads(_replace(state, layers), X, Y, np.random.default_rng(3))
    for i in (2, 3, 6):  # block 2 and the head
        np.testing.assert_array_equal(g0[i], g1[i])
    assert not np.array_equal(g0[0], g1[0])


def _replace(state, layers):
    from dataclasses import replace

    return replace(state, layers=tuple(layers))


# ---------------------------------------------------------------- digits


def test_digits_beats_floor_and_readout_only(digits, control):
    """3 blocks of (100, 100) tanh, 40 epochs: ~0.972 mean test accuracy (readout ~0.90)."""
    X, y, Xt, yt = digits
    accs = [
        NoPropClassifier(**DIGITS, n_blocks=3, rng=s).fit(X, y).score(Xt, yt) for s in range(3)
    ]
    assert np.mean(accs) >= 0.93, accs
    assert np.mean(accs) >= np.mean(control) + 0.01, (accs, control)
