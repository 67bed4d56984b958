"""The store keeps every point a reader can hand it: any run and metric name, any int64 step.

Property: for random batches of (run, metric, step, value), the store read back from its folder
holds exactly one row per distinct (run, metric, step) with the value of the last batch (and the
last row) that gave it, and the ingest report counts what was added and what was replaced.
"""

from __future__ import annotations

import json
import math
import tempfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalefit import LogData, Store

I64 = np.iinfo(np.int64)
EDGES = [I64.min, I64.min + 1, -(2**53) - 1, -(2**53), -(2**53) + 1, -1, 0, 1, 2**53 - 1, 2**53,
         2**53 + 1, 2**62, I64.max - 1, I64.max]

SETTINGS = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                    max_examples=60, suppress_health_check=list(HealthCheck))


def _points(rows: list[tuple[str, str, int | None, float]]) -> pd.DataFrame:
    return pd.DataFrame({
        "run": pd.array([r[0] for r in rows], dtype="string"),
        "step": pd.array([r[2] for r in rows], dtype="Int64"),
        "metric": pd.array([r[1] for r in rows], dtype="string"),
        "value": np.array([r[3] for r in rows], dtype="float64"),
    })


def _batch(rows) -> LogData:
    pts = _points(rows)
    return LogData(pd.DataFrame({"run": pd.unique(pts["run"])}), pts, "batch.csv")


def _key(run, metric, step):
    return (run, metric, None if step is None or step is pd.NA else int(step))


def _held(store: Store) -> dict:
    p = store.points
    return {_key(r, m, s): v for r, m, s, v in zip(p["run"], p["metric"], p["step"], p["value"],
                                                   strict=True)}


def _same_value(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


steps = st.one_of(st.sampled_from(EDGES), st.integers(I64.min, I64.max),
                  st.integers(-3, 3), st.none())
names = st.sampled_from(["a", "b", "run-10", "ü", "a b", ""])
metrics = st.sampled_from(["loss", "val/loss", "Loss", "z"])
values = st.one_of(st.sampled_from([1.0, 2.0, float("nan")]),
                   st.floats(allow_nan=False, allow_infinity=False))
row = st.tuples(names, metrics, steps, values)
batches = st.lists(st.lists(row, min_size=1, max_size=30), min_size=1, max_size=4)


@pytest.mark.slow
@SETTINGS
@given(batches=batches, together=st.booleans())
def test_every_point_ingested_is_read_back(batches, together):
    expected: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        groups = [batches] if together else [[b] for b in batches]
        for group in groups:
            before = dict(expected)
            for b in group:
                for r, m, s, v in b:
                    expected[_key(r, m, s)] = v
            added = sum(k not in before for k in expected)
            replaced = sum(k in before and not _same_value(expected[k], before[k])
                           for k in expected)
            rep = Store(tmp + "/s").ingest([_batch(b) for b in group])
            assert (rep.points_added, rep.points_replaced) == (added, replaced)
            held = _held(Store(tmp + "/s", create=False))
            assert held.keys() == expected.keys()
            assert all(_same_value(held[k], expected[k]) for k in expected)
        # ingesting everything again (in one go, in the same order) changes nothing
        again = Store(tmp + "/s").ingest([_batch(b) for b in batches])
        assert not again.points_added and not again.points_replaced
        pts = Store(tmp + "/s").points
        assert len(pts) == len(expected)
        assert not pts.duplicated(["run", "metric", "step"]).any()


def test_steps_far_apart_in_one_run_are_all_kept(tmp_path):
    pts = pd.DataFrame({"run": "a", "step": pd.array([-(2**53), 0, 1, 2, 3, 4, 5], dtype="Int64"),
                        "metric": "loss", "value": np.arange(7.0)})
    rep = Store(tmp_path / "s").add(points=pts)
    back = Store(tmp_path / "s").points
    assert rep.points_added == 7 and len(back) == 7
    assert back["step"].tolist() == [-(2**53), 0, 1, 2, 3, 4, 5]
    assert np.allclose(back["value"], np.arange(7.0))


def test_many_runs_and_one_wide_run_are_all_kept(tmp_path):
    small = pd.DataFrame({"run": np.repeat([f"r{i:04d}" for i in range(1100)], 2),
                          "step": np.tile([0, 1], 1100), "metric": "loss", "value": 1.0})
    wide = pd.DataFrame({"run": "wide", "step": [-(2**53), 2**53], "metric": "loss",
                         "value": [1.0, 2.0]})
    pts = pd.concat([small, wide], ignore_index=True)
    rep = Store(tmp_path / "s").add(points=pts)
    assert rep.points_added == 2202
    back = Store(tmp_path / "s").points
    assert len(back) == 2202
    assert sorted(back.loc[back["run"] == "wide", "step"].tolist()) == [-(2**53), 2**53]


@pytest.mark.parametrize("step", [I64.min, I64.max, 2**53 + 1])
def test_extreme_steps_resume_and_replace(tmp_path, step):
    s = Store(tmp_path / "s")
    s.add(points=_points([("a", "loss", step, 3.0), ("a", "loss", step - 1 if step > 0 else step + 1,
                                                       2.0)]))
    rep = s.add(points=_points([("a", "loss", step, 2.5)]))
    assert (rep.points_added, rep.points_replaced) == (0, 1)
    held = _held(Store(tmp_path / "s"))
    assert len(held) == 2 and held[("a", "loss", step)] == pytest.approx(2.5)


def test_cli_counts_every_step_the_reader_accepts(tmp_path, capsys):
    from scalefit import cli

    steps = [-(2**53), 0, 1, 2, 3, 4, 5, 2**53]
    f = tmp_path / "far.csv"
    f.write_text("step,loss\n" + "".join(f"{s},{2 + i / 10}\n" for i, s in enumerate(steps)))
    store = tmp_path / "s"
    assert cli.run(["ingest", str(f), "--store", str(store), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["points_read"] == rep["points_added"] == len(steps)
    assert cli.run(["runs", "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n_points"] == len(steps)
    assert sorted(Store(store).points["step"].tolist()) == steps
