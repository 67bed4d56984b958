"""Backtests: hold out the largest runs, compare laws, law="auto"."""

import pytest
from _synthetic import chinchilla_table

import scalefit
from scalefit.errors import UsageError
from scalefit.fitting import build_dataset, compare, parse_holdout
from scalefit.fitting.backtest import backtest, split
from scalefit.laws import get_law

LAW = get_law("chinchilla")
TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


@pytest.fixture(scope="module")
def table():
    return chinchilla_table(50, 0.003, run_names=True)


def test_parse_holdout():
    assert parse_holdout("largest:3") == ("largest", 3, False)
    assert parse_holdout("largest:20%") == ("largest", 0.2, True)
    for bad in ("smallest:3", "largest:0", "largest:1.5", "largest:120%"):
        with pytest.raises(UsageError):
            parse_holdout(bad)


def test_split_holds_out_the_largest_compute(table):
    ds = build_dataset(table, LAW)
    held, names = split(ds, "largest:4")
    C = 6 * table["N"] * table["D"]
    assert set(names) == set(table.loc[C.nlargest(4).index, "run"])
    assert held.sum() == 4
    with pytest.raises(UsageError, match="cannot hold out"):
        split(ds, "largest:50")


def test_backtest_errors_are_small_on_a_true_law(table):
    ds = build_dataset(table, LAW)
    bt = backtest(ds, LAW, "largest:5")
    assert bt["n_heldout"] == 5 and bt["n_train"] == 45
    assert bt["mean_rel_error"] < 0.01
    assert bt["max_rel_error"] >= bt["mean_rel_error"]
    assert len(bt["points"]) == 5 and {"run", "pred", "value", "rel_error"} <= set(bt["points"][0])


def test_compare_ranks_the_true_law_first(table):
    out = compare(table, ["power:x=N", "chinchilla", "data_constrained"], "largest:5")
    ranked = [r["law"] for r in out["ranking"]]
    assert ranked[0] == "chinchilla" and out["best"] == "chinchilla"
    # a law the data cannot feed is listed last with its error
    assert ranked[-1] == "data_constrained" and "needs input" in out["ranking"][-1]["error"]


def test_law_auto_picks_by_backtest(table):
    res = scalefit.fit(table, "auto", candidates=["power:x=N", "chinchilla"])
    assert res.law == "chinchilla"
    assert res.backtest["ranking"][0]["law"] == "chinchilla"
    assert "backtest (largest:20%)" in str(res.summary())
