"""LR schedules: families, spec/dict round trips, per-step LR from a logged lr column."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalefit.errors import UsageError
from scalefit.schedules import array_schedule, from_logged, parse_schedule

DATA = Path(__file__).resolve().parents[1] / "data" / "multipower"

SPECS = [
    "constant:peak=1e-3,warmup=100,steps=5000",
    "cosine:peak=1e-3,warmup=100,steps=5000,final=1e-4",
    "linear:peak=1e-3,warmup=100,steps=5000,final=0",
    "wsd:peak=3e-4,warmup=2160,steps=24000,decay=0.2,final=3e-5,shape=linear",
    "wsd:peak=3e-4,warmup=10,steps=1000,decay=0.1,final=3e-5,shape=cosine",
    "wsd:peak=3e-4,warmup=10,steps=1000,decay=100,final=0,shape=1-sqrt",
    "wsd:peak=3e-4,warmup=10,steps=1000,decay=0.3,final=3e-5,shape=exp",
    "wsds:peak=1e-3,warmup=10,steps=3000,cooldowns=1000;2000;3000,decay=0.1,final=1e-5",
    "step:peak=1e-3,warmup=0,steps=1000,every=300,gamma=0.5",
    "multistep:peak=1e-3,warmup=50,steps=1000,milestones=400;800,gamma=0.1",
    "invsqrt:peak=1e-3,warmup=100,steps=1000",
]


@pytest.mark.parametrize("spec", SPECS)
def test_round_trip(spec):
    s = parse_schedule(spec)
    assert parse_schedule(s.to_spec()) == s
    assert parse_schedule(s.to_dict()) == s
    assert parse_schedule(s.to_json()) == s
    lr = s.lr()
    assert lr.shape == (s.total_steps,)
    np.testing.assert_allclose(parse_schedule(s.to_spec()).lr(), lr, rtol=0, atol=0)
    assert np.all(lr >= 0) and lr.max() <= s.options["peak"] * (1 + 1e-12)


def test_values():
    s = parse_schedule("wsd:peak=3e-4,warmup=2160,steps=24000,decay=0.2,final=3e-5")
    lr = s.lr([0, 1080, 2160, 19199, 19200, 21600, 23999, 30000])
    np.testing.assert_allclose(lr, [0, 1.5e-4, 3e-4, 3e-4, 3e-4, 1.65e-4,
                                    3e-4 - 2.7e-4 * 4799 / 4800, 3e-5], rtol=1e-12)
    c = parse_schedule("cosine:peak=1e-3,warmup=0,steps=1000,final=1e-4")
    assert c.lr(500) == pytest.approx(5.5e-4, rel=1e-12)
    st = parse_schedule("step:peak=1e-3,steps=1000,every=300,gamma=0.5")
    np.testing.assert_allclose(st.lr([299, 300, 900]), [1e-3, 5e-4, 1.25e-4])
    w = parse_schedule("wsds:peak=1,steps=300,cooldowns=100;200,decay=0.5,final=0")
    np.testing.assert_allclose(w.lr([49, 75, 99, 100, 150, 199, 250]),
                               [1, 0.5, 0.02, 1, 1, 0.02, 1])
    inv = parse_schedule("invsqrt:peak=1,warmup=100,steps=1000")
    assert inv.lr(400) == pytest.approx(0.5)


def test_array_schedule():
    lr = np.r_[np.linspace(0, 1, 11), np.full(20, 1.0), np.full(5, 0.1)]
    s = array_schedule(lr)
    np.testing.assert_array_equal(s.lr(), lr)
    assert parse_schedule(s.to_spec()) == s
    assert s.total_steps == lr.size


@pytest.mark.parametrize("bad", ["nope:peak=1", "cosine:peak=1e-3", "wsd:peak=-1,steps=10",
                                 "wsd:peak=1,steps=10,shape=zigzag", "cosine:peak=1,steps=10,x",
                                 "constant:peak=1,steps=10,colour=3"])
def test_bad_specs(bad):
    with pytest.raises(UsageError):
        parse_schedule(bad)


EXPECT = {
    "constant_24000": "constant:peak=0.0003,warmup=2160,steps=24000",
    "cosine_72000": "cosine:peak=0.0003,warmup=2160,steps=72000,init=0,final=3e-05",
    "wsd_20000_24000": "wsd:peak=0.0003,warmup=2160,steps=24000,init=0,decay=4000,shape=exp",
    "wsdld_20000_24000": "wsd:peak=0.0003,warmup=2160,steps=24000,init=0,decay=4000,"
                         "shape=linear",
    "wsdcon_9": "multistep:peak=0.0003,warmup=2160",
}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_recognise_multipower_logs(name):
    df = pd.read_csv(DATA / "400M" / f"{name}.csv")
    s = from_logged(df["step"], df["lr"], warmup=2160)
    assert s.to_spec().startswith(EXPECT[name].split(",init")[0].split(",steps")[0])
    np.testing.assert_allclose(s.lr(df["step"].to_numpy()), df["lr"], rtol=1e-9, atol=0)
    if name.startswith(("wsd_", "wsdld")):
        assert s.options["final"] == pytest.approx(3e-5, rel=1e-9)


def test_interpolated_when_unknown():
    steps = np.arange(0, 1000, 50)
    lr = 1e-3 * (1 + 0.5 * np.sin(steps / 90.0))
    s = from_logged(steps, lr, warmup=0)
    assert s.family == "interp"
    np.testing.assert_allclose(s.lr(steps), lr)
    assert s.lr(25) == pytest.approx(0.5 * (lr[0] + lr[1]))
    # a flat-flat jump becomes a step drop at the later logged step
    s2 = from_logged([0, 50, 100, 150, 200], [1.0, 1.0, 1.0, 0.5, 0.5], recognise=False)
    np.testing.assert_allclose(s2.lr([120, 149, 150, 175]), [1.0, 1.0, 0.5, 0.5])
