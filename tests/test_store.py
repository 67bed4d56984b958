"""Store: schema, idempotent ingest, later values win, atomic files, fsspec memory://."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pytest

from scalefit import LogData, SchemaError, Store, StoreError


def _batch(run="r1", steps=(0, 10, 20), value0=3.0, source="a.csv") -> LogData:
    steps = list(steps)
    points = pd.DataFrame({
        "run": run, "step": steps, "metric": "train/loss",
        "value": [value0 - 0.1 * i for i in range(len(steps))],
    })
    runs = pd.DataFrame({"run": [run], "params": [1e6], "tokens_total": [2e7]})
    return LogData(runs, points, source)


def _digest(folder) -> dict[str, str]:
    out = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith(".lock"):
            continue
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_roundtrip_and_idempotent(tmp_path):
    s = Store(tmp_path / "s")
    rep = s.ingest(_batch())
    assert rep.runs_added == ["r1"] and rep.changed
    before = _digest(tmp_path / "s")
    rep2 = Store(tmp_path / "s").ingest(_batch())
    assert not rep2.changed
    assert _digest(tmp_path / "s") == before
    s2 = Store(tmp_path / "s")
    assert len(s2.points) == 3 and s2.runs["params"].iloc[0] == 1e6
    assert s2.points["step"].dtype == "Int64"


def test_resumed_run_keeps_later_values(tmp_path):
    s = Store(tmp_path / "s")
    s.ingest(_batch(steps=(0, 10, 20), value0=3.0))
    s.ingest(_batch(steps=(20, 30), value0=2.5))
    pts = Store(tmp_path / "s").points
    assert pts["step"].tolist() == [0, 10, 20, 30]
    assert pts.set_index("step").loc[20, "value"] == pytest.approx(2.5)


def test_summary_lists_metrics_and_counts():
    s = Store()
    s.ingest([_batch("a"), _batch("b", steps=(0,))])
    summ = s.summary().set_index("run")
    assert summ.loc["a", "n_points"] == 3 and summ.loc["b", "n_points"] == 1
    assert summ.loc["a", "metrics"] == ["train/loss"]


def test_memory_fsspec_url():
    s = Store("memory://scalefit-test-store")
    s.ingest(_batch())
    assert len(Store("memory://scalefit-test-store").points) == 3


def test_bad_batch_leaves_store_unchanged(tmp_path):
    s = Store(tmp_path / "s")
    s.ingest(_batch())
    before = _digest(tmp_path / "s")
    bad = _batch("r2")
    bad.points["value"] = bad.points["value"].astype(object)
    bad.points.loc[1, "value"] = "oops"
    with pytest.raises(SchemaError, match="value"):
        s.ingest(bad)
    assert _digest(tmp_path / "s") == before
    neg = _batch("r3")
    neg.runs["params"] = -1.0
    with pytest.raises(SchemaError, match="r3.*params"):
        s.ingest(neg)
    assert _digest(tmp_path / "s") == before


def test_not_a_store(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(StoreError, match="not a folder"):
        Store(f)
    with pytest.raises(StoreError, match="no store"):
        Store(tmp_path / "missing", create=False)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="cannot read"):
        Store(tmp_path / "broken")


def test_final_loss_rows_have_no_step():
    s = Store()
    pts = pd.DataFrame({"run": ["a", "b"], "step": [pd.NA, pd.NA], "metric": "loss",
                        "value": [2.0, 1.9]})
    s.add(points=pts)
    assert s.points["step"].isna().all()
    assert np.allclose(s.points["value"], [2.0, 1.9])
