"""Every option of `scalefit fit` is applied to a loss-curve fit or refused with the reason.

The options are read from the command's signature, so a new option fails
``test_every_fit_option_is_applied_or_refused`` until its case is written here.
"""

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit.curves
import scalefit.fitting.curves
from scalefit.cli import run
from scalefit.cli.fit import fit_cmd
from scalefit.curves import Curve, CurveFitResult, MultiPower, multipower_curves
from scalefit.schedules import parse_schedule

ROOT = Path(__file__).resolve().parents[1]
MULTIPOWER = ROOT / "data" / "multipower"
TRUTH = {"L0": 3.0, "A": 0.5, "alpha": 0.5, "B": 400.0, "C": 2.0, "beta": 0.6, "gamma": 0.6}
SPECS = {"cosine": "cosine:peak=3e-4,warmup=200,steps=3000,final=3e-5",
         "constant": "constant:peak=3e-4,warmup=200,steps=3000",
         "wsd": "wsd:peak=3e-4,warmup=200,steps=3000,decay=0.2,final=3e-5"}
PEAK = 3e-4


@pytest.fixture(scope="module")
def curve_files(tmp_path_factory):
    """Three curves of a known multi-power law, logged every 25 steps after a 200-step warmup
    they do not log; ``val_loss`` is a second metric, 5% above ``loss``."""
    folder = tmp_path_factory.mktemp("curves")
    paths = []
    for name, spec in SPECS.items():
        eta = parse_schedule(spec).lr(np.arange(3000))
        steps = np.arange(200, 3000, 25)
        loss = MultiPower().predict(Curve(name, eta, steps), TRUTH)
        p = folder / f"{name}.csv"
        pd.DataFrame({"step": steps, "lr": eta[steps], "loss": loss,
                      "val_loss": 1.05 * loss}).to_csv(p, index=False)
        paths.append(str(p))
    return paths


@pytest.fixture
def spy(monkeypatch):
    """Records what the command hands to ``scalefit.curves.fit_curves``, then fits."""
    real = scalefit.fitting.curves.fit_curves
    calls = []

    def fake(data, law="auto", **kw):
        calls.append({"data": list(data), "law": law, **kw})
        calls[-1]["result"] = res = real(data, law, **kw)
        return res

    monkeypatch.setattr(scalefit.curves, "fit_curves", fake)
    return calls


def refused(option):
    def check(rc, out, err, calls, tmp):
        assert rc == 2, out
        assert f"error: {option}" in err, err
        assert not calls  # refused before anything is fitted
    return check


def applied(fn):
    def check(rc, out, err, calls, tmp):
        assert rc == 0, err
        assert len(calls) == 1
        fn(out, calls[0], tmp)
    return check


def _inputs(out, call, tmp):
    assert [c.name for c in call["data"]] == list(SPECS)
    assert call["law"] == "lr_annealing" and "curve law lr_annealing" in out
    # the default --bootstrap asks for intervals: leave-one-curve-out with 3 curves
    assert call["intervals"] is True and "leave-one-curve-out" in out
    # no --warmup: the ramp assumed before the first logged step is said
    assert out.count("assumed a linear warmup from LR 0 over steps 0-200") == 3
    # (the constant curve ramps up to its first logged step)
    assert call["data"][1].eta[100] == pytest.approx(PEAK / 2, rel=0.02)


def _law(out, call, tmp):
    assert call["law"] == "lr_annealing"


def _metric(out, call, tmp):
    for c in call["data"]:  # val_loss is 5% above the law's loss
        assert c.loss == pytest.approx(1.05 * MultiPower().predict(c, TRUTH), rel=1e-9)
    assert "on 'val_loss'" in repr(call["result"])


def _bootstrap(out, call, tmp):
    assert call["intervals"] is False and "jackknife" not in out


def _objective(out, call, tmp):
    assert (call["loss"], call["residual"]) == ("mse", "abs")
    assert "mse on abs residuals" in out


