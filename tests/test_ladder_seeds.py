"""Runs of a rung that differ only in their seed: their scatter, and the backtest on seed means."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit.ladder.backtest import ladder_backtest, replicate_groups, seed_scatter

E, A, B, ALPHA, BETA = 1.0, 40.0, 60.0, 0.30, 0.28
SIGMA = 0.02  # a run's log-loss scatter with the seed (cpu-small's measured 2.5%, cpu-tiny's 1.7%)


def _store(path, seeds: int, sigma: float = SIGMA, rng_seed: int = 0):
    rng = np.random.default_rng(rng_seed)
    runs, points = [], []
    for d, n in ((16, 2e4), (24, 5e4), (32, 1.2e5), (48, 3e5), (64, 8e5)):
        for mult in (5, 10, 20):
            tokens = mult * n
            for s in range(seeds):
                rung = f"L2-d{d}-t{mult}" + (f"-s{s}" if seeds > 1 else "")
                name = f"toy/{rung}"
                tags = {"family": "scalefit-ladder", "preset": "toy", "rung": rung, "seed": s,
                        "d_model": d, "tokens_per_param": mult}
                runs.append({"run": name, "params": n, "tokens_total": tokens,
                             "flops_total": 6 * n * tokens, "lr_max": 0.01,
                             "schedule": "cosine:peak=0.01", "tags": json.dumps(tags)})
                loss = (E + A / n**ALPHA + B / tokens**BETA) * math.exp(sigma * rng.standard_normal())
                points.append({"run": name, "step": 100, "tokens": tokens, "metric": "val/loss",
                               "value": loss})
    st = scalefit.Store(path)
    st.add(pd.DataFrame(runs), pd.DataFrame(points))
    return path


def test_seed_scatter_recovers_the_noise_of_one_run(tmp_path):
    path = _store(tmp_path / "s", seeds=4)
    sc = seed_scatter(path)
    assert sc["rungs"] == 15 and sc["runs"] == 60
    # pooled over 45 degrees of freedom: the estimate is within about 20% of sigma
    assert sc["scatter"] == pytest.approx(SIGMA, rel=0.25)
    # the same number by hand: log-losses around each rung's mean
    st = scalefit.Store(path, create=False)
    final = st.points.set_index("run")["value"]
    rung = final.index.str.replace(r"-s\d+$", "", regex=True)
    logs = np.log(final.to_numpy())
    dev = logs - pd.Series(logs).groupby(rung).transform("mean").to_numpy()
    assert sc["scatter"] == pytest.approx(math.sqrt(np.sum(dev**2) / (60 - 15)), rel=1e-12)


def test_one_seed_per_rung_has_no_scatter(tmp_path):
    assert seed_scatter(_store(tmp_path / "s", seeds=1)) is None


def test_replicates_are_runs_that_differ_only_in_seed(tmp_path):
    st = scalefit.Store(_store(tmp_path / "s", seeds=2), create=False)
    runs = st.runs.set_index("run")
    groups = replicate_groups(runs, list(runs.index))
    assert len(set(groups.values())) == 15
    assert groups["toy/L2-d16-t5-s0"] == groups["toy/L2-d16-t5-s1"]
    assert groups["toy/L2-d16-t5-s0"] != groups["toy/L2-d16-t10-s0"]
    # another LR is another rung, not a seed
    other = runs.copy()
    other.loc["toy/L2-d16-t5-s1", "lr_max"] = 0.02
    assert replicate_groups(other, list(other.index))["toy/L2-d16-t5-s1"] != groups["toy/L2-d16-t5-s0"]


def test_backtest_reports_the_error_of_the_held_out_rungs_seed_means(tmp_path):
    path = _store(tmp_path / "s", seeds=3)
    rows = {r["law"]: r for r in ladder_backtest(path, laws=("chinchilla",))}
    row = rows["chinchilla"]
    assert len(row["heldout_runs"]) == 9  # the largest size: 3 multiples x 3 seeds
    bt = scalefit.fit(scalefit.Store(path, create=False), law="chinchilla", metric="val/loss",
                      holdout="size:1").backtest
    pts = pd.DataFrame(bt["points"])
    pts["rung"] = pts["run"].str.replace(r"-s\d+$", "", regex=True)
    g = pts.groupby("rung")[["value", "pred"]].mean()
    want = float(np.mean(np.abs(g["pred"] - g["value"]) / g["value"]))
    assert row["rung_mean_rel_error"] == pytest.approx(want, rel=1e-9)
    one = ladder_backtest(_store(tmp_path / "one", seeds=1), laws=("chinchilla",))[0]
    assert one["rung_mean_rel_error"] is None


def test_the_ladder_table_prints_the_seed_scatter(tmp_path, capsys):
    from scalefit.cli.ladder import _print_backtest

    path = _store(tmp_path / "s", seeds=3)
    _print_backtest(str(path))
    out = " ".join(capsys.readouterr().out.split())
    sc = seed_scatter(path)
    assert f"seed scatter: one run falls {sc['scatter']:.2%}" in out
    assert "error of seed means" in out
    _print_backtest(str(_store(tmp_path / "one", seeds=1)))
    out = " ".join(capsys.readouterr().out.split())
    assert "one seed per rung" in out and "seed scatter:" not in out
