"""The cpu-small and cpu-tiny presets (μP by default) and the backtest table at the end of
`ladder run`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import scalefit
from scalefit.cli import run as cli
from scalefit.ladder.backtest import ladder_backtest
from scalefit.ladder.plan import PRESETS, lr_for, make_plan

TINY = Path(__file__).resolve().parents[1] / "data" / "ladder-cpu-tiny"


def _mup_lrs_by_rung(preset: str, base_width: int) -> dict[str, float]:
    """The preset's rungs, checked to be μP from ``base_width`` at the swept LR moved with each
    rung's length, lr · (steps / lr_steps)^-exponent; their LRs by name."""
    plan = make_plan(preset)
    assert {(r.param, r.base_width) for r in plan.rungs} == {("mup", base_width)}
    pre = PRESETS[preset]
    for r in plan.rungs:
        want = pre.mup_lr * (r.steps / pre.lr_steps) ** -pre.lr_horizon_exp
        assert r.lr == pytest.approx(want, rel=1e-12)
    return {r.name: r.lr for r in plan.rungs}


def test_cpu_small_is_mup_at_its_swept_lr():
    plan = make_plan("cpu-small")
    by = _mup_lrs_by_rung("cpu-small", 32)
    assert by["L3-d32-t5"] == pytest.approx(0.0288, rel=2e-3)  # 363 steps
    assert by["L3-d160-t10"] == pytest.approx(0.00603, rel=5e-3)  # 18,022 steps
    sizes = sorted({r.params for r in plan.rungs})
    assert len(sizes) >= 5 and sizes[-1] / sizes[0] >= 20
    assert 0.9e6 <= sizes[-1] <= 3e6
    assert {r.tags["tokens_per_param"] for r in plan.rungs} == {5, 10, 20}
    for r in plan.rungs:
        assert r.tokens >= 5 * r.params
        assert r.d_model % 32 == 0 or r.d_model == 48  # widths are multiples of half the base


def test_cpu_small_in_sp_and_at_another_base_width():
    sp = make_plan("cpu-small", param="sp")
    assert {r.param for r in sp.rungs} == {"sp"}
    for r in sp.rungs:  # half the LR rule, as cpu-tiny
        assert r.lr == pytest.approx(0.5 * lr_for(r.params), rel=1e-12)
    # the preset's LR was swept at base width 32: another base width takes the rule's
    other = make_plan("cpu-small", base_width=64)
    assert {r.base_width for r in other.rungs} == {64}
    assert PRESETS["cpu-small"].mup_lr not in {r.lr for r in other.rungs}


def test_cpu_tiny_is_mup_at_its_swept_lr():
    by = _mup_lrs_by_rung("cpu-tiny", 20)
    assert by["L2-d20-t10"] == pytest.approx(0.01843, rel=3e-3)  # 190 steps
    assert by["L2-d96-t20"] == pytest.approx(0.01332, rel=3e-3)  # 8,659 steps
    # --param sp keeps the rule it had: half the LR rule
    for r in make_plan("cpu-tiny", param="sp").rungs:
        assert r.param == "sp" and r.lr == pytest.approx(0.5 * lr_for(r.params), rel=1e-12)


def test_a_sweeps_lr_moves_with_run_length_where_the_preset_says(tmp_path, capsys):
    sweep = {"format": 2, "param": "mup", "base_width": 32, "best_lr": 0.02, "steps": 400}
    (tmp_path / "sw.json").write_text(json.dumps(sweep))
    plan = make_plan("cpu-small", lr=0.02, lr_steps=400)
    for r in plan.rungs:
        assert r.lr == pytest.approx(0.02 * (r.steps / 400) ** -0.40, rel=1e-12)
    assert {r.lr for r in make_plan("cpu-small", lr=0.02).rungs} == {0.02}  # length unknown
    assert {r.lr for r in make_plan("cpu-smoke", lr=0.02, lr_steps=400).rungs} == {0.02}
    bad = dict(sweep, steps=-3)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert cli(["ladder", "plan", "--preset", "cpu-small", "--lr-from",
                str(tmp_path / "bad.json"), "--no-probe"]) != 0
    capsys.readouterr()
    assert cli(["ladder", "plan", "--preset", "cpu-small", "--lr-from", str(tmp_path / "sw.json"),
                "--no-probe", "--json"]) == 0
    rungs = {r["name"]: r for r in json.loads(capsys.readouterr().out)["rungs"]}
    r = rungs["L3-d160-t10"]
    assert r["lr"] == pytest.approx(0.02 * (r["steps"] / 400) ** -0.40, rel=1e-9)


def test_cli_plan_defaults_to_the_presets_parametrisation(capsys):
    assert cli(["ladder", "plan", "--preset", "cpu-small", "--no-probe", "--json"]) == 0
    rungs = json.loads(capsys.readouterr().out)["rungs"]
    assert {r["param"] for r in rungs} == {"mup"}
    assert cli(["ladder", "plan", "--preset", "cpu-small", "--param", "sp", "--no-probe",
                "--json"]) == 0
    rungs = json.loads(capsys.readouterr().out)["rungs"]
    assert all("param" not in r for r in rungs)  # SP rungs are stored as before
    assert cli(["ladder", "plan", "--preset", "cpu-tiny", "--no-probe", "--json"]) == 0
    assert {r["param"] for r in json.loads(capsys.readouterr().out)["rungs"]} == {"mup"}


@pytest.mark.slow  # four fits of the shipped cpu-tiny store
def test_ladder_backtest_is_the_fits_size_holdout():
    rows = {r["law"]: r for r in ladder_backtest(TINY)}
    assert set(rows) == {"chinchilla", "power:x=C"}
    store = scalefit.Store(TINY, create=False)
    for law, row in rows.items():
        bt = scalefit.fit(store, law=law, metric="val/loss", holdout="size:1").backtest
        assert row["heldout_runs"] == bt["heldout_runs"]
        assert sorted(row["heldout_runs"]) == ["cpu-tiny/L2-d96-t10", "cpu-tiny/L2-d96-t20"]
        assert row["mean_rel_error"] == pytest.approx(bt["mean_rel_error"], rel=1e-6)
    # cpu-tiny (μP): the power law in compute holds to about 1%, Chinchilla's loses E
    assert rows["power:x=C"]["mean_rel_error"] < 0.02
    assert rows["chinchilla"]["mean_rel_error"] > 0.03
    assert "E" in rows["chinchilla"]["at_bound"]


@pytest.mark.slow  # two fits of the shipped cpu-tiny store
def test_the_backtest_table_names_laws_runs_and_errors(capsys):
    from scalefit.cli.ladder import _print_backtest

    _print_backtest(str(TINY))
    out = capsys.readouterr().out
    assert "chinchilla" in out and "power:x=C" in out
    assert "L2-d96-t10, L2-d96-t20" in out
    # the power law's error as the fit reports it (measured 1.79%), and Chinchilla's E at 0
    assert "1.79%" in out and "at a bound: E" in out
    assert "--holdout size:1" in out.replace("\n", " ")
