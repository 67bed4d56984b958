"""The O(T) multi-power sums against the direct double sum; the annealing momentum."""

import numpy as np
import pytest

from scalefit.laws.curve_kernels import (
    annealing_momentum,
    mpl_loss_drop,
    mpl_loss_drop_direct,
    mpl_loss_drop_quadratic,
)
from scalefit.schedules import parse_schedule

SCHEDULES = [
    "cosine:peak=3e-4,warmup=200,steps=3000,final=3e-5",
    "wsd:peak=3e-4,warmup=200,steps=3000,decay=0.3,final=3e-5,shape=exp",
    "multistep:peak=3e-4,warmup=200,steps=3000,milestones=1000;2000,gamma=0.3",
    "wsds:peak=3e-4,warmup=100,steps=3000,cooldowns=1000;2000;3000,decay=0.2,final=0",
]


@pytest.mark.parametrize("spec", SCHEDULES)
@pytest.mark.parametrize("params", [(2.0, 0.59, 0.63), (0.3, 0.2, 1.2)])
def test_matches_direct(spec, params):
    eta = parse_schedule(spec).lr()
    every = np.arange(1, eta.size)
    fast = mpl_loss_drop(eta, every, *params)
    direct = mpl_loss_drop_quadratic(eta, *params)[1:]
    # exact to 1e-10 of the largest value (observed: a few 1e-12)
    np.testing.assert_allclose(fast, direct, rtol=0, atol=1e-10 * np.abs(direct).max())
    logged = np.arange(150, eta.size, 97)
    np.testing.assert_allclose(mpl_loss_drop(eta, logged, *params),
                               mpl_loss_drop_direct(eta, logged, *params), rtol=0, atol=1e-15)


def test_gradient():
    eta = parse_schedule(SCHEDULES[0]).lr()
    t = np.arange(210, eta.size, 50)
    th = np.array([2.0, 0.59, 0.63])
    _, g = mpl_loss_drop(eta, t, *th, grad=True)
    for i in range(3):
        e = np.zeros(3)
        e[i] = 1e-6
        fd = (mpl_loss_drop_direct(eta, t, *(th + e)) - mpl_loss_drop_direct(eta, t, *(th - e)))
        np.testing.assert_allclose(g[:, i], fd / 2e-6, rtol=1e-5, atol=1e-12)


def test_unsorted_targets_and_constant():
    eta = parse_schedule(SCHEDULES[1]).lr()
    t = np.array([2900, 500, 2500])
    np.testing.assert_allclose(mpl_loss_drop(eta, t, 2.0, 0.6, 0.6),
                               mpl_loss_drop_direct(eta, t, 2.0, 0.6, 0.6), atol=1e-16)
    flat = np.full(500, 1e-3)
    assert np.all(mpl_loss_drop(flat, np.arange(500), 2.0, 0.6, 0.6) == 0)


def test_annealing_momentum():
    eta = parse_schedule(SCHEDULES[2]).lr()
    lam = 0.99
    m = np.zeros(eta.size)
    for i in range(1, eta.size):
        m[i] = lam * m[i - 1] + (eta[i - 1] - eta[i])
    S2, dS2 = annealing_momentum(eta, lam, grad=True)
    np.testing.assert_allclose(S2, np.cumsum(m), atol=1e-15)
    fd = (annealing_momentum(eta, lam + 1e-7) - annealing_momentum(eta, lam - 1e-7)) / 2e-7
    np.testing.assert_allclose(dS2, fd, rtol=1e-5, atol=1e-12)
