"""The ladders' seed scatter (data/ladder-seeds.csv, with seed 0 from the stores it was measured
on: data/ladder-cpu-small-20261206/ and data/ladder-cpu-tiny-sp/), and what the backtest gives
on seed means: the numbers docs/ladder.md quotes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _ladder_stores import final_val_losses

import scalefit

DATA = Path(__file__).resolve().parents[1] / "data"
#: the store holding seed 0 of the runs in ladder-seeds.csv: cpu-tiny's seeds were trained in
#: SP, the preset's parametrisation then
SEED0 = {"cpu-small": "ladder-cpu-small-20261206", "cpu-tiny": "ladder-cpu-tiny-sp"}


def _three_seeds(preset: str) -> pd.DataFrame:
    """One row per rung with three seeds: its inputs and the losses of seeds 0, 1, 2."""
    extra = pd.read_csv(DATA / "ladder-seeds.csv")
    extra = extra[extra["preset"] == preset]
    runs, final, _ = final_val_losses(scalefit.Store(DATA / SEED0[preset], create=False))
    piv = extra.pivot_table(index="rung", columns="seed", values="val_loss")
    piv = piv[piv.notna().sum(axis=1) == 2]
    names = [f"{preset}/{r}" for r in piv.index]
    out = pd.DataFrame({"run": list(piv.index), "N": runs.loc[names, "params"].to_numpy(float),
                        "D": runs.loc[names, "tokens_total"].to_numpy(float),
                        "C": runs.loc[names, "flops_total"].to_numpy(float),
                        "s0": final.loc[names].to_numpy(float),
                        "s1": piv[1].to_numpy(float), "s2": piv[2].to_numpy(float)})
    # the extra runs are of the shipped rungs: same parameters and tokens
    meta = extra.drop_duplicates("rung").set_index("rung").loc[out["run"]]
    assert np.array_equal(meta["params"].to_numpy(float), out["N"].to_numpy())
    assert np.array_equal(meta["tokens"].to_numpy(float), out["D"].to_numpy())
    return out


def _pooled(t: pd.DataFrame) -> float:
    logs = np.log(t[["s0", "s1", "s2"]].to_numpy())
    dev = logs - logs.mean(axis=1, keepdims=True)
    return float(np.sqrt(np.sum(dev**2) / (logs.size - len(t))))


def test_pooled_seed_scatter_of_the_cpu_ladders():
    small, tiny = _three_seeds("cpu-small"), _three_seeds("cpu-tiny")
    assert len(small) == 13 and len(tiny) == 14
    assert _pooled(small[small["N"] < small["N"].max()]) == pytest.approx(0.0248, abs=5e-4)
    assert _pooled(tiny) == pytest.approx(0.0172, abs=5e-4)
    # the widest cpu-small rung: 1.362, 1.341, 1.362
    top = small[small["N"] == small["N"].max()].iloc[0]
    assert [top.s0, top.s1, top.s2] == pytest.approx([1.3625, 1.3405, 1.3621], abs=2e-4)


def _backtest(t: pd.DataFrame, law: str) -> tuple[float, float]:
    """Fit the seed means of every size but the largest, predict the shipped largest runs'
    seed 0 (cpu-small: its L3-d160-t10 has one seed); (mean relative error, fitted E)."""
    runs, final, _ = final_val_losses(scalefit.Store(DATA / "ladder-cpu-small-20261206",
                                                     create=False))
    fit_rows = t[t["N"] < t["N"].max()].assign(loss=lambda d: d[["s0", "s1", "s2"]].mean(axis=1))
    res = scalefit.fit(fit_rows[["run", "N", "D", "C", "loss"]], law=law)
    held = [n for n in runs.index if runs.loc[n, "params"] == runs["params"].max()]
    N, D, C = (runs.loc[held, c].to_numpy(float) for c in ("params", "tokens_total", "flops_total"))
    pred = np.asarray(res.predict(N=N, D=D, C=C), float)
    y = final.loc[held].to_numpy(float)
    return float(np.mean(np.abs(pred - y) / y)), float(dict(res.params_).get("E", np.nan))


def test_cpu_small_backtest_on_seed_means():
    t = _three_seeds("cpu-small")
    err, E = _backtest(t, "chinchilla")
    # 8.60% on the shipped single seeds; the seeds explain part of the miss, not all
    assert err == pytest.approx(0.0569, abs=1e-3)
    assert E == pytest.approx(0.50, abs=0.02)  # off its bound, unlike the single-seed fit's 0
    err, _ = _backtest(t, "power:x=C")
    assert err == pytest.approx(0.0226, abs=1e-3)  # 1.67% on the shipped single seeds


def test_one_width_moves_the_forecast_by_more_than_itself():
    """Width 96's seed means 3% or 5% lower (what its LR is worth, below) move Chinchilla's
    forecast of the widest size by about 5 and 8 points (5.69% too high as trained, 0.78% off,
    2.4% too low): a 1% backtest needs each width right to about half a per cent."""
    t = _three_seeds("cpu-small")
    out = {}
    for factor in (0.97, 0.95):
        s = t.copy()
        at96 = s["N"] == sorted(s["N"].unique())[3]
        s.loc[at96, ["s0", "s1", "s2"]] *= factor
        out[factor] = _backtest(s, "chinchilla")
    assert out[0.97][0] == pytest.approx(0.0078, abs=1e-3)  # against 5.69% as trained
    assert out[0.97][1] == pytest.approx(0.19, abs=0.02)
    assert out[0.95][0] == pytest.approx(0.0237, abs=1e-3)
    assert out[0.95][1] == pytest.approx(0.0, abs=1e-3)  # E back at its bound


def test_the_lr_rule_against_each_rungs_best_lr():
    """data/ladder-lr-probes.csv: rungs of cpu-small at a multiple of the preset's LR rule,
    against the same rungs at the rule (seed 0 shipped, seeds 1-2 in ladder-seeds.csv)."""
    probes = pd.read_csv(DATA / "ladder-lr-probes.csv")
    t = _three_seeds("cpu-small").set_index("run")
    at_rule = t[["s0", "s1", "s2"]].mean(axis=1)

    def change(rung, mult, seeds=None):
        p = probes[(probes["rung"] == rung) & (probes["lr_mult"] == mult)]
        ref = at_rule[rung] if seeds is None else t.loc[rung, [f"s{s}" for s in seeds]].mean()
        return float(p["val_loss"].mean() / ref - 1)

    # width 96's shortest run wants 1.78x the rule (three seeds each: 1.662 against 1.753) ...
    assert change("L3-d96-t5", 1.78) == pytest.approx(-0.052, abs=2e-3)
    assert change("L3-d96-t5", 2.37, seeds=(0, 1)) == pytest.approx(-0.045, abs=2e-3)
    assert change("L3-d96-t10", 1.78, seeds=(0,)) == pytest.approx(-0.034, abs=2e-3)
    # ... while its longest run, the widest size and width 48 want the rule or less
    assert change("L3-d96-t20", 1.78, seeds=(0,)) == pytest.approx(0.009, abs=2e-3)
    assert change("L3-d160-t5", 1.78) == pytest.approx(0.033, abs=2e-3)
    assert change("L3-d48-t5", 1.78, seeds=(0,)) == pytest.approx(0.136, abs=2e-3)
    # the probes are of the shipped rungs, at their own steps and the rule's LR times lr_mult
    assert np.allclose(probes["lr"], probes["rule_lr"] * probes["lr_mult"], rtol=5e-3)
