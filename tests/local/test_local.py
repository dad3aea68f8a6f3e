"""Local learning rules (gradfree.local): shared contract, FA/DFA and the baselines on digits."""

from __future__ import annotations

import numpy as np
import pytest
from _data import DIGITS
from _data import toy as _toy
from array_api_compat import array_namespace
from sklearn.exceptions import NotFittedError

from gradfree._array import to_host
from gradfree._result import Status
from gradfree.altmin import fit
from gradfree.local import (
    Backprop,
    BackpropClassifier,
    DFAClassifier,
    DifferenceTargetPropagation,
    DirectFeedbackAlignment,
    DNIClassifier,
    DTPClassifier,
    FAClassifier,
    FeedbackAlignment,
    FFClassifier,
    ForwardForward,
    HSICBottleneck,
    HSICClassifier,
    NoPropClassifier,
    NoPropDT,
    ReadoutOnly,
    ReadoutOnlyLocalClassifier,
    SyntheticGradients,
    alignment_angles,
    backprop_grads,
)
from gradfree.local._rule import cross_entropy

# The shared contract runs on every rule; each rule's own behaviour is in test_local_<rule>.py.
RULES = [
    Backprop,
    ReadoutOnly,
    FeedbackAlignment,
    DirectFeedbackAlignment,
    DifferenceTargetPropagation,
    HSICBottleneck,
    SyntheticGradients,
    ForwardForward,
    NoPropDT,
]
CLASSIFIERS = [
    BackpropClassifier,
    ReadoutOnlyLocalClassifier,
    FAClassifier,
    DFAClassifier,
    DTPClassifier,
    HSICClassifier,
    DNIClassifier,
    FFClassifier,
    NoPropClassifier,
]
# Rules whose network is the plain MLP d -> hidden -> k (FF embeds the label in the input
# and has no output layer; NoProp has one MLP per block and a head).
PLAIN = {r for r in RULES if r not in (ForwardForward, NoPropDT)}


# ---------------------------------------------------------------- contract


@pytest.mark.parametrize("cls", RULES)
def test_shapes_and_namespace(cls, xp):
    X, _, Y = _toy()
    rule = cls(hidden_layer_sizes=(5, 4), batch_size=16)
    Xa, Ya = xp.asarray(X), xp.asarray(Y)
    state = rule.step(rule.init(Xa, Ya, rng=0), Xa, Ya)
    if cls in PLAIN:
        assert [W.shape for W in state.layers] == [(4, 5), (6, 4), (5, 3)]
    assert all(array_namespace(W) is array_namespace(Xa) for W in state.layers)
    assert state.sweep == 1 and state.t == 3
    out = rule.decision_function(state, Xa)
    assert out.shape == (40, 3) and array_namespace(out) is array_namespace(Xa)


@pytest.mark.parametrize("cls", RULES)
def test_matches_numpy_across_namespaces(cls, xp):
    X, _, Y = _toy()
    rule = cls(hidden_layer_sizes=(6,), batch_size=16)
    ref = rule.step(rule.init(X, Y, rng=3), X, Y)
    Xa, Ya = xp.asarray(X), xp.asarray(Y)
    got = rule.step(rule.init(Xa, Ya, rng=3), Xa, Ya)
    for a, b in zip(ref.layers, got.layers):
        np.testing.assert_allclose(to_host(b), a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", RULES)
def test_seeded_determinism_and_inputs_untouched(cls):
    X, _, Y = _toy()
    X0 = X.copy()
    rule = cls(hidden_layer_sizes=(6,), batch_size=8)
    a = fit(rule, X, Y, rng=1, maxiter=3)
    b = fit(rule, X, Y, rng=1, maxiter=3)
    c = fit(rule, X, Y, rng=2, maxiter=3)
    for Wa, Wb in zip(a.x, b.x):
        np.testing.assert_array_equal(Wa, Wb)
    assert not np.array_equal(a.x[-1], c.x[-1])
    np.testing.assert_array_equal(X, X0)
    assert a.status == Status.MAXITER and a.nit == 3 and len(a.history) == 4


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_classifier_contract(cls, xp):
    X, y, _ = _toy()
    clf = cls((8,), max_iter=3, rng=0).fit(xp.asarray(X), y)
    assert clf.predict(xp.asarray(X)).shape == (40,)
    assert clf.decision_function(xp.asarray(X)).shape == (40, 3)
    assert 0.0 <= clf.score(xp.asarray(X), y) <= 1.0
    t = clf.state_.t
    assert clf.partial_fit(xp.asarray(X[:10]), y[:10]).state_.t == t + 1


def test_classifier_params_follow_scikit_learn():
    clf = DFAClassifier((7,), n_jobs=2, max_iter=4)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (7,) and params["n_jobs"] == 2
    assert params["max_iter"] == 4 and params["activation"] == "tanh"
    assert type(clf)(**params).get_params() == params
    assert clf.set_params(learning_rate=0.5).learning_rate == 0.5
    with pytest.raises(ValueError, match="bogus"):
        clf.set_params(bogus=1)
    with pytest.raises(TypeError):
        DFAClassifier((7,), bogus=1)


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_classifiers_work_with_scikit_learn_model_selection(cls):
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    X, y, _ = _toy(n=60)
    clf = cls((6,), max_iter=2, rng=0)
    assert clone(clf).get_params() == clf.get_params()
    scores = cross_val_score(clf, X, y, cv=2)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))


