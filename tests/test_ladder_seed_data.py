"""The shipped ladders' seed scatter (data/ladder-seeds.csv with the stores' seed 0), and what
the backtest gives on seed means: the numbers docs/ladder.md quotes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _ladder_stores import final_val_losses

import scalefit

DATA = Path(__file__).resolve().parents[1] / "data"


def _three_seeds(preset: str) -> pd.DataFrame:
    """One row per rung with three seeds: its inputs and the losses of seeds 0, 1, 2."""
    extra = pd.read_csv(DATA / "ladder-seeds.csv")
    extra = extra[extra["preset"] == preset]
    runs, final, _ = final_val_losses(scalefit.Store(DATA / f"ladder-{preset}", create=False))
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
    runs, final, _ = final_val_losses(scalefit.Store(DATA / "ladder-cpu-small", create=False))
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
