"""Every registered law of the :class:`~scalefit.laws.Law` kinds (final-loss, loss-to-loss,
task) and the main option variants, through the conformance suite the library ships:
:func:`scalefit.laws.testing.check_law` (declaration, domain, broadcasting, Jacobian against
finite differences, linear basis, derived quantities, registry round trip, and recovery of the
example parameters by scalefit's own fit from data with 0.5% noise). The loss-curve laws are
in tests/test_curves_conformance.py. Also: a law of one's own passes, broken ones fail with a
message that names the law, the check and the numbers, and the NIST StRD problems written as
custom laws.
"""

from __future__ import annotations

import numpy as np
import pytest
from _nist import LAWS as NIST_LAWS
from _nist import digits as nist_digits
from _nist import load as nist_load

from scalefit.laws import KINDS, Input, Law, Param, available, get_law, list_laws
from scalefit.laws.testing import LAW_CHECKS, LawCheckError, check_law

#: the kinds of law that are :class:`Law` objects (the others are loss-curve laws)
LAW_KINDS = ("final", "loss_to_loss", "task")
VARIANTS = ["power:x=C", "power:x=D", "kaplan:x=D", "kaplan:x=C", "bnsl:breaks=2",
            "bnsl:breaks=3", "bnsl:x=C", "steplaw:output=batch", "data_constrained:G=0.2258"]
SPECS = [name for kind in LAW_KINDS for name in available(kind)] + VARIANTS
#: recoveries that take more than ~10 s (the variable-projection screen of 24^4 seeds)
SLOW_RECOVERY = {"data_constrained:G=0.2258"}


def test_every_law_of_every_kind_is_checked():
    # the Law kinds here, the loss-curve kinds in tests/test_curves_conformance.py
    assert set(available()) == set(KINDS)
    assert set(LAW_KINDS) | {"curve", "joint_curve"} == set(KINDS)
    assert set(list_laws()) <= set(SPECS)
    assert len(SPECS) == len(set(SPECS)) >= 22


def test_one_registry_one_option_syntax():
    from scalefit.errors import UsageError

    # options as keywords or after the name, for a final-loss and a joint curve law alike
    assert get_law("kaplan", x="C").spec == get_law("kaplan:x=C").spec == "kaplan:x=C"
    joint = get_law("joint_multi_power", scaled="L0;A", N_ref=1e9)
    assert joint.spec == get_law("joint_multi_power:scaled=L0;A,N_ref=1e9").spec
    assert get_law("joint:base=lr_annealing").name == "joint_lr_annealing"
    # a law object of any kind comes back as it is
    assert get_law(joint) is joint
    assert available("task") == ["task_sigmoid"]
    assert available()["joint_curve"] == ["joint_lr_annealing", "joint_multi_power"]
    with pytest.raises(UsageError, match="fix is an option of the fit, not of the law"):
        get_law("chinchilla", fix={"E": 1.7})
    with pytest.raises(UsageError, match="unknown kind of law 'finals'"):
        available("finals")


@pytest.mark.parametrize("spec", SPECS)
def test_conformance(spec):
    report = check_law(spec, skip=("recovery",))
    assert list(report) == [c for c in LAW_CHECKS if c != "recovery"]
    assert report["jacobian"]["max_rel_error"] < 1e-5
    assert report["declaration"]["starts"] >= 1
    assert get_law(report["round_trip"]["spec"]).param_names == get_law(spec).param_names


@pytest.mark.parametrize("spec", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW_RECOVERY
                                  else s for s in SPECS])
def test_recovers_parameters(spec):
    r = check_law(spec, checks=["recovery"])["recovery"]
    # residuals at the 0.5% noise, the curve within 1% of the truth everywhere
    assert 0.004 < r["rms"] < 0.0065
    assert r["max_curve_dev"] < 0.01


# ---------------------------------------------------------------------------- laws of one's own
X_IN = Input("x", "model size", "params")


class Saturating(Law):
    """L = E + A/x^alpha: a small law of one's own, with an analytic Jacobian."""

    name = "test_saturating"
    formula = "L = E + A/x^alpha"
    source = "tests/test_laws_conformance.py"
    inputs = (X_IN,)
    params = (Param("E", 0.0, np.inf, log=True, grid=(0.0, 0.5), linear=True),
              Param("A", 0.0, np.inf, log=True, grid=(0.0, 5.0, 10.0), linear=True),
              Param("alpha", 0.0, 3.0, grid=(0.2, 0.5, 1.0)))
    example = {"params": {"E": 1.7, "A": 400.0, "alpha": 0.35}, "inputs": {"x": (1e7, 1e10)}}

    def _predict(self, X, theta):
        E, A, alpha = np.moveaxis(np.asarray(theta, float), -1, 0)
        return E[..., None] + A[..., None] * np.exp(-np.multiply.outer(alpha, np.log(X["x"])))

    def _jacobian(self, X, theta):
        E, A, alpha = np.moveaxis(np.asarray(theta, float), -1, 0)
        pw = np.exp(-np.multiply.outer(alpha, np.log(X["x"])))
        return np.stack([np.ones_like(pw), pw, -A[..., None] * pw * np.log(X["x"])], -1)

    def linear_basis(self, X, nonlinear):
        pw = np.exp(-np.multiply.outer(np.asarray(nonlinear, float)[..., 0], np.log(X["x"])))
        return np.stack([np.ones_like(pw), pw], -1)


