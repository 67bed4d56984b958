"""The cpu-small ladder of 2026-12-06 at three LRs per rung (data/ladder-cpu-small-20261206/ at
the preset's rule of then, data/ladder-cpu-small-lr/ at 0.56x and 1.78x), with seeds 1 and 2 of
every rung at each LR but L3-d160-t10 (data/ladder-seeds.csv at the rule,
data/ladder-lr-seeds.csv at 0.56x and 1.78x): each rung at its best LR, and the backtest that
gives; the numbers docs/ladder.md quotes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import scalefit
from scalefit.ladder.backtest import ladder_backtest
from scalefit.lr_sweeps import best_lr_runs

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def three_lrs(tmp_path_factory):
    path = tmp_path_factory.mktemp("lrs") / "store"
    st = scalefit.Store(path)
    for name in ("ladder-cpu-small-20261206", "ladder-cpu-small-lr"):
        src = scalefit.Store(DATA / name, create=False)
        st.add(src.runs, src.points, source=name)
    return scalefit.Store(path, create=False)


def _seed_runs(st, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each row of ``table`` (a rung, seed, LR multiplier and final val/loss) as a run of its own:
    the seed-0 run of its rung and LR, renamed ``-sK`` and tagged with the seed, whose one point
    is that final value at the seed-0 run's last step."""
    runs = st.runs.drop_duplicates("run").set_index("run")
    val = st.points[st.points["metric"] == "val/loss"].sort_values("step")
    last = val.drop_duplicates("run", keep="last").set_index("run")
    new_runs, new_points = [], []
    for row in table.itertuples():
        mult = getattr(row, "lr_mult", 1.0)
        base = f"cpu-small/{row.rung}" + ("" if mult == 1.0 else f"-lr{mult:g}")
        rec = runs.loc[base].to_dict()
        assert rec["params"] == row.params and rec["tokens_total"] == row.tokens
        assert rec["lr_max"] == pytest.approx(row.lr, rel=1e-4)
        tags = {**json.loads(rec["tags"]), "seed": int(row.seed)}
        name = f"{base}-s{row.seed}"
        new_runs.append({**{k: v for k, v in rec.items()
                            if k not in ("source", "source_hash", "ingested_at")},
                         "run": name, "tags": json.dumps(tags)})
        new_points.append({"run": name, "step": int(last.loc[base, "step"]),
                           "tokens": float(last.loc[base, "tokens"]), "metric": "val/loss",
                           "value": float(row.val_loss)})
    return pd.DataFrame(new_runs), pd.DataFrame(new_points)


@pytest.fixture(scope="module")
def three_lrs_three_seeds(tmp_path_factory, three_lrs):
    path = tmp_path_factory.mktemp("lrs3") / "store"
    st = scalefit.Store(path)
    st.add(three_lrs.runs.drop(columns=["source", "source_hash", "ingested_at"]),
           three_lrs.points, source="three LRs")
    seeds = pd.read_csv(DATA / "ladder-seeds.csv")
    seeds = seeds[seeds["preset"] == "cpu-small"]
    lr_seeds = pd.read_csv(DATA / "ladder-lr-seeds.csv")
    assert len(seeds) == 26 and len(lr_seeds) == 52
    for table, source in ((seeds, "ladder-seeds.csv"), (lr_seeds, "ladder-lr-seeds.csv")):
        st.add(*_seed_runs(three_lrs, table), source=source)
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
    rule = ladder_backtest(DATA / "ladder-cpu-small-20261206", laws=("chinchilla",))[0]
    assert rule["mean_rel_error"] == pytest.approx(0.0860, abs=1e-3)


