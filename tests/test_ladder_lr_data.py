"""The shipped cpu-small ladder at three LRs per rung (data/ladder-cpu-small/ at the preset's
rule, data/ladder-cpu-small-lr/ at 0.56x and 1.78x): each rung at its best LR, and the
backtest that gives; the numbers docs/ladder.md quotes."""

from __future__ import annotations

from pathlib import Path

import pytest

import scalefit
from scalefit.ladder.backtest import ladder_backtest
from scalefit.lr_sweeps import best_lr_runs

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def three_lrs(tmp_path_factory):
    path = tmp_path_factory.mktemp("lrs") / "store"
    st = scalefit.Store(path)
    for name in ("ladder-cpu-small", "ladder-cpu-small-lr"):
        src = scalefit.Store(DATA / name, create=False)
        st.add(src.runs, src.points, source=name)
    return scalefit.Store(path, create=False)


def _mult(name: str) -> str:
    return name.rsplit("-lr", 1)[1] if "-lr" in name else "1"


def test_every_rung_has_three_lrs_and_the_rule_wins_few(three_lrs):
    keep, swept = best_lr_runs(three_lrs, "val/loss")
    assert len(swept) == 14 and all(len(s["lrs"]) == 3 for s in swept)
    best = {n.split("/")[1].rsplit("-lr", 1)[0]: _mult(n) for n in keep}
    # width 96's shorter runs want 1.78x the rule, its longest and width 64's longest 0.56x
    assert best["L3-d96-t5"] == best["L3-d96-t10"] == "1.78"
    assert best["L3-d96-t20"] == best["L3-d64-t20"] == "0.56"
    assert sorted(best.values()).count("1") == 4  # the rule is the best of three at 4 rungs
    d96 = next(s for s in swept if "L3-d96-t5" in s["runs"][0])
    assert d96["losses"] == pytest.approx([1.7395, 1.7515, 1.6745], abs=2e-4)


def test_each_rung_at_its_best_lr_backtests_closer(three_lrs):
    rows = {r["law"]: r for r in ladder_backtest(three_lrs, laws=("chinchilla", "power:x=C"))}
    assert rows["chinchilla"]["lr_sweep"] and len(rows["chinchilla"]["heldout_runs"]) == 2
    # 8.60% at the rule's LR alone (the shipped store); E still at its bound
    assert rows["chinchilla"]["mean_rel_error"] == pytest.approx(0.0215, abs=1e-3)
    assert rows["chinchilla"]["E"] == pytest.approx(0.0, abs=1e-6)
    assert rows["power:x=C"]["mean_rel_error"] == pytest.approx(0.0342, abs=1e-3)  # 1.67%
    rule = ladder_backtest(DATA / "ladder-cpu-small", laws=("chinchilla",))[0]
    assert rule["mean_rel_error"] == pytest.approx(0.0860, abs=1e-3)
