"""clean_points: restarts, NaN/inf, warmup trimming, spikes, EMA; the input is never changed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scalefit import Store
from scalefit.clean import CleanReport, clean_points
from scalefit.errors import UsageError


def _pts(steps, values, run="r", metric="loss"):
    return pd.DataFrame({"run": run, "metric": metric, "step": pd.array(steps, dtype="Int64"),
                         "value": np.asarray(values, dtype=float)})


def test_restart_and_duplicates_later_rows_win():
    p = _pts([0, 10, 20, 30, 20, 30, 40, 40], [5, 4, 3, 2.5, 2.9, 2.8, 2.7, 2.6])
    before = p.copy()
    out, rep = clean_points(p)
    assert out["step"].tolist() == [0, 10, 20, 30, 40]
    assert out["value"].tolist() == [5, 4, 2.9, 2.8, 2.6]
    assert rep.deduplicated == 3
    pd.testing.assert_frame_equal(p, before)  # input untouched


def test_nonfinite_and_warmup_per_curve():
    a = _pts([0, 100, 200, 300, 400], [9, np.nan, 4, np.inf, 3], run="a")
    b = _pts([0, 50, 100, 150], [8, 6, 5, 4.5], run="b")
    out, rep = clean_points(pd.concat([a, b]), skip_steps=100)
    assert rep.dropped_nonfinite == 2
    assert rep.dropped_warmup == 3  # a@0, b@0, b@50
    assert out.groupby("run")["step"].min().to_dict() == {"a": 200, "b": 100}
    out2, rep2 = clean_points(pd.concat([a, b]), skip_frac=0.5)
    # a spans 0..400 -> drop < 200; b spans 0..150 -> drop < 75
    assert out2.groupby("run")["step"].min().to_dict() == {"a": 200, "b": 100}
    assert rep2.dropped_warmup == 3
    kept, rep3 = clean_points(a, drop_nonfinite=False)
    assert rep3.dropped_nonfinite == 0 and len(kept) == 5


def test_spikes_flagged_not_dropped_and_ema():
    steps = np.arange(0, 400, 10)
    vals = 3 + 2 * np.exp(-steps / 100)
    vals[20] += 1.0
    p = _pts(steps, vals)
    out, rep = clean_points(p, spike_z=6)
    assert len(out) == len(p)
    assert [s["step"] for s in rep.spikes] == [200]
    sm, rep2 = clean_points(p, spike_z=6, ema=0.5)
    assert rep2.smoothed
    # the spike does not enter the average: the smoothed value at 200 stays near the curve
    assert abs(sm.set_index("step").loc[200, "value"] - vals[19]) < 0.05
    manual = pd.Series(3 + 2 * np.exp(-steps / 100)).ewm(alpha=0.5).mean().to_numpy()
    np.testing.assert_allclose(sm["value"].to_numpy()[:20], manual[:20], rtol=1e-12)


def test_final_loss_points_without_steps_pass_through():
    p = pd.DataFrame({"run": ["a", "b"], "metric": "loss", "step": pd.array([pd.NA, pd.NA],
                     dtype="Int64"), "value": [3.0, 2.5]})
    out, rep = clean_points(p, skip_steps=10, skip_frac=0.2)
    assert len(out) == 2 and rep.dropped == 0


def test_cleaning_does_not_change_the_store(tmp_path):
    s = Store(tmp_path / "s")
    s.add(points=_pts([0, 10, 20], [np.nan, 4, 3]))
    before = s.points
    out, rep = clean_points(s.points, skip_steps=5)
    assert rep.dropped_nonfinite == 1 and len(out) == 2
    pd.testing.assert_frame_equal(Store(tmp_path / "s").points, before)


def test_bad_arguments():
    p = _pts([0], [1.0])
    with pytest.raises(UsageError):
        clean_points(p, skip_frac=1.5)
    with pytest.raises(UsageError):
        clean_points(p, ema=1.0)
    assert isinstance(clean_points(p.iloc[:0])[1], CleanReport)