def _warmup(out, call, tmp):
    const = call["data"][1]
    assert const.eta[150] == pytest.approx(PEAK, rel=1e-9)  # warmup over by step 100
    assert const.eta[50] == pytest.approx(PEAK / 2, rel=0.03)
    assert "assumed a linear warmup" not in out


def _from_step(out, call, tmp):
    assert all(int(c.steps.min()) >= 1000 for c in call["data"])
    assert sum(len(c) for c in call["data"]) == 3 * 80  # steps 1000, 1025, ... 2975


def _max_points(out, call, tmp):
    assert call["max_points"] == 20
    assert call["result"].n_points == 3 * 20
    assert out.count("fitted at 20 of its") == 3


def _method(out, call, tmp):
    assert call["method"] == "paper"


def _json(out, call, tmp):
    res = CurveFitResult.from_json(tmp / "fit.json")
    assert res.law == "lr_annealing" and res.n_points == 3 * 112


def _plot(out, call, tmp):
    assert (tmp / "fig.png").stat().st_size > 10_000


def _no_plot(out, call, tmp):
    assert not (tmp / "fig.png").exists() and "wrote" not in out


def _names(*names):
    def check(out, call, tmp):
        assert [c.name for c in call["data"]] == list(names)
        assert all(len(c) == 112 for c in call["data"])
    return check


def _store(out, call, tmp):
    _names(*SPECS)(out, call, tmp)
    from scalefit.store import Store

    assert sorted(Store(tmp / "st", create=False).run_names()) == sorted(SPECS)


#: option (parameter of fit_cmd) -> (extra arguments, check)
CASES = {
    "inputs": ([], applied(_inputs)),
    "store": (["--store", "st"], applied(_store)),  # the files are ingested, then fitted
    "runs": (["--runs", "cosine,wsd"], applied(_names("cosine", "wsd"))),
    "format": (["--format", "csv"], applied(_names(*SPECS))),
    "regex": ([r"--regex", r"^(?P<step>\d+),(?P<lr>[^,]+),(?P<loss>[^,]+),"],
              applied(_names(*SPECS))),
    "loss_col": (["--loss-col", "val_loss"], applied(_metric)),
    "step_col": (["--step-col", "step"], applied(_names(*SPECS))),
    "lr_col": (["--lr-col", "lr"], applied(_names(*SPECS))),
    "law": ([], applied(_law)),
    "metric": (["--metric", "val_loss"], applied(_metric)),
    "bootstrap": (["--bootstrap", "0"], applied(_bootstrap)),
    "predict": (["--predict", "N=1e9,D=2e10"], refused("--predict")),
    "optimal": (["--optimal", "1e20"], refused("--optimal")),
    "holdout": (["--holdout", "largest:1"], refused("--holdout")),
    "fix": (["--fix", "L0=3"], refused("--fix")),
    "tie": (["--tie", "alpha=lam"], refused("--tie")),
    "checkpoints": (["--checkpoints"], refused("--checkpoints")),
    "include_excluded": (["--include-excluded"], refused("--include-excluded")),
    "objective": (["--objective", "mse_linear"], applied(_objective)),
    "seed": (["--seed", "7"], refused("--seed")),
    "warmup": (["--warmup", "100"], applied(_warmup)),
    "from_step": (["--from-step", "1000"], applied(_from_step)),
    "method": (["--method", "paper"], applied(_method)),
    "max_points": (["--max-points", "20"], applied(_max_points)),
    "n_params": (["--n", "25M"], refused("--n")),  # applied to joint laws: test below
    "best_lr": (["--best-lr"], refused("--best-lr")),  # final laws: tests/test_lr_sweeps.py
    "json_out": (["--json", "fit.json", "--bootstrap", "0"], applied(_json)),
    "plot": (["--plot", "fig.png", "--bootstrap", "0"], applied(_plot)),
    "no_plot": (["--plot", "fig.png", "--no-plot", "--bootstrap", "0"], applied(_no_plot)),
}


