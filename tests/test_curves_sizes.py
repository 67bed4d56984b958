"""Curves of several model sizes: a law of one model refuses them (it would share L0 and the
amplitudes across sizes); the curves of one size, N given, fit as before; and the split of the
WSD-cosine gap that ``benchmarks/schedule_variants.py`` reads off the multi-power data."""

import sys
from pathlib import Path

import numpy as np
import pytest

from scalefit.curves import fit_curves, multipower_curves
from scalefit.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "multipower"
TRAIN = ["cosine_24000", "constant_24000"]


def _two_sizes():
    return [*multipower_curves(DATA / "25M", TRAIN, N=25e6),
            *multipower_curves(DATA / "100M", TRAIN, N=100e6)]


@pytest.mark.parametrize("law", ["auto", "multi_power", "lr_annealing", "ensemble"])
def test_law_of_one_model_refuses_curves_of_several_sizes(law):
    with pytest.raises(UsageError) as exc:
        fit_curves(_two_sizes(), law=law)
    msg = str(exc.value)
    assert "2 model sizes" in msg and "2.5e+07" in msg and "1e+08" in msg
    assert "joint_multi_power" in msg


def test_joint_law_is_not_refused():
    from scalefit.curves.data import CurveData
    from scalefit.fitting.curves import _refuse_mixed_sizes
    from scalefit.laws.curve import JointLaw

    # the check alone: a joint fit of four curves takes seconds
    data = CurveData(_two_sizes())
    for law in ("joint_lr_annealing", "joint:base=multi_power", JointLaw("lr_annealing")):
        assert _refuse_mixed_sizes(data, law) is None


def test_one_size_with_N_fits_as_without():
    with_n = fit_curves(multipower_curves(DATA / "25M", TRAIN, N=25e6), law="lr_annealing")
    without = fit_curves(multipower_curves(DATA / "25M", TRAIN), law="lr_annealing")
    for k, v in without.params.items():
        assert with_n.params[k] == pytest.approx(v, rel=1e-6)
    # the 24,000-step WSD run's final loss (3.2766) within 0.5%: measured -0.12%
    wsd = multipower_curves(DATA / "25M", ["wsd_20000_24000"])[0]
    pred = with_n.predict(wsd)["loss_pred"].iloc[-1]
    assert abs(pred / wsd.loss[-1] - 1) < 0.005


def test_gap_split_of_the_multipower_data():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from schedule_variants import gap
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rows = {r["size"]: r for r in gap()}
    # measured: WSD - cosine -0.84 / -0.93 / -0.64%, f = 0.77 / 0.76 / 0.70
    assert [rows[s]["wsd_minus_cosine"] for s in ("25M", "100M", "400M")] == pytest.approx(
        [-0.0084, -0.0093, -0.0064], abs=5e-4)
    f = np.array([rows[s]["f"] for s in ("25M", "100M", "400M")])
    assert f == pytest.approx([0.77, 0.76, 0.70], abs=0.01)
    # the split is consistent: the gap is the area gain plus the unrealised part of the drop
    for r in rows.values():
        assert r["wsd_minus_cosine"] == pytest.approx(
            r["area_gain"] + (1 - r["f"]) * r["cosine_drop"], abs=1e-12)
