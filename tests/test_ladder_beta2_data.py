"""The cpu-small ladder at AdamW beta2 0.99 (data/ladder-cpu-small-beta2/) beside the one at 0.95
it was made with (data/ladder-cpu-small-20261206/, μP attention at 1/head_dim): the wider rungs
want the slower second moment, and each rung at its better beta2 brings Chinchilla's backtest of
the widest size from 8.6% to under 1% (docs/ladder.md, "AdamW's beta2 at each width")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _ladder_stores import final_val_losses

import scalefit
from scalefit.ladder.backtest import ladder_backtest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def beta2():
    return scalefit.Store(DATA / "ladder-cpu-small-beta2", create=False)


@pytest.fixture(scope="module")
def both(tmp_path_factory, beta2):
    st = scalefit.Store(tmp_path_factory.mktemp("b2") / "store")
    for src in (scalefit.Store(DATA / "ladder-cpu-small-20261206", create=False), beta2):
        st.add(src.runs.drop(columns=["source", "source_hash", "ingested_at"]), src.points,
               source="merged")
    return scalefit.Store(st.path, create=False)


def test_every_rung_again_at_beta2_099(beta2):
    shipped, f95, _ = final_val_losses(scalefit.Store(DATA / "ladder-cpu-small-20261206",
                                                      create=False))
    runs, f99, mult = final_val_losses(beta2)
    assert sorted(runs.index) == sorted(f"{r}-beta0.99" for r in shipped.index)
    for r in runs.index:
        base = r.removesuffix("-beta0.99")
        rung = json.loads(runs.loc[r, "meta"])["rung"]
        assert rung["beta2"] == 0.99 and json.loads(runs.loc[r, "tags"])["beta2"] == 0.99
        # the same model, data and LR: only the optimizer's second moment differs
        assert runs.loc[r, "lr_max"] == shipped.loc[base, "lr_max"]
        assert runs.loc[r, "tokens_total"] == shipped.loc[base, "tokens_total"]
    change = {r.removesuffix("-beta0.99").split("/")[1]: f99[r] / f95[r.removesuffix("-beta0.99")]
              - 1 for r in runs.index}
    # the narrow widths want 0.95 (L3-d32-t10: a tie), width 96 wants 0.99 at every length
    narrow = [change[k] for k in change if "-d32-" in k or "-d48-" in k]
    assert sum(c > 0.005 for c in narrow) == 5 and min(narrow) > -0.005, change
    assert all(change[k] < -0.01 for k in change if "-d96-" in k), change
    assert change["L3-d96-t10"] < -0.08 and change["L3-d96-t5"] < -0.05
    assert all(abs(change[k]) < 0.01 for k in change if "-d160-" in k), change


# mean / max relative error on the widest size's two runs, and E fitted without them: Chinchilla's
# law comes within 0.8% (8.6% on the shipped 0.95 store alone) but with E still at its bound; the
# power law in compute moves the other way (1.67% -> 2.3%)
MEASURED = {"chinchilla": (0.0078, 0.0111, 0.0), "power:x=C": (0.0232, 0.0376, 0.381)}


@pytest.mark.parametrize("law", ["chinchilla", "power:x=C"])
def test_each_rung_at_its_better_beta2_backtests(both, law):
    (row,) = ladder_backtest(both, laws=(law,))
    best = {s["runs"][0].split("/")[1].removesuffix("-beta0.99"): s["best_beta2"]
            for s in row["lr_sweep"]}
    assert len(best) == 14 and all(s["lrs"][0] == s["lrs"][1] for s in row["lr_sweep"])
    # 0.99 at every width-96 rung and at 7 of the 14
    assert sum(b == 0.99 for b in best.values()) == 7
    assert all(best[f"L3-d96-t{t}"] == 0.99 for t in (5, 10, 20))
    mean, worst, e = MEASURED[law]
    assert row["mean_rel_error"] == pytest.approx(mean, abs=1e-3)
    assert row["max_rel_error"] == pytest.approx(worst, abs=1e-3)
    assert row["E"] == pytest.approx(e, abs=0.02)


def test_beta2_099_everywhere_is_not_the_answer(beta2):
    """Every rung at 0.99: the narrow widths lose what width 96 gains, and the backtest lands
    between the two (1.45%), E at its bound."""
    (row,) = ladder_backtest(beta2, laws=("chinchilla",))
    assert row["mean_rel_error"] == pytest.approx(0.0145, abs=1e-3)
    assert row["E"] == pytest.approx(0.0, abs=1e-6)
