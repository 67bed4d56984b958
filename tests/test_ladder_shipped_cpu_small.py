"""The cpu-small ladder shipped in data/ (μP): its largest size backtests from the others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _ladder_stores import final_val_losses

import scalefit

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
    for r in runs.index:  # every rung in μP from base width 32, at the preset's one LR
        rung = json.loads(runs.loc[r, "meta"])["rung"]
        assert (rung["param"], rung["base_width"]) == ("mup", 32)
    assert runs["lr_max"].nunique() == 1
    # validation loss falls with size at every tokens-per-param multiple ...
    for m in sorted(set(mult.values())):
        rs = sorted((r for r in runs.index if mult[r] == m), key=lambda r: n[r])
        assert np.all(np.diff(final[rs].to_numpy()) < -0.03), (m, final[rs].to_numpy())
    # ... and with data at every size
    for _, grp in runs.groupby("params"):
        rs = sorted(grp.index, key=lambda r: mult[r])
        assert np.all(np.diff(final[rs].to_numpy()) < -0.02)


# The backtest as measured (mean / max relative error on the two runs of the largest size) and
# a range for E. Both laws predict the largest size about 5% too low: it falls short of the
# trend of the smaller ones (the 1% this ladder was sized for is not reached).
MEASURED = {"chinchilla": (0.0493, 0.0520), "power:x=C": (0.0580, 0.0597)}
E_RANGE = {"chinchilla": (0.05, 0.6), "power:x=C": (0.2, 0.8)}  # measured 0.173, 0.440


@pytest.mark.parametrize("law", ["chinchilla", "power:x=C"])
def test_the_largest_size_backtests_from_the_others(store, law):
    res = scalefit.fit(store, law=law, metric="val/loss", holdout="size:1")
    bt = res.backtest
    n = store.runs.set_index("run")["params"]
    assert {n[r] for r in bt["heldout_runs"]} == {n.max()} and len(bt["heldout_runs"]) == 2
    mean, worst = MEASURED[law]
    assert bt["mean_rel_error"] == pytest.approx(mean, abs=0.005)
    assert bt["max_rel_error"] == pytest.approx(worst, abs=0.005)
    for p in bt["points"]:  # the largest size does worse than its trend: predicted too low
        assert p["pred"] < p["value"]
    # E is determined by the data, not pinned at 0 (as on cpu-tiny)
    assert E_RANGE[law][0] < bt["train_params"]["E"] < E_RANGE[law][1]
    assert "E" not in (res.diagnostics.get("at_bound") or [])
