"""The cpu-small ladder shipped in data/ (μP): its largest size backtests from the others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _ladder_stores import final_val_losses

import scalefit
from scalefit.ladder.plan import PRESETS

LADDER = Path(__file__).resolve().parents[1] / "data" / "ladder-cpu-small"


@pytest.fixture(scope="module")
def store():
    return scalefit.Store(LADDER, create=False)


def test_the_preset_as_shipped(store):
    runs, final, mult = final_val_losses(store)
    assert len(runs) == 14
    n = runs["params"].astype(float)
    assert n.nunique() == 5 and n.max() / n.min() >= 20 and n.max() > 9e5
    assert (runs["tokens_total"] >= 5 * n * 0.999).all()
    pre = PRESETS["cpu-small"]
    for r in runs.index:  # every rung in μP from base width 32, at the preset's LR for its length
        rung = json.loads(runs.loc[r, "meta"])["rung"]
        assert (rung["param"], rung["base_width"]) == ("mup", 32)
        want = pre.mup_lr * (rung["steps"] / pre.lr_steps) ** -pre.lr_horizon_exp
        assert runs.loc[r, "lr_max"] == pytest.approx(want, rel=1e-9)
    # validation loss falls with size at every tokens-per-param multiple ...
    for m in sorted(set(mult.values())):
        rs = sorted((r for r in runs.index if mult[r] == m), key=lambda r: n[r])
        assert np.all(np.diff(final[rs].to_numpy()) < -0.03), (m, final[rs].to_numpy())
    # ... and with data at every size
    for _, grp in runs.groupby("params"):
        rs = sorted(grp.index, key=lambda r: mult[r])
        assert np.all(np.diff(final[rs].to_numpy()) < -0.02)


# The backtest as measured (mean / max relative error on the two runs of the largest size) and
# a range for E. Chinchilla's law misses the largest size by 3.9% (too high, with E at 0) and the
# power law in compute by 5.0% (too low): the 1% this ladder was sized for is not reached. (The
# run before μP kept SP's attention scale, data/ladder-cpu-small-20261206/: 8.6% and 1.7%.)
MEASURED = {"chinchilla": (0.0387, 0.0486), "power:x=C": (0.0504, 0.0536)}


@pytest.mark.parametrize("law", ["chinchilla", "power:x=C"])
def test_the_largest_size_backtests_from_the_others(store, law):
    res = scalefit.fit(store, law=law, metric="val/loss", holdout="size:1")
    bt = res.backtest
    n = store.runs.set_index("run")["params"]
    assert {n[r] for r in bt["heldout_runs"]} == {n.max()} and len(bt["heldout_runs"]) == 2
    mean, worst = MEASURED[law]
    assert bt["mean_rel_error"] == pytest.approx(mean, abs=0.005)
    assert bt["max_rel_error"] == pytest.approx(worst, abs=0.005)
    E = bt["train_params"]["E"]
    if law == "chinchilla":  # collapsed: the fit is constrained, not determined, by the data
        assert E < 1e-6
        for p in bt["points"]:  # and it predicts the largest size too high
            assert p["pred"] > p["value"]
    else:
        assert 0.02 < E < 0.2  # measured 0.051
        for p in bt["points"]:  # it predicts the largest size too low
            assert p["pred"] < p["value"]
