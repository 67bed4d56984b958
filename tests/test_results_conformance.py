"""Every result type through scalefit.testing.check_result, plus where their artefacts say the
data came from, and the checker catching broken results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit.curves.result import CurveFitResult
from scalefit.errors import InputError
from scalefit.fitting.isoflop import IsoFlopResult, isoflop
from scalefit.laws import get_law
from scalefit.result import FitResult, load_artefact
from scalefit.summary import Summary
from scalefit.tasks import TaskPrediction, predict_task
from scalefit.testing import ConformanceError, check_result

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "chinchilla.csv"


# ---------------------------------------------------------------------- one of each
@pytest.fixture(scope="module")
def final_fit():
    return scalefit.fit(str(CSV), "chinchilla", bootstrap=20, seed=0)


@pytest.fixture(scope="module")
def frame_fit():
    df = pd.read_csv(CSV)
    return scalefit.fit(df, "chinchilla")


@pytest.fixture(scope="module")
def curve_fit():
    """lr_annealing fitted to two short synthetic curves (cosine and constant) made by the law
    itself, with 0.1% noise."""
    from scalefit.curves import Curve
    from scalefit.laws.curve import get_curve_law
    from scalefit.schedules import parse_schedule

    law = get_curve_law("lr_annealing")
    truth = {"L0": 3.07, "A": 0.49, "alpha": 0.6, "C": 0.3, "lam": 0.999}
    rng = np.random.default_rng(0)
    curves = []
    for spec in ({"family": "cosine", "peak": 3e-4, "warmup": 100, "steps": 3000,
                  "final": 3e-5},
                 {"family": "constant", "peak": 3e-4, "warmup": 100, "steps": 3000}):
        sch = parse_schedule(spec)
        eta, steps = sch.lr(np.arange(sch.total_steps)), np.arange(100, 3000, 10)
        loss = law.predict(Curve(spec["family"], eta, steps, None, None, sch), truth)
        loss = loss * (1 + 1e-3 * rng.standard_normal(steps.size))
        curves.append(Curve(spec["family"], eta, steps, loss, None, sch))
    res = scalefit.fit_curves(curves, "lr_annealing", n_starts=1)
    assert res.params["alpha"] == pytest.approx(truth["alpha"], rel=0.05)
    return res


@pytest.fixture(scope="module")
def iso():
    law = get_law("chinchilla")
    p = law.example_params()
    rows = []
    for C in np.logspace(18, 21, 5):
        n_opt = law.optimal(p, C)["N"]
        for f in np.logspace(-0.6, 0.6, 7):
            N = float(n_opt * f)
            rows.append({"flops_total": C, "params": N, "tokens_total": C / (6 * N),
                         "loss": float(law.predict({"N": N, "D": C / (6 * N)}, p)[0])})
    return isoflop(pd.DataFrame(rows), bootstrap=10, seed=0)


def _task_tables():
    """A small ladder: 8 runs, each with task loss and accuracy at 12 checkpoints."""
    law = get_law("chinchilla")
    p1 = {"E": 0.6, "A": 300.0, "B": 800.0, "alpha": 0.33, "beta": 0.32}
    sig = get_law("task_sigmoid")
    p2 = {"a": -0.55, "k": 6.0, "L0": 1.0, "b": 0.85}
    rng = np.random.default_rng(0)
    runs, pts = [], []
    for N in (1.5e8, 3e8, 6e8, 1.2e9):
        for mult in (20, 60):
            name = f"{N:.0e}-{mult}x"
            runs.append({"run": name, "params": N})
            D_end = mult * N
            for i, D in enumerate(np.linspace(D_end / 12, D_end, 12)):
                loss = float(law.predict({"N": N, "D": D}, p1)[0]) * (1 + 0.003 * rng.standard_normal())
                acc = float(sig.predict({"L": loss}, p2)[0]) + 0.003 * rng.standard_normal()
                for metric, v in (("task/t/bpb", loss), ("task/t/acc", acc)):
                    pts.append({"run": name, "metric": metric, "step": i + 1, "tokens": D,
                                "value": v})
    return pd.DataFrame(runs), pd.DataFrame(pts)


@pytest.fixture(scope="module")
def task():
    return predict_task(_task_tables(), "t", ["N=7e9,D=1.4e11,name=7B"], n_boot=8, seed=0)


ALL = ["final_fit", "frame_fit", "curve_fit", "iso", "task"]


@pytest.mark.parametrize("name", ALL)
def test_every_result_type_conforms(name, request):
    res = request.getfixturevalue(name)
    check_result(res)
    s = res.summary()
    assert isinstance(s, Summary) and s.to_dict()["summary"]["params"]
    # every summary lists the parameters it fitted, with their values
    for row in s.to_dict()["summary"]["params"]:
        assert row["value"] == pytest.approx(res.params_[row["name"]], rel=1e-12)


def test_the_result_types_share_their_names(final_fit, curve_fit, iso, task):
    from scalefit.testing import REQUIRED_NAMES

    for res in (final_fit, curve_fit, iso, task):
        assert all(hasattr(res, n) for n in REQUIRED_NAMES), type(res).__name__
    # the older names still work and mean the same
    assert curve_fit.params is curve_fit.params_ and curve_fit.law_.name == curve_fit.law_obj.name
    assert iso.params_["a"] == iso.a and iso.stderr_["a"] == iso.a_se
    assert task.params_["step1.alpha"] == task.step1["alpha"]
    # a bootstrap gives intervals, around the estimate (up to rounding: the sigmoid's b sits
    # at its bound 1, where the fit may stop one ulp inside it and the resamples on it)
    for res in (final_fit, iso, task):
        for k, (lo, hi) in res.ci_.items():
            tol = 1e-12 * max(abs(lo), abs(hi))
            assert lo - tol <= res.params_[k] <= hi + tol, (type(res).__name__, k)


def test_summary_is_still_text_where_text_was_expected(curve_fit, iso):
    # summary() used to return a str for curve fits and IsoFLOP results
    assert "curve law lr_annealing" in curve_fit.summary()
    assert str(curve_fit) == curve_fit.summary()
    assert "IsoFLOP (approach 2)" in iso.summary() and "5 of 5 budgets used" in iso.summary()


def test_task_prediction_round_trip_keeps_targets_and_intervals(task):
    back = TaskPrediction.from_json(task.to_json())
    t0, t1 = task.targets[0], back.targets[0]
    assert (t1.name, t1.acc, t1.lo, t1.hi) == (t0.name, t0.acc, t0.lo, t0.hi)
    assert back.ci_.keys() == task.ci_.keys()
    for k, iv in task.ci_.items():
        assert back.ci_[k] == pytest.approx(iv, rel=1e-12)
    assert back.predict(7e9, 1.4e11)[0] == pytest.approx(t0.acc, rel=1e-12)


def test_isoflop_round_trip_and_predict(iso):
    back = IsoFlopResult.from_json(iso.to_json())
    pd.testing.assert_frame_equal(back.minima, iso.minima, check_dtype=False)
    p = iso.predict([1e21, 1e22])
    assert p["N_opt"].to_numpy() == pytest.approx(iso.k * np.array([1e21, 1e22]) ** iso.a)
    # N_opt·D_opt = C/6 without tokens: the two laws agree
    assert (p["N_opt"] * p["D_opt"] * 6 / p["C"]).to_numpy() == pytest.approx(1.0, rel=1e-9)


# ---------------------------------------------------------------------- where the data came from
def test_artefacts_record_where_their_data_came_from(final_fit, frame_fit, iso, task, curve_fit):
    d = json.loads(final_fit.to_json())
    assert d["data"] == {"origin": "files", "paths": [str(CSV.resolve())],
                         "hash": final_fit.data_hash}
    d = json.loads(frame_fit.to_json())
    assert d["data"]["origin"] == "in-memory DataFrame" and "paths" not in d["data"]
    assert d["data"]["hash"] == frame_fit.data_hash == final_fit.data_hash  # same points
    d = json.loads(iso.to_json())
    assert d["data"]["origin"] == "in-memory DataFrame" and d["data"]["hash"].startswith("sha256:")
    d = json.loads(task.to_json())
    assert d["data"]["origin"] == "in-memory tables" and len(d["data"]["hash"]) == 71
    d = json.loads(curve_fit.to_json())
    assert d["data"]["origin"] == "in memory" and d["data"]["hash"] == curve_fit.data_hash


def test_cli_artefacts_record_their_files(tmp_path):
    from scalefit.cli import run

    out = tmp_path / "iso.json"
    csv = tmp_path / "runs.csv"
    law = get_law("chinchilla")
    p = law.example_params()
    rows = []
    for C in np.logspace(18, 21, 4):
        n_opt = law.optimal(p, C)["N"]
        for i, f in enumerate(np.logspace(-0.6, 0.6, 7)):
            N = float(n_opt * f)
            rows.append({"run": f"r{C:.0e}-{i}", "N": N, "D": C / (6 * N), "C": C,
                         "loss": float(law.predict({"N": N, "D": C / (6 * N)}, p)[0])})
    pd.DataFrame(rows).to_csv(csv, index=False)
    assert run(["isoflop", str(csv), "--json", str(out), "--no-plot"]) == 0
    d = json.loads(out.read_text())
    assert d["data"]["origin"] == "files" and d["data"]["paths"] == [str(csv.resolve())]
    assert d["metric"] == "loss"
    back = IsoFlopResult.from_json(out)
    check_result(back)


def test_cli_fit_records_its_files_like_python(final_fit, tmp_path):
    import contextlib
    import io

    from scalefit.cli import run

    out = tmp_path / "fit.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert run(["fit", str(CSV), "--bootstrap", "0", "--holdout", "none", "--json", str(out),
                    "--no-plot"]) == 0
    d = json.loads(out.read_text())
    assert d["data"] == json.loads(final_fit.to_json())["data"]  # same files, same points
    check_result(FitResult.from_json(out))


# ---------------------------------------------------------------------- untrusted artefacts
@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(k=-1.0), "k: -1"),
    (lambda d: d["minima"][0].update(used="yes"), r"minima\[0\]\.used"),
    (lambda d: d.update(data={"origin": "files", "paths": ["a\x00b"]}), "NUL"),
    (lambda d: d.update(data={"origin": "files", "run": "x"}), "unknown keys"),
    (lambda d: d.update(kind="isoflopp"), "kind"),
])
def test_tampered_isoflop_artefacts_are_refused(iso, edit, match):
    d = json.loads(iso.to_json())
    edit(d)
    with pytest.raises(InputError, match=match):
        IsoFlopResult.from_json(json.dumps(d))


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["step2"].update(k=-3.0), r"step2\.k"),
    (lambda d: d["step1"].pop("E"), "missing"),
    (lambda d: d["targets"][0].update(N="7e9"), r"targets\[0\]\.N"),
    (lambda d: d["bootstrap"]["step1"].pop(), "different numbers of replicates"),
    (lambda d: d["step1"].update(alpha=d["step1"]["alpha"] * 3), "bootstrap samples"),
    (lambda d: d.update(law="task_sigmoid"), "law of N and D"),
])
def test_tampered_task_artefacts_are_refused(task, edit, match):
    d = json.loads(task.to_json())
    edit(d)
    with pytest.raises(InputError, match=match):
        TaskPrediction.from_json(json.dumps(d))


EVIL = "<script>window.__pwned = 1</script>"


def test_hostile_text_in_isoflop_and_task_artefacts_is_escaped(iso, task):
    d = json.loads(iso.to_json())
    d["metric"], d["se_method"] = EVIL, EVIL[:50]
    t = json.loads(task.to_json())
    t["task"], t["loss_metric"], t["targets"][0]["name"] = EVIL, EVIL, EVIL
    t["data"]["origin"] = EVIL
    for res in (IsoFlopResult.from_json(json.dumps(d)), TaskPrediction.from_json(json.dumps(t))):
        html = res._repr_html_()
        assert "<script" not in html and "&lt;script&gt;" in html
        assert "\n" not in repr(res) and len(repr(res)) < 200


def test_load_artefact_reads_fits_and_names_the_other_kinds(final_fit, curve_fit, iso, task,
                                                            tmp_path):
    assert isinstance(load_artefact(final_fit.to_json()), FitResult)
    assert isinstance(load_artefact(curve_fit.to_json()), CurveFitResult)
    iso.to_json(tmp_path / "iso.json")
    path = tmp_path / "iso.json"
    with pytest.raises(InputError, match="an IsoFLOP result, not a fit") as exc:
        load_artefact(path)
    assert str(path) in str(exc.value) and "IsoFlopResult.from_json" in str(exc.value)
    with pytest.raises(InputError, match="a task prediction, not a fit"):
        load_artefact(task.to_json())


# ---------------------------------------------------------------------- the checker fails
class _LongRepr(FitResult):
    def __repr__(self):
        return "x" * 300


class _TextSummary(IsoFlopResult):
    def summary(self):
        return "only text"


class _ScalarPredict(IsoFlopResult):
    def predict(self, C):
        return pd.DataFrame({"N_opt": [1.0]})


def test_the_checker_names_what_is_broken(final_fit, iso):
    import copy

    bad = copy.copy(final_fit)
    bad.__class__ = _LongRepr
    with pytest.raises(ConformanceError, match="repr: should be shorter than 200"):
        check_result(bad)
    bad = copy.copy(iso)
    bad.__class__ = _TextSummary
    with pytest.raises(ConformanceError, match=r"summary\(\): should return a scalefit"):
        check_result(bad)
    bad = copy.copy(iso)
    bad.__class__ = _ScalarPredict
    with pytest.raises(ConformanceError, match="4 inputs gave 1 predictions"):
        check_result(bad)

    class Bare:
        pass

    with pytest.raises(ConformanceError, match="missing .*'params_'"):
        check_result(Bare())
    # a result whose artefact does not read back the same
    bad = copy.copy(iso)
    bad.a = iso.a + 1e-6
    bad.__class__ = type("Drifting", (IsoFlopResult,), {
        "from_json": classmethod(lambda cls, s: IsoFlopResult.from_json(s))})
    with pytest.raises(ConformanceError, match="from_json"):
        check_result(bad)
