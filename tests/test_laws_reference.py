"""Laws against numbers published with them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scalefit.laws import get_law

REF = Path(__file__).resolve().parent / "reference"


@pytest.fixture(scope="module")
def datablations():
    ref = json.loads((REF / "data_constrained.json").read_text())
    params = {k: math.exp(v) for k, v in ref["params_log"].items()} | ref["params"]
    return ref, params


def test_data_constrained_reproduces_datablations(datablations):
    ref, params = datablations
    law = get_law("data_constrained")
    pts = ref["points"]
    X = {k: np.array([p[k] for p in pts]) for k in ("N", "D", "U")}
    got = law.predict(X, params)
    want = np.array([p["loss"] for p in pts])
    assert np.max(np.abs(got - want)) <= ref["tolerance"]
    # one point at a time gives the same numbers
    for p in pts:
        assert abs(law.predict({k: p[k] for k in "NDU"}, params)[0] - p["loss"]) <= 1e-9


def test_data_constrained_unique_params_and_limits(datablations):
    _, params = datablations
    law = get_law("data_constrained")
    # U_N cap: Chinchilla-optimal parameters for 25B tokens, G·(U·G)^(beta/alpha)
    G = (params["alpha"] * params["A"] / (params["beta"] * params["B"])) ** (
        1 / (params["alpha"] + params["beta"]))
    assert law.unique_params(params, 25e9) == pytest.approx(G * G * 25e9, rel=1e-12)
    # with no repetition and no excess parameters the law is Chinchilla's
    chin = get_law("chinchilla")
    n = float(law.unique_params(params, 25e9)) * 0.5
    X = {"N": [n], "D": [25e9], "U": [25e9]}
    cp = {k: params[k] for k in chin.param_names}
    assert law.predict(X, params)[0] == pytest.approx(chin.predict(X, cp)[0], rel=1e-14)
    # unconstrained compute-optimal allocation equals Chinchilla's
    opt, copt = law.optimal(params, 1e22), chin.optimal(cp, 1e22)
    assert opt["N"] == pytest.approx(copt["N"], rel=1e-12)
    assert opt["loss"] == pytest.approx(copt["loss"], rel=1e-12)


def test_data_constrained_readme_allocation(datablations):
    """The README's grid search for the better allocation of a 25B-token budget."""
    ref, params = datablations
    law = get_law("data_constrained")
    a = ref["optimal_allocation"]
    i = np.linspace(1.0001, 3, 500)
    D = np.concatenate([a["D_base"] * i, a["D_base"] / i])
    N = np.concatenate([a["N_base"] / i, a["N_base"] * i])
    L = law.predict({"N": N, "D": D, "U": np.minimum(a["U"], D)}, params)
    k = int(np.argmin(L))
    assert D[k] == pytest.approx(a["tokens"], rel=0.005)
    assert N[k] == pytest.approx(a["params"], rel=0.01)


def test_chinchilla_epoch_exponent():
    law = get_law("chinchilla")
    d = law.derived(law.example_params())
    assert d["a"] == pytest.approx(0.3672 / (0.3473 + 0.3672), rel=1e-12)  # 0.514 (quoted as 0.513)
    assert d["a"] + d["b"] == pytest.approx(1.0)


def test_steplaw_published_formula():
    lr = get_law("steplaw")
    p = lr.example_params()
    assert lr.predict({"N": 1e9, "D": 1e11}, p)[0] == pytest.approx(
        1.79 * 1e9 ** -0.713 * 1e11 ** 0.307, rel=1e-12)
    bs = get_law("steplaw:output=batch")
    assert bs.output == "batch_size"
    assert bs.predict({"D": 1e11}, bs.example_params())[0] == pytest.approx(
        0.58 * 1e11 ** 0.571, rel=1e-12)


def test_kaplan_scale_and_moe_dense_limit():
    law = get_law("kaplan:x=C")
    p = law.example_params()
    assert law.predict({"C": p["C_c"]}, p)[0] == pytest.approx(1.0)
    moe = get_law("moe")
    # a dense model (one expert) has Ê = E_start
    assert moe.e_hat(1.0) == pytest.approx(moe.E_start)
    assert moe.e_hat(1e9) == pytest.approx(moe.E_max, rel=1e-5)


def test_bnsl_one_break_slopes():
    law = get_law("bnsl:breaks=1")
    p = {"a": 0.0, "b": 1.0, "c0": 0.2, "c1": 0.5, "d1": 1e8, "f1": 0.05}
    x = np.array([1e5, 1e6, 1e10, 1e11])
    y = law.predict({"N": x}, p)
    slope_lo = np.log(y[1] / y[0]) / np.log(10)
    slope_hi = np.log(y[3] / y[2]) / np.log(10)
    assert slope_lo == pytest.approx(-0.2, abs=1e-6)
    assert slope_hi == pytest.approx(-0.7, abs=1e-6)


def test_kaplan_nd_e_is_kaplans_joint_law_plus_a_constant():
    """``kaplan_nd_e`` with Kaplan et al.'s table 2 values (alpha_N 0.076, alpha_D 0.103,
    N_c 6.4e13, D_c 1.8e13): E = 0 gives their eq. (1.5) (``kaplan_nd``), and E adds itself."""
    kap = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}
    X = {"N": np.array([1e8, 1e9, 1e10]), "D": np.array([2e9, 2e10, 3e11])}
    closed = ((kap["N_c"] / X["N"]) ** (kap["alpha_N"] / kap["alpha_D"])
              + kap["D_c"] / X["D"]) ** kap["alpha_D"]
    law = get_law("kaplan_nd_e")
    np.testing.assert_allclose(law.predict(X, {"E": 0.0, **kap}), closed, rtol=1e-13)
    np.testing.assert_allclose(get_law("kaplan_nd").predict(X, kap), closed, rtol=1e-13)
    np.testing.assert_allclose(law.predict(X, {"E": 1.7, **kap}), closed + 1.7, rtol=1e-13)
    # overfitting is avoided while D grows like N^0.74 (Kaplan et al., eq. 4.4)
    assert law.derived({"E": 1.7, **kap})["D_exponent"] == pytest.approx(0.738, abs=1e-3)
    # without data limits the N term is Kaplan's L(N) = (N_c/N)^alpha_N, eq. (1.1)
    big_d = {"N": np.array([1e9]), "D": np.array([1e30])}
    assert law.predict(big_d, {"E": 0.0, **kap})[0] == pytest.approx(
        (6.4e13 / 1e9) ** 0.076, rel=1e-9)