def test_partial_fit_from_scratch(digits):
    X, y, Xt, yt = digits
    clf = FAClassifier((64,), learning_rate=3e-3, rng=0)
    with pytest.raises(ValueError, match="`classes`"):
        clf.partial_fit(X[:64], y[:64])
    for _ in range(10):
        for start in range(0, X.shape[0], 64):
            clf.partial_fit(X[start : start + 64], y[start : start + 64], classes=np.arange(10))
    assert clf.score(Xt, yt) >= 0.9


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_bad_input(cls):
    X, y, _ = _toy()
    clf = cls((4,), max_iter=1, rng=0)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(Xn, y)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :2], y)
    with pytest.raises(ValueError, match="labels outside"):
        clf.partial_fit(X, y + 10)


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        FeedbackAlignment(hidden_layer_sizes=())
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        FeedbackAlignment(hidden_layer_sizes=(0,))
    with pytest.raises(ValueError, match="activation"):
        FeedbackAlignment(activation="softsign")
    with pytest.raises(ValueError, match="learning_rate"):
        Backprop(learning_rate=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        ReadoutOnly(batch_size=0)
    with pytest.raises(ValueError, match="n_jobs"):
        DirectFeedbackAlignment(n_jobs=0)


# ---------------------------------------------------------------- the rules themselves


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_backprop_gradient_matches_finite_differences(activation):
    X, _, Y = _toy(n=12)
    layers = Backprop(hidden_layer_sizes=(5, 4), activation=activation).init(X, Y, rng=0).layers
    layers = [np.vstack([W[:-1], W[-1:] + 0.1]) for W in layers]  # off ReLU's kink at 0
    grads = backprop_grads(layers, X, Y, activation)
    rule = Backprop(hidden_layer_sizes=(5, 4), activation=activation)
    eps = 1e-6
    for i, W in enumerate(layers):
        for idx in [(0, 0), (W.shape[0] - 1, W.shape[1] - 1)]:
            plus, minus = [list(layers) for _ in range(2)]
            plus[i], minus[i] = W.copy(), W.copy()
            plus[i][idx] += eps
            minus[i][idx] -= eps
            fd = (
                cross_entropy(rule.decision_function(_with(layers, plus), X), Y)
                - cross_entropy(rule.decision_function(_with(layers, minus), X), Y)
            ) / (2 * eps)
            np.testing.assert_allclose(grads[i][idx], fd, rtol=1e-5, atol=1e-9)


def _with(layers, new):
    from gradfree.local import LocalState

    return LocalState(tuple(new), (), (), (), (3, 3), seed=0)


def test_fa_with_transposed_weights_is_backprop():
    """FA's rule with B = W^T is exactly the chain rule: the rules differ only in B."""
    X, _, Y = _toy()
    fa = FeedbackAlignment(hidden_layer_sizes=(6, 5))
    state = fa.init(X, Y, rng=0)
    state = type(state)(**{**state.__dict__, "fixed": tuple(W[:-1].T for W in state.layers[1:])})
    got, _, *_ = fa.local_grads(state, X, Y, np.random.default_rng(0))
    for g, t in zip(got, backprop_grads(state.layers, X, Y, "tanh")):
        np.testing.assert_allclose(g, t, rtol=1e-12, atol=1e-15)


def test_dfa_threads_equal_serial():
    X, _, Y = _toy()
    serial = DirectFeedbackAlignment(hidden_layer_sizes=(6, 5, 4), batch_size=8)
    threaded = DirectFeedbackAlignment(hidden_layer_sizes=(6, 5, 4), batch_size=8, n_jobs=2)
    a = serial.step(serial.init(X, Y, rng=0), X, Y)
    b = threaded.step(threaded.init(X, Y, rng=0), X, Y)
    for Wa, Wb in zip(a.layers, b.layers):
        np.testing.assert_array_equal(Wa, Wb)


def test_readout_only_freezes_hidden_layers():
    X, _, Y = _toy()
    rule = ReadoutOnly(hidden_layer_sizes=(6, 5), batch_size=8)
    s0 = rule.init(X, Y, rng=0)
    s = rule.step(s0, X, Y)
    for a, b in zip(s0.layers[:-1], s.layers[:-1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(s0.layers[-1], s.layers[-1])


def test_alignment_rejects_rules_without_a_gradient_direction():
    X, _, Y = _toy()
    rule = ReadoutOnly(hidden_layer_sizes=(4,))
    with pytest.raises(TypeError, match="gradient"):
        alignment_angles(rule, rule.init(X, Y, rng=0), X, Y)


@pytest.mark.parametrize("cls", [FeedbackAlignment, DirectFeedbackAlignment])
def test_alignment_angle_falls_below_90_degrees(cls, digits):
    """Lillicrap et al. (2016), Fig. 2: the update comes within 90 degrees of the gradient."""
    X, y, _, _ = digits
    Y = np.eye(10)[y]
    rule = cls(hidden_layer_sizes=(100, 100))
    state = rule.init(X, Y, rng=0)
    batch = (X[:256], Y[:256])
    angles = [alignment_angles(rule, state, *batch)]
    for _ in range(5):
        state = rule.step(state, X, Y)
        angles.append(alignment_angles(rule, state, *batch))
    final = np.asarray(angles[-1])
    assert np.all(final < 90.0), angles
    assert np.all(final < np.asarray(angles[0])), angles  # the alignment is learned


def test_backprop_alignment_is_zero():
    X, _, Y = _toy()
    rule = Backprop(hidden_layer_sizes=(6, 5))
    angles = alignment_angles(rule, rule.init(X, Y, rng=0), X, Y)
    np.testing.assert_allclose(angles, 0.0, atol=1e-5)


@pytest.mark.parametrize(
    ("cls", "floor"), [(BackpropClassifier, 0.95), (FAClassifier, 0.95), (DFAClassifier, 0.95)]
)
def test_digits_accuracy_and_beats_readout(cls, floor, digits, control):
    X, y, Xt, yt = digits
    accs = [cls(**DIGITS, rng=s).fit(X, y).score(Xt, yt) for s in range(3)]
    assert np.mean(accs) >= floor, accs
    assert np.mean(accs) >= np.mean(control) + 0.01, (accs, control)


@pytest.mark.parametrize("cls", [Backprop, FeedbackAlignment, DifferenceTargetPropagation])
def test_objective_after_an_epoch_is_the_mean_minibatch_loss(cls):
    """With one batch per epoch, the reported loss is the loss before that epoch's update."""
    X, _, Y = _toy()
    rule = cls(hidden_layer_sizes=(6,), batch_size=40)
    s0 = rule.init(X, Y, rng=0)
    before = cross_entropy(rule.decision_function(s0, X), Y)
    s1 = rule.step(s0, X, Y)
    assert rule.objective(s0, X, Y) == pytest.approx(before, rel=1e-12)
    assert rule.objective(s1, X, Y) == pytest.approx(before, rel=1e-12)
    assert s1.loss_sum is None and s1.epoch_loss is not None
