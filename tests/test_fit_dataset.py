"""From stores, logs and tables to the arrays a law is fitted to; bad-input errors."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import scalefit
from scalefit import Store
from scalefit.errors import FitError, ScalefitError, UsageError
from scalefit.fitting import build_dataset, choose_metric
from scalefit.laws import get_law

LAW = get_law("chinchilla")
TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def curves_store(sizes=(2e7, 5e7, 1e8, 3e8, 1e9), tokens_per_step=2 ** 19, steps=200,
                 every=20, lr=True, metrics=("train/loss",)) -> Store:
    """Per-step logs of several runs whose every checkpoint follows the law exactly."""
    runs, pts = [], []
    for i, N in enumerate(sizes):
        name = f"run{i}"
        total = steps * tokens_per_step * (i + 1)
        nsteps = steps * (i + 1)
        runs.append({"run": name, "params": N, "tokens_total": float(total),
                     "batch_size": 512.0, "seq_len": 1024.0})
        st = np.arange(every, nsteps + 1, every)
        D = st * tokens_per_step
        L = LAW.predict({"N": np.full(st.size, N), "D": D}, TRUE)
        for m in metrics:
            pts.append(pd.DataFrame({"run": name, "step": st, "tokens": D.astype(float),
                                     "lr": 1e-3 if lr else np.nan, "metric": m,
                                     "value": L + (0.01 if m.startswith("val") else 0.0)}))
    st = Store()
    st.add(runs=pd.DataFrame(runs), points=pd.concat(pts, ignore_index=True))
    return st


def test_final_values_by_default_and_every_checkpoint_on_request():
    st = curves_store()
    ds = build_dataset(st, LAW)
    assert ds.metric == "train/loss"
    assert ds.n == 5 and ds.n_runs == 5
    np.testing.assert_allclose(ds.X["D"], [200 * 2 ** 19 * (i + 1) for i in range(5)])
    assert any("final" in n for n in ds.notes)
    ck = build_dataset(st, LAW, checkpoints=True)
    assert ck.n > 5 * 9 and ck.n_runs == 5
    # D is the tokens seen at each checkpoint, and the law holds there exactly
    np.testing.assert_allclose(ck.y, LAW.predict(ck.X, TRUE), rtol=1e-12)
    assert any("warmup" in n for n in ck.notes)
    assert ck.sources["D"] == "tokens seen at each checkpoint"


def test_checkpoints_without_tokens_use_step_batch_seq():
    st = curves_store()
    pts = st.points.assign(tokens=np.nan)
    st2 = Store()
    st2.add(runs=st.runs, points=pts)
    ck = build_dataset(st2, LAW, checkpoints=True)
    np.testing.assert_allclose(ck.X["D"], ck.steps * 512 * 1024)


def test_checkpoint_fit_recovers_the_law():
    res = scalefit.fit(curves_store(), "chinchilla", checkpoints=True)
    assert res.params_["alpha"] == pytest.approx(0.35, abs=0.01)
    assert res.params_["beta"] == pytest.approx(0.37, abs=0.01)
    assert res.settings["checkpoints"] is True


def test_metric_choice():
    st = curves_store(metrics=("train/loss", "val/loss"))
    assert choose_metric(st.points, None) == "val/loss"  # one validation loss is preferred
    st3 = curves_store(metrics=("eval/a/loss", "eval/b/loss"))
    with pytest.raises(UsageError, match="eval/a/loss, eval/b/loss"):
        build_dataset(st3, LAW)
    assert build_dataset(st3, LAW, metric="eval/b/loss").metric == "eval/b/loss"
    with pytest.raises(UsageError, match="no metric 'nope'.*available"):
        build_dataset(st3, LAW, metric="nope")
    # among dozens of metrics, the names closest to the one asked for come first
    many = pd.DataFrame({"metric": [f"val/{k}" for k in ("arc", "boolq", "c4_en", "hellaswag",
                                                          "mmlu", "piqa", "pile", "wiki")]
                         + [f"train/m{i:02d}" for i in range(20)] + ["val/c4_en_loss"]})
    with pytest.raises(UsageError) as exc:
        choose_metric(many, "val/c4")
    listed = str(exc.value).split("available: ")[1]
    assert listed.startswith("val/c4_en") and "val/c4_en_loss" in listed[:40]


def test_dataframe_tables():
    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 30))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e11), 30))
    L = LAW.predict({"N": N, "D": D}, TRUE)
    ds = build_dataset(pd.DataFrame({"params": N, "tokens": D, "loss": L}), LAW)
    assert ds.n == 30 and ds.metric == "loss"
    # C instead of D: D = C/(6N)
    ds2 = build_dataset(pd.DataFrame({"N": N, "C": 6 * N * D, "loss": L}), LAW)
    np.testing.assert_allclose(ds2.X["D"], D, rtol=1e-12)
    assert ds2.sources["D"] == "C/(6N)"


def test_nan_rows_are_dropped_and_counted():
    rng = np.random.default_rng(1)
    N = np.exp(rng.uniform(np.log(1e7), np.log(1e10), 30))
    D = np.exp(rng.uniform(np.log(1e9), np.log(1e11), 30))
    L = LAW.predict({"N": N, "D": D}, TRUE)
    L[[3, 7]] = np.nan
    N[11] = np.nan
    res = scalefit.fit(pd.DataFrame({"N": N, "D": D, "loss": L}), "chinchilla")
    assert res.n_points == 27
    assert res.diagnostics["n_dropped"] == 3
    text = str(res.summary())
    assert "dropped 2 point(s) with a NaN/inf loss" in text
    assert "dropped 1 point(s) with a missing or non-positive input (N)" in text


def test_errors_are_scalefit_errors_with_clear_messages():
    df = pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8], "D": [1e9, 2e9, 4e9, 8e9],
                       "loss": [3.0, 2.9, 2.8, 2.7]})
    with pytest.raises(FitError, match="4 point.* cannot determine the 5 free parameters"):
        scalefit.fit(df, "chinchilla")
    bad = pd.concat([df] * 3, ignore_index=True).assign(loss=lambda d: d["loss"] - 2.75)
    with pytest.raises(FitError, match="non-positive loss.*log objective"):
        scalefit.fit(bad, "chinchilla")
    with pytest.raises(UsageError, match="unknown law 'chinchila'"):
        scalefit.fit(df, "chinchila")
    with pytest.raises(ScalefitError, match="needs input 'U'"):
        scalefit.fit(pd.concat([df] * 3, ignore_index=True), "data_constrained")


def test_single_curve_with_lr_points_to_the_curve_laws():
    st = curves_store(sizes=(1e8,))
    with pytest.raises(FitError, match="one run's loss curve") as exc:
        scalefit.fit(st, "chinchilla")
    assert "multi_power" in str(exc.value) and "lr_annealing" in str(exc.value)


def test_tags_feed_law_inputs():
    st = curves_store()
    runs = st.runs.assign(tags=[json.dumps({"unique": 1e9 * (i + 1)}) for i in range(5)])
    st2 = Store()
    st2.add(runs=runs, points=st.points)
    ds = build_dataset(st2, get_law("data_constrained"), inputs={"U": "unique"})
    np.testing.assert_allclose(ds.X["U"], 1e9 * np.arange(1, 6))


@pytest.mark.skipif(not (SHARED / "olmo_ladder" / "ladder-runs").exists(),
                    reason="needs the OLMo ladder W&B logs, kept outside the repository (shared/data/olmo_ladder beside the clone); a clone does not have them")
def test_olmo_ladder_logs_final_and_checkpoints():
    files = sorted(str(p) for p in (SHARED / "olmo_ladder" / "ladder-runs").glob("*xC.csv"))
    logs = scalefit.read_logs(files)
    with pytest.raises(UsageError, match="loss metrics"):
        build_dataset(logs, LAW)
    m = "eval/c4_en-validation/CrossEntropyLoss"
    ds = build_dataset(logs, LAW, metric=m)
    assert ds.n == ds.n_runs == 25  # 5 sizes x 5 token multipliers, one point each
    ck = build_dataset(logs, LAW, metric=m, checkpoints=True)
    assert ck.n_runs == 25 and ck.n > 20 * ds.n
    res = scalefit.fit(ds, "chinchilla")
    assert 2.5 < float(res.predict(N=1e9, D=2e10)) < 3.5
