"""Each size at its best LR: runs that differ only in their peak LR, and the fit of the best."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import scalefit
from scalefit.cli import app
from scalefit.errors import UsageError
from scalefit.ladder.backtest import ladder_backtest
from scalefit.lr_sweeps import best_lr_runs, rung_keys

E, A, B, ALPHA, BETA = 1.2, 60.0, 200.0, 0.32, 0.30
SIZES = ((16, 2e4), (24, 5e4), (32, 1.2e5), (48, 3e5), (64, 8e5))
MULTS = (0.56, 1.0, 1.78)
CURV = 0.08  # loss grows by CURV * ln(lr / best)^2: 1.8x off the best costs 2.8%


def _rule_miss(d: int) -> float:
    """How far the rule's LR is below each width's best: exact at 16 and 64, 1.78x at 48."""
    return {16: 1.0, 24: 0.56, 32: 1.0, 48: 1.78, 64: 1.0}[d]


def _loss(n, tokens, lr_mult, d):
    off = math.log(lr_mult / _rule_miss(d))
    return (E + A / n**ALPHA + B / tokens**BETA) * (1 + CURV * off**2)


def _add_run(runs, points, rung, n, tokens, steps, peak, tags, value):
    """One toy run of ``n`` parameters and ``tokens`` at peak LR ``peak``, its final val/loss."""
    runs.append({"run": f"toy/{rung}", "params": n, "tokens_total": tokens,
                 "flops_total": 6 * n * tokens, "lr_max": peak, "batch_size": 4, "seq_len": 128,
                 "schedule": f"cosine:peak={peak!r},warmup=10,steps={steps},final={peak / 10!r}",
                 "tags": json.dumps(tags)})
    points.append({"run": f"toy/{rung}", "step": steps, "tokens": tokens, "metric": "val/loss",
                   "value": value})


def _store(path, mults=MULTS, seeds=1, sigma=0.0, diverged=()):
    """A toy sweep; the runs named in ``diverged`` log NaN after their final value."""
    rng = np.random.default_rng(0)
    runs, points = [], []
    for d, n in SIZES:
        for tpp in (5, 10, 20):
            tokens, steps = tpp * n, int(tpp * n / 512)
            for lm in mults:
                for s in range(seeds):
                    rung = f"L2-d{d}-t{tpp}" + (f"-lr{lm:g}" if len(mults) > 1 else "") \
                        + (f"-s{s}" if seeds > 1 else "")
                    peak = 0.01 * lm
                    tags = {"preset": "toy", "rung": rung, "seed": s, "lr_mult": lm,
                            "tokens_per_param": tpp}
                    y = _loss(n, tokens, lm, d) * math.exp(sigma * rng.standard_normal())
                    _add_run(runs, points, rung, n, tokens, steps, peak, tags, y)
                    if f"toy/{rung}" in diverged:
                        points.append({"run": f"toy/{rung}", "step": steps + 1,
                                       "tokens": tokens + 512, "metric": "val/loss",
                                       "value": float("nan")})
    st = scalefit.Store(path)
    st.add(pd.DataFrame(runs), pd.DataFrame(points))
    return scalefit.Store(path, create=False)


def test_the_best_lr_of_each_rung_is_kept(tmp_path):
    st = _store(tmp_path / "s")
    keep, swept = best_lr_runs(st, "val/loss")
    assert len(keep) == 15 and len(swept) == 15
    for s in swept:
        d = int(s["runs"][0].split("-d")[1].split("-")[0])
        assert s["best_lr"] == pytest.approx(0.01 * _rule_miss(d))
        assert s["lrs"] == pytest.approx([0.0056, 0.01, 0.0178])
        assert s["seeds"] == [1, 1, 1]
    # the kept runs are the sweep's minima, in the store's order
    assert keep == [r for r in st.runs["run"] if r in {x for s in swept for x in s["runs"]}]


def test_the_best_lrs_forecast_the_largest_size_where_one_rule_does_not(tmp_path):
    st = _store(tmp_path / "s")
    keep, _ = best_lr_runs(st, "val/loss")
    best = scalefit.fit(st, law="chinchilla", metric="val/loss", holdout="size:1", runs=keep)
    rule = [r for r in st.runs["run"] if r.split("-lr")[1] == "1"]
    one_rule = scalefit.fit(st, law="chinchilla", metric="val/loss", holdout="size:1", runs=rule)
    # the held-out size is at its best LR under the rule too, so both predict the same runs
    assert best.backtest["mean_rel_error"] < 1e-3
    assert one_rule.backtest["mean_rel_error"] > 0.01  # width 48's 2.8% miss bends the fit
    assert best.params_["alpha"] == pytest.approx(ALPHA, rel=1e-3)
    assert ladder_backtest(st, laws=("chinchilla",))[0]["mean_rel_error"] == pytest.approx(
        best.backtest["mean_rel_error"], abs=1e-9)


def test_a_run_that_ends_in_nan_is_left_out_not_judged_by_an_earlier_value(tmp_path):
    """Width 48's best LR (1.78x) diverges after logging its best loss: its final value is
    NaN, which a fit of final values drops, so the sweep must not choose it either."""
    bad = "toy/L2-d48-t10-lr1.78"
    st = _store(tmp_path / "s", diverged=(bad,))
    keep, swept = best_lr_runs(st, "val/loss")
    assert bad not in keep
    assert "toy/L2-d48-t10-lr1" in keep  # the better of the two LRs left
    rung = next(r for r in swept if "toy/L2-d48-t10-lr1" in r["runs"])
    assert rung["lrs"] == pytest.approx([0.0056, 0.01])


def test_seed_means_choose_the_lr_not_the_luckiest_seed(tmp_path):
    st = _store(tmp_path / "s", seeds=3, sigma=0.03)
    keep, swept = best_lr_runs(st, "val/loss")
    pts = st.points.set_index("run")["value"]
    for s in swept:
        stem = s["runs"][0].rsplit("-lr", 1)[0]
        means = {lr: float(np.mean([pts[f"{stem}-lr{lr / 0.01:.3g}-s{k}"] for k in range(3)]))
                 for lr in s["lrs"]}
        assert s["best_lr"] == min(means, key=means.get)
        assert s["losses"] == pytest.approx([means[lr] for lr in s["lrs"]])
        assert len(s["runs"]) == 3 and s["seeds"] == [3, 3, 3]
    assert len(keep) == 45


def test_rungs_are_the_same_model_and_data_up_to_the_lr(tmp_path):
    st = _store(tmp_path / "s")
    runs = st.runs.set_index("run")
    names = list(runs.index)
    up_to_lr = rung_keys(runs, names, ignore_lr=True)
    exact = rung_keys(runs, names)
    a, b = "toy/L2-d16-t5-lr0.56", "toy/L2-d16-t5-lr1"
    assert up_to_lr[a] == up_to_lr[b] and exact[a] != exact[b]
    assert len(set(up_to_lr.values())) == 15 and len(set(exact.values())) == 45
    # another schedule shape (decay to 0 instead of 10%) is another rung
    other = runs.copy()
    other.loc[a, "schedule"] = other.loc[a, "schedule"].split(",final=")[0] + ",final=0.0"
    assert rung_keys(other, names, ignore_lr=True)[a] != up_to_lr[b]
    # so is another batch
    other = runs.copy()
    other.loc[a, "batch_size"] = 8
    assert rung_keys(other, names, ignore_lr=True)[a] != up_to_lr[b]


def test_a_store_without_a_sweep_says_what_to_do(tmp_path):
    st = _store(tmp_path / "s", mults=(1.0,))
    with pytest.raises(UsageError, match="no runs differ only in their LR") as e:
        best_lr_runs(st, "val/loss")
    assert "--lr-mult" in e.value.hint
    # the ladder's own backtest then fits every run
    assert ladder_backtest(st, laws=("chinchilla",))[0]["lr_sweep"] is None
    with pytest.raises(UsageError):
        ladder_backtest(st, laws=("chinchilla",), best_lr=True)


def test_fit_and_compare_take_best_lr_from_the_cli(tmp_path):
    _store(tmp_path / "s")
    runner = CliRunner()
    out = runner.invoke(app, ["fit", "--store", str(tmp_path / "s"), "--law", "chinchilla",
                              "--metric", "val/loss", "--holdout", "size:1", "--bootstrap", "0",
                              "--best-lr", "--no-plot", "--json", str(tmp_path / "f.json")])
    assert out.exit_code == 0, out.output
    assert "--best-lr: 15 sizes trained at several LRs" in out.output
    assert "toy/L2-d48-t5-lr1.78: LR 0.0178" in out.output
    saved = json.loads((tmp_path / "f.json").read_text())
    assert saved["n_runs"] == 15
    assert saved["params"]["alpha"] == pytest.approx(ALPHA, rel=1e-3)
    out = runner.invoke(app, ["compare", "--store", str(tmp_path / "s"), "--law", "chinchilla",
                              "--metric", "val/loss", "--best-lr"])
    assert out.exit_code == 0, out.output
    assert "1. chinchilla" in out.output
    out = runner.invoke(app, ["fit", "--store", str(tmp_path / "s"), "--law", "multi_power",
                              "--best-lr", "--no-plot"])
    assert out.exit_code != 0 and isinstance(out.exception, UsageError)
    assert out.exception.where == "--best-lr"


def test_the_ladder_table_says_each_size_is_at_its_best_lr(tmp_path, capsys):
    from scalefit.cli.ladder import _print_backtest

    _store(tmp_path / "s")
    _print_backtest(str(tmp_path / "s"))
    out = " ".join(capsys.readouterr().out.split())
    assert "each size fitted at its best LR: 15 rungs trained at 3 LRs" in out
    assert out.rstrip().endswith("--holdout size:1 --best-lr")
    # the held-out runs are the largest size's best-LR runs
    row = ladder_backtest(tmp_path / "s", laws=("chinchilla",))[0]
    assert sorted(row["heldout_runs"]) == sorted(f"toy/L2-d64-t{t}-lr1" for t in (5, 10, 20))


def test_a_saved_best_lr_fit_names_its_store_and_runs(tmp_path):
    _store(tmp_path / "s")
    out = CliRunner().invoke(app, ["fit", "--store", str(tmp_path / "s"), "--law", "chinchilla",
                                   "--metric", "val/loss", "--bootstrap", "0", "--best-lr",
                                   "--no-plot", "--json", str(tmp_path / "f.json")])
    assert out.exit_code == 0, out.output
    settings = json.loads((tmp_path / "f.json").read_text())["settings"]
    assert settings["data"] == {"store": str((tmp_path / "s").resolve())}
    keep, _ = best_lr_runs(scalefit.Store(tmp_path / "s", create=False), "val/loss")
    assert settings["data_options"]["runs"] == keep
    # so does a fit of the runs named with --runs, and --best-lr picks among those
    named = [r for r in keep if "-d64-" not in r] + ["toy/L2-d64-t5-lr0.56"]
    out = CliRunner().invoke(app, ["fit", "--store", str(tmp_path / "s"), "--law", "chinchilla",
                                   "--metric", "val/loss", "--bootstrap", "0", "--no-plot",
                                   "--runs", ",".join(named), "--json", str(tmp_path / "g.json")])
    assert out.exit_code == 0, out.output
    saved = json.loads((tmp_path / "g.json").read_text())
    assert saved["settings"]["data"] == {"store": str((tmp_path / "s").resolve())}
    assert saved["settings"]["data_options"]["runs"] == named and saved["n_runs"] == 13
    out = CliRunner().invoke(app, ["fit", "--store", str(tmp_path / "s"), "--law", "chinchilla",
                                   "--metric", "val/loss", "--bootstrap", "0", "--no-plot",
                                   "--best-lr", "--runs", ",".join(named + [
                                       "toy/L2-d64-t5-lr1", "toy/L2-d64-t5-lr1.78"]),
                                   "--json", str(tmp_path / "h.json")])
    assert out.exit_code == 0, out.output
    runs = json.loads((tmp_path / "h.json").read_text())["settings"]["data_options"]["runs"]
    assert sorted(runs) == sorted(keep[:12] + ["toy/L2-d64-t5-lr1"])


def _beta2_store(path):
    """Every toy rung at the rule's LR with beta2 0.95 (untagged, as a default run) and 0.99
    (tagged, ``-beta0.99``), the three wider better at 0.99; two seeds at 0.95."""
    runs, points = [], []
    for d, n in SIZES:
        tokens, steps = 10 * n, int(10 * n / 512)
        for b2, seeds in ((None, 2), (0.99, 1)):
            for s in range(seeds):
                rung = f"L2-d{d}-t10" + ("" if b2 is None else "-beta0.99") + f"-s{s}"
                tags = {"rung": rung, "seed": s, "tokens_per_param": 10}
                if b2 is not None:
                    tags["beta2"] = b2
                gain = 1.0 if b2 is None else (0.95 if d >= 32 else 1.03)
                noise = 0.01 * s if b2 is None else 0.0
                _add_run(runs, points, rung, n, tokens, steps, 0.01, tags,
                         _loss(n, tokens, 1.0, 16) * gain * (1 + noise))
    st = scalefit.Store(path)
    st.add(pd.DataFrame(runs), pd.DataFrame(points))
    return scalefit.Store(path, create=False)


def test_beta2_is_chosen_per_rung_like_the_lr(tmp_path):
    st = _beta2_store(tmp_path / "s")
    keep, swept = best_lr_runs(st, "val/loss")
    assert len(swept) == 5
    for s in swept:
        d = int(s["runs"][0].split("-d")[1].split("-")[0])
        assert s["lrs"] == [0.01, 0.01] and s["beta2s"] == [None, 0.99]
        assert s["seeds"] == [2, 1]  # the 0.95 runs are each other's seeds, not the 0.99 run's
        assert s["best_lr"] == 0.01 and s["best_beta2"] == (0.99 if d >= 32 else None)
        assert s["losses"][1] / s["losses"][0] == pytest.approx((0.95 if d >= 32 else 1.03)
                                                                / 1.005)
    assert sorted(keep) == sorted(
        [f"toy/L2-d{d}-t10-s0" for d in (16, 24)] + [f"toy/L2-d{d}-t10-s1" for d in (16, 24)]
        + [f"toy/L2-d{d}-t10-beta0.99-s0" for d in (32, 48, 64)])
    res = CliRunner().invoke(app, ["fit", "--store", str(tmp_path / "s"), "--law", "chinchilla",
                                   "--best-lr", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    assert "5 sizes trained at several LRs or beta2s" in res.output
    assert "toy/L2-d64-t10-beta0.99-s0: LR 0.01 beta2 0.99 (" in res.output
    assert "0.01 beta2 default: " in res.output  # the other setting beside it