def test_every_fit_option_has_a_case():
    assert set(CASES) == set(inspect.signature(fit_cmd).parameters)


@pytest.mark.parametrize("option", sorted(CASES))
def test_every_fit_option_is_applied_or_refused(option, curve_files, spy, tmp_path,
                                                monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    extra, check = CASES[option]
    rc = run(["fit", *curve_files, "--law", "lr_annealing", *extra])
    out, err = capsys.readouterr()
    check(rc, out, err, spy, tmp_path)


def test_the_reported_command_is_refused_not_ignored(curve_files, spy, capsys):
    rc = run(["fit", *curve_files[:2], "--law", "multi_power", "--objective", "mse",
              "--checkpoints", "--optimal", "1e20", "--metric", "does_not_exist", "--seed", "7",
              "--include-excluded"])
    err = capsys.readouterr().err
    assert rc == 2 and "applies to final-loss laws" in err and not spy


def test_unknown_curve_metric_names_the_available_ones(curve_files, spy, capsys):
    assert run(["fit", *curve_files, "--law", "lr_annealing", "--metric", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no metric 'nope'" in err and "loss, val_loss" in err and not spy


def test_curve_objective_without_a_curve_form_is_refused(curve_files, spy, capsys):
    assert run(["fit", *curve_files, "--law", "lr_annealing", "--objective", "asymmetric"]) == 2
    err = capsys.readouterr().err
    assert "error: --objective" in err and "huber, mse, mse_linear" in err and not spy


def test_model_sizes_go_to_the_joint_law(curve_files, spy, capsys):
    args = ["fit", *curve_files, "--law", "joint_lr_annealing", "-b", "0"]
    assert run([*args, "--n", "10M", "--n", "20M", "--n", "4e7"]) == 0
    assert [c.N for c in spy[0]["data"]] == [1e7, 2e7, 4e7]
    assert "curve law joint_lr_annealing" in capsys.readouterr().out
    assert run([*args, "--n", "10M", "--n", "20M"]) == 2
    assert "given 2 times for 3 runs" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--warmup", "100"], ["--from-step", "10"],
                                   ["--max-points", "50"],
                                   ["--method", "lbfgs"], ["--n", "1e9"]])
def test_final_loss_law_refuses_curve_options(extra, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = run(["fit", str(ROOT / "data" / "chinchilla.csv"), "-b", "0", "--holdout", "none",
              "--no-plot", *extra])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: {extra[0]}: applies to loss-curve laws" in err


TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
TEST = ["constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3",
        "wsdcon_18"]


@pytest.mark.slow
def test_multipower_fit_from_the_command_line_matches_the_api(tmp_path, capsys):
    """--warmup 2160 (the multi-power logs start after it) gives the API's forecast: PredE,
    the mean relative error over the six held-out schedules (Luo et al. 2025)."""
    folder = MULTIPOWER / "25M"
    out = tmp_path / "fit.json"
    assert run(["fit", *(str(folder / f"{n}.csv") for n in TRAIN), "--law", "multi_power",
                "--warmup", "2160", "--bootstrap", "0", "--json", str(out)]) == 0
    assert "assumed a linear warmup" not in capsys.readouterr().out
    cli = CurveFitResult.from_json(out)
    api = scalefit.curves.fit_curves(multipower_curves(folder, TRAIN), "multi_power")
    test = multipower_curves(folder, TEST)

    def pred_e(res):
        return 100 * np.mean([res.errors(c)["mean_rel"] for c in test])

    assert pred_e(cli) == pytest.approx(pred_e(api), abs=0.01)
    assert pred_e(cli) == pytest.approx(0.110, abs=0.01)  # published (Luo et al. 2025)
    assert json.loads(out.read_text())["settings"]["data_options"]["warmup"] == 2160