def test_a_law_of_ones_own_passes():
    # the amplitude trades off against the exponent over three decades (as for chinchilla)
    report = check_law(Saturating(), rng=1, tol={"A": 0.3})
    assert list(report) == list(LAW_CHECKS)
    assert report["round_trip"] == {"spec": "test_saturating", "registered": False}
    assert report["jacobian"]["analytic"] and report["jacobian"]["max_rel_error"] < 1e-8
    assert report["recovery"]["params"]["alpha"] == pytest.approx(0.35, rel=0.05)


class WrongJacobian(Saturating):
    """The same law with the sign of d/d alpha wrong."""

    name = "test_wrong_jacobian"

    def _jacobian(self, X, theta):
        J = super()._jacobian(X, theta)
        J[..., 2] *= -1
        return J


class GridOutsideBounds(Saturating):
    """A start grid for alpha beyond its upper bound of 3."""

    name = "test_grid_outside"
    params = Saturating.params[:2] + (Param("alpha", 0.0, 3.0, grid=(0.5, 4.0)),)


class NotVectorised(Saturating):
    """Unpacks one parameter vector: a batch of them breaks it."""

    name = "test_not_vectorised"

    def _predict(self, X, theta):
        E, A, alpha = theta
        return E + A * X["x"] ** -alpha


def test_broken_laws_fail_with_the_law_the_check_and_the_numbers():
    with pytest.raises(LawCheckError, match=r"law 'test_wrong_jacobian', check 'jacobian': "
                                            r"d prediction / d alpha differs .* by 2") as e:
        check_law(WrongJacobian())
    assert e.value.check == "jacobian" and e.value.numbers["param"] == "alpha"
    assert e.value.numbers["error"] == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(LawCheckError, match=r"check 'declaration': start grid leaves the bounds "
                                            r"of \['alpha'\]"):
        check_law(GridOutsideBounds())
    # the first check that evaluates a batch of parameter vectors finds it
    with pytest.raises(LawCheckError, match=r"law 'test_not_vectorised', check 'domain': "
                                            r"raised ValueError: operands could not be broadcast"):
        check_law(NotVectorised())
    # real tolerances: asked for more than 0.5% noise allows, recovery says by how much
    with pytest.raises(LawCheckError, match=r"check 'recovery': A comes back as [0-9.]+ for a "
                                            r"true 400 \(relative error") as e:
        check_law(Saturating(), checks=["recovery"], tol={"A": 1e-6})
    assert e.value.numbers["limit"] == 1e-6 and e.value.numbers["rel_error"] > 1e-6
    assert isinstance(e.value, AssertionError)


def test_a_name_taken_by_another_law_fails_the_round_trip(monkeypatch):
    import scalefit.laws.base as base

    class Impostor(Saturating):
        """Claims Chinchilla's name."""

        name = "chinchilla"

    monkeypatch.setitem(base._REGISTRY, "test_saturating", Saturating)
    assert check_law(Saturating(), checks=["round_trip"])["round_trip"]["registered"]
    with pytest.raises(LawCheckError, match=r"check 'round_trip': get_law\('chinchilla'\) builds "
                                            r"a Chinchilla, not a Impostor"):
        check_law(Impostor(), checks=["round_trip"])


def test_unknown_check_is_a_usage_error():
    from scalefit.errors import UsageError

    with pytest.raises(UsageError, match="unknown check"):
        check_law("chinchilla", checks=["jacobain"])


# ---------------------------------------------------------------------------- custom laws
# The NIST StRD problems of higher difficulty, written with the public custom-law API
# (tests/_nist.py): the conformance checks at the certified values on NIST's own x, and a fit
# through ``scalefit.fit`` from NIST's second start (tests/test_nist_strd.py fits both starts).


@pytest.fixture(params=sorted(NIST_LAWS))
def nist(request):
    return nist_load(request.param), NIST_LAWS[request.param]()


def test_custom_law_declaration_shapes_and_jacobian(nist):
    p, law = nist
    certified = dict(zip(law.param_names, p.certified, strict=True))
    report = check_law(law, params=certified, X={"x": p.x},
                       checks=["declaration", "domain", "broadcasting", "jacobian"])
    assert report["jacobian"]["max_rel_error"] < 1e-5
    # the transcribed data reproduce the certified residual sum of squares
    r = p.y - law.predict({"x": p.x}, p.certified)
    assert float(r @ r) == pytest.approx(p.rss, rel=1e-9)


def test_custom_law_fit_reaches_the_certified_values(nist):
    import scalefit

    p, law = nist
    res = scalefit.fit(p.frame(), law, objective="mse_linear", starts=p.starts[1][None])
    est = np.array([res.params_[k] for k in law.param_names])
    assert res.n_points == len(p.x)
    assert nist_digits(est, p.certified).min() >= 6, (law.name, est)
    assert res.diagnostics["converged"]


def test_every_law_declares_the_kind_the_registry_lists():
    from scalefit.laws.base import law_kinds

    kinds = law_kinds()
    assert {"final", "curve", "joint_curve"} <= set(kinds.values())
    wrong = {n: (k, get_law(n).kind) for n, k in kinds.items() if get_law(n).kind != k}
    assert wrong == {}
