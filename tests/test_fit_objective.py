"""Objectives: values follow scipy.special.huber, gradients match finite differences."""

import numpy as np
import pytest
from scipy.special import huber

from scalefit.errors import UsageError
from scalefit.fitting.objective import evaluate, make_objective
from scalefit.fitting.optimize import Problem, make_parameters
from scalefit.laws import get_law

LAW = get_law("chinchilla")
TRUE = np.array([1.8, 480.0, 2100.0, 0.35, 0.37])


def data(n=60, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    X = {"N": np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), n)),
         "D": np.exp(rng.uniform(np.log(5e9), np.log(5e11), n))}
    y = LAW.predict(X, TRUE) * np.exp(rng.normal(0, noise, n))
    return X, y


def fd_grad(f, u, h=1e-6):
    g = np.zeros_like(u)
    for j in range(u.size):
        e = np.zeros_like(u)
        e[j] = h * max(1.0, abs(u[j]))
        g[j] = (f(u + e) - f(u - e)) / (2 * e[j])
    return g


@pytest.mark.parametrize("name", ["huber", "mse", "mse_linear", "asymmetric"])
def test_gradient_matches_finite_differences(name):
    X, y = data()
    obj = make_objective(name, delta=0.05)  # a wide delta keeps both Huber branches smooth here
    u = LAW.to_internal(TRUE * np.array([1.02, 0.9, 1.1, 1.01, 0.98]))
    f, g = evaluate(LAW, X, y, u, obj)
    gf = fd_grad(lambda v: evaluate(LAW, X, y, v, obj, grad=False), u)
    np.testing.assert_allclose(g, gf, rtol=2e-5, atol=1e-9 * max(1.0, abs(f)))


def test_huber_value_is_scipy_huber_summed():
    X, y = data()
    u = LAW.to_internal(TRUE)
    f = evaluate(LAW, X, y, u, make_objective("huber"), grad=False)
    r = np.log(y) - np.log(LAW.predict(X, TRUE))
    assert f == pytest.approx(np.sum(huber(1e-3, r)), rel=1e-13)


def test_batch_equals_loop_and_weights_equal_duplication():
    X, y = data(40)
    obj = make_objective()
    rng = np.random.default_rng(1)
    U = LAW.to_internal(TRUE)[None] + rng.normal(0, 0.05, (7, 5))
    fb, gb = evaluate(LAW, X, y, U, obj)
    for s in range(7):
        f1, g1 = evaluate(LAW, X, y, U[s], obj)
        assert fb[s] == pytest.approx(f1, rel=1e-13)
        np.testing.assert_allclose(gb[s], g1, rtol=1e-12)
    w = rng.integers(0, 3, 40).astype(float)
    idx = np.repeat(np.arange(40), w.astype(int))
    fw = evaluate(LAW, X, y, U[0], obj, weights=w, grad=False)
    fd = evaluate(LAW, {k: v[idx] for k, v in X.items()}, y[idx], U[0], obj, grad=False)
    assert fw == pytest.approx(fd, rel=1e-12)


def test_asymmetric_penalises_over_prediction():
    X, y = data(noise=0.0)
    obj = make_objective("asymmetric", delta=1e-3, penalty=4.0)
    sym = make_objective("huber")
    over = LAW.to_internal(TRUE * np.array([1.02, 1, 1, 1, 1]))  # larger E: predicts too high
    under = LAW.to_internal(TRUE * np.array([0.98, 1, 1, 1, 1]))
    ratio_over = (evaluate(LAW, X, y, over, obj, grad=False)
                  / evaluate(LAW, X, y, over, sym, grad=False))
    ratio_under = (evaluate(LAW, X, y, under, obj, grad=False)
                   / evaluate(LAW, X, y, under, sym, grad=False))
    assert ratio_over == pytest.approx(4.0)
    assert ratio_under == pytest.approx(1.0)


def test_nonfinite_prediction_gives_inf_and_zero_gradient():
    X, y = data(10)
    u = LAW.to_internal(TRUE)
    u[0] = 800.0  # exp overflows
    f, g = evaluate(LAW, X, y, u, make_objective())
    assert f == np.inf
    assert np.all(g == 0)


def test_unknown_objective_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown objective"):
        make_objective("l7")


def test_problem_gradient_with_fixed_and_expression_parameters():
    X, y = data()
    params = make_parameters(LAW, fix={"E": 1.7}, expr={"beta": "alpha * 1.1"})
    pr = Problem(LAW, X, y, make_objective("huber", delta=0.05), params)
    assert [pr.names[i] for i in pr.free] == ["A", "B", "alpha"]
    v = np.array([np.log(450.0), np.log(2000.0), 0.33])
    full = LAW.to_natural(pr.full(v))
    assert full[0] == pytest.approx(1.7)
    assert full[4] == pytest.approx(0.33 * 1.1)
    f, g = pr.value_grad(v[None])
    gf = fd_grad(lambda w: pr.value_grad(w[None], grad=False)[0], v)
    np.testing.assert_allclose(g[0], gf, rtol=1e-4)