def test_three_seeds_choose_the_lrs_and_the_law_still_misses(three_lrs_three_seeds):
    """Every rung at each of three LRs with three seeds (L3-d160-t10: one), each rung fitted at
    the LR of its lowest seed mean: the seeds do not close the gap. Chinchilla's law predicts
    the widest size 3.4% too high, further off than with one seed per LR (2.15%), E at 0;
    only kaplan_nd comes within 1.5%."""
    keep, swept = best_lr_runs(three_lrs_three_seeds, "val/loss")
    assert len(swept) == 14 and len(keep) == 40  # 13 rungs x 3 seeds + L3-d160-t10
    by = {s["runs"][0].split("/")[1].rsplit("-lr", 1)[0].rsplit("-s", 1)[0]: s for s in swept}
    assert by["L3-d96-t5"]["seeds"] == [3, 3, 3]
    assert by["L3-d96-t5"]["losses"] == pytest.approx([1.7456, 1.7535, 1.6614], abs=2e-4)
    assert by["L3-d160-t5"]["losses"] == pytest.approx([1.3513, 1.3550, 1.3905], abs=2e-4)
    rule = sum(s["best_lr"] == s["lrs"][1] for s in swept)
    assert rule == 5  # the rule's LR is the best of three at 5 of the 14 rungs
    rows = {r["law"]: r for r in ladder_backtest(
        three_lrs_three_seeds, laws=("chinchilla", "power:x=C", "kaplan_nd"))}
    chin = rows["chinchilla"]
    assert len(chin["heldout_runs"]) == 4
    assert chin["mean_rel_error"] == pytest.approx(0.0338, abs=1e-3)
    assert chin["rung_mean_rel_error"] == pytest.approx(0.0339, abs=1e-3)
    assert chin["E"] == pytest.approx(0.0, abs=1e-6)
    assert rows["power:x=C"]["mean_rel_error"] == pytest.approx(0.0363, abs=1e-3)
    assert rows["kaplan_nd"]["mean_rel_error"] == pytest.approx(0.0146, abs=1e-3)
    # the widest size at tuned LRs ends below the additive law's extrapolation; the fit puts
    # almost all the gain on D, and leaving out the narrowest widths does not bring it near 1%
    bt = scalefit.fit(three_lrs_three_seeds, law="chinchilla", metric="val/loss",
                      holdout="size:1", runs=keep, bootstrap=0).backtest
    assert all(p["pred"] > p["value"] for p in bt["points"])
    assert bt["train_params"]["alpha"] == pytest.approx(0.054, abs=0.005)
    assert bt["train_params"]["beta"] == pytest.approx(0.309, abs=0.005)
    runs = [n for n in keep if "-d32-" not in n]
    e = scalefit.fit(three_lrs_three_seeds, law="chinchilla", metric="val/loss",
                     holdout="size:1", runs=runs, bootstrap=0).backtest["mean_rel_error"]
    assert e == pytest.approx(0.0284, abs=1e-3)
    # widths 64 and 96 alone give six (N, D) points for five parameters: the fit lands on a
    # different optimum of a flat valley with the CPU's kernels and the library versions
    # (3.57% on one machine, 4.14% on another), so only the claim is pinned
    runs = [n for n in runs if "-d48-" not in n]
    e = scalefit.fit(three_lrs_three_seeds, law="chinchilla", metric="val/loss",
                     holdout="size:1", runs=runs, bootstrap=0).backtest["mean_rel_error"]
    assert 0.025 < e < 0.06


def test_three_seeds_at_the_rule_alone(three_lrs_three_seeds):
    """The same seeds at the rule's LR only (the shipped store and data/ladder-seeds.csv):
    Chinchilla's law misses the widest size by 6.7%, twice as far as at tuned LRs."""
    st = three_lrs_three_seeds
    rule = [n for n in st.runs["run"] if "-lr" not in n]
    assert len(rule) == 40
    errs = {law: scalefit.fit(st, law=law, metric="val/loss", holdout="size:1", runs=rule,
                              bootstrap=0).backtest["mean_rel_error"]
            for law in ("chinchilla", "power:x=C", "kaplan_nd")}
    assert errs["chinchilla"] == pytest.approx(0.0672, abs=1e-3)
    assert errs["power:x=C"] == pytest.approx(0.0213, abs=1e-3)
    assert errs["kaplan_nd"] == pytest.approx(0.0330, abs=1e-3)
