"""Big-table paths of the CSV readers: sorted long tables, block-built strings, hashes in a
thread, and points frames whose columns can be set in place."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from scalefit.io import hashing, read_logs
from scalefit.io.frames import strings


def _long_csv(path, n=60_000, seed=0):
    rng = np.random.default_rng(seed)
    runs = np.array(["zeta-1B", "alpha-20M", "mid-150M"])
    r = np.repeat(runs, n // 3)
    i = np.tile(np.arange(n // 3), 3)
    df = pd.DataFrame({"run": r, "step": i // 2 + 1,
                       "metric": np.where(i % 2 == 0, "train/loss", "eval/loss"),
                       "value": (2 + rng.random(n)).round(5)})
    df.to_csv(path, index=False)
    return df


def test_long_table_points_in_run_metric_order_with_file_order_within(tmp_path):
    f = tmp_path / "long.csv"
    raw = _long_csv(f)
    pts = read_logs(f).points
    exp = raw.sort_values(["run", "metric"], kind="stable").reset_index(drop=True)
    assert pts["run"].tolist() == exp["run"].tolist()
    assert pts["metric"].tolist() == exp["metric"].tolist()
    np.testing.assert_allclose(pts["value"].to_numpy(), exp["value"].to_numpy(), rtol=0, atol=0)
    np.testing.assert_array_equal(pts["step"].to_numpy(dtype="int64"), exp["step"].to_numpy())
    assert str(pts["run"].dtype) == "string" and str(pts["step"].dtype) == "Int64"


def test_points_columns_can_be_set_in_place(tmp_path):
    f = tmp_path / "long.csv"
    _long_csv(f, n=3000)
    pts = read_logs(f).points
    before = pts["value"].to_numpy().copy()
    pts.loc[0, "value"] = 99.0
    pts.loc[pts["step"] > 10, "lr"] = 1e-3
    pts.iloc[1, pts.columns.get_loc("tokens")] = 5.0
    assert pts["value"].iloc[0] == pytest.approx(99.0, abs=0)
    np.testing.assert_allclose(pts["value"].to_numpy()[1:], before[1:], rtol=0, atol=0)
    assert np.isnan(pts["flops"]).all()  # columns set elsewhere share no memory with it
    assert pts["tokens"].notna().sum() == 1


@pytest.mark.parametrize("codes", [
    [0] * 500 + [2] * 300 + [1] * 200,  # few long blocks
    [0, 1] * 500,  # interleaved
    [1] * 1000,
])
def test_strings_from_codes_match_names(codes):
    names = ["train/loss", "é-metric", ""]
    c = np.asarray(codes, dtype="int32")
    got = strings((c, names), len(c))
    assert list(got) == [names[k] for k in codes]
    assert str(got.dtype) == "string"


def test_big_file_hash_from_thread_is_the_sha256(tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, "HASH_THREAD_MIN", 1)
    f = tmp_path / "long.csv"
    _long_csv(f, n=3000)
    runs = read_logs(f).runs
    assert set(runs["source_hash"]) == {hashlib.sha256(f.read_bytes()).hexdigest()}


def test_long_table_with_a_run_in_two_blocks(tmp_path):
    # names in long blocks are hashed once per block; a run may come back later in the file
    f = tmp_path / "long.csv"
    r = np.repeat(["zeta-1B", "alpha-20M", "zeta-1B"], [6000, 5000, 3000])
    step = np.concatenate([np.arange(6000), np.arange(5000), np.arange(6000, 9000)]) + 1
    raw = pd.DataFrame({"run": r, "step": step, "metric": "train/loss",
                        "value": np.linspace(4.0, 2.0, len(r))})
    raw.to_csv(f, index=False)
    d = read_logs(f)
    assert sorted(d.runs["run"]) == ["alpha-20M", "zeta-1B"]
    exp = raw.sort_values("run", kind="stable").reset_index(drop=True)
    assert d.points["run"].tolist() == exp["run"].tolist()
    np.testing.assert_array_equal(d.points["step"].to_numpy(dtype="int64"), exp["step"].to_numpy())
    np.testing.assert_allclose(d.points["value"].to_numpy(), exp["value"].to_numpy(), rtol=0, atol=0)
