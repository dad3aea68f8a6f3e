"""`gradfree demo`: five acts whose tables come from the runs, a figure, `--quick`."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from gradfree.cli import main
from gradfree.demo import ACTS, run_demo


@pytest.fixture(scope="module")
def quick():
    """The quick demo once for the module: its acts and what it printed."""
    stream = io.StringIO()
    acts = run_demo(quick=True, figure=None, out=stream)
    return acts, stream.getvalue()


def test_five_acts_print_their_tables(quick):
    acts, text = quick
    assert [a.title[:2] for a in acts] == ["1.", "2.", "3.", "4.", "5."]
    for act in acts:
        assert act.title in text and act.rows
        assert all(len(row) == len(act.header) for row in act.rows)
    assert "All acts:" in text


def test_act_one_cma_es_beats_bfgs_on_a_step_network(quick):
    rows = {r[0]: r for r in quick[0][0].rows}
    assert rows["gradfree CMA-ES"][1] < rows["scipy BFGS"][1]  # training loss
    assert "BFGS changed the hidden weights by at most 0 " in quick[0][0].reading


def test_act_two_trains_digits_without_backprop(quick):
    act = quick[0][1]
    assert act.plot["names"][0].startswith("scikit-learn MLPClassifier")
    assert all(0.5 < a <= 1.0 for a in act.plot["accuracy"])  # ten classes: chance is 0.1


def test_act_three_matches_the_exact_posterior(quick):
    act = quick[0][2]
    post = {r[0].split(" (")[0]: r for r in act.rows}
    exact = [float(c.split(" ± ")[0]) for c in post["exact posterior"][1:3]]
    for name in ("gradfree EKI", "gradfree UKI"):
        got = [float(c.split(" ± ")[0]) for c in post[name][1:3]]
        np.testing.assert_allclose(got, exact, atol=0.03)


def test_act_five_resumes_to_the_uninterrupted_result(quick):
    act = quick[0][4]
    whole, cut, rest = act.rows
    assert act.plot["same"] is True
    assert cut[1] < whole[1] and rest[1:4] == whole[1:4]


def test_numbers_are_measured_not_written_in(quick):
    acts = run_demo(
        quick=True, seed=1, figure=None, acts=["inverse", "moments"], out=io.StringIO()
    )
    assert acts[0].rows != quick[0][2].rows and acts[1].rows[0][1] != quick[0][3].rows[0][1]


def test_the_cli_draws_the_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "demo.png"
    assert main(["demo", "--quick", "--figure", str(figure)]) == 0
    assert figure.stat().st_size > 10_000
    assert f"Figure: {figure}" in capsys.readouterr().out


def test_without_matplotlib_the_tables_still_print(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    stream = io.StringIO()
    run_demo(quick=True, acts=["inverse"], figure=tmp_path / "demo.png", out=stream)
    assert "No figure: pip install matplotlib" in stream.getvalue()
    assert not (tmp_path / "demo.png").exists()


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="unknown `acts`"):
        run_demo(acts=["nope"], figure=None)
    with pytest.raises(ValueError, match="`maxfev`"):
        run_demo(maxfev=0, figure=None)
    with pytest.raises(SystemExit):
        main(["demo", "--maxfev", "0"])
    assert set(ACTS) == {"blackbox", "digits", "inverse", "moments", "batch"}
