"""Loss-curve laws: the loss at each logged step from the LR at every step.

Each law is a small declaration (parameter names, bounds, a start grid) plus two pure
functions of one curve: ``predict(curve, theta)`` and ``grad(curve, theta)`` (n, P).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from scalefit.curves.data import Curve
from scalefit.errors import UsageError
from scalefit.laws.curve_kernels import H_ACCURATE, annealing_momentum, mpl_loss_drop
from scalefit.lawspec import Param, law_spec

__all__ = ["CURVE_LAWS", "CurveLaw", "JointLaw", "LRAnnealing", "MeanLaw", "MultiPower",
           "get_curve_law"]


class CurveLaw:
    """Base of the loss-curve laws: parameters, a start grid, and the prediction and
    gradient of one curve (:class:`~scalefit.curves.data.Curve`) from its per-step LR."""
    name: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    source: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    #: parameters the prediction is linear in (solved exactly when screening starts)
    linear: ClassVar[tuple[str, ...]] = ()
    paper_defaults: ClassVar[dict] = {}
    exponents: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[str] = "curve"
    #: the fit method used unless one is asked for ("paper": Adam from a power-law start, the
    #: multi-power paper's recipe; "lbfgs": a screened grid of starts refined by L-BFGS-B)
    default_method: ClassVar[str] = "paper"
    #: typical parameters, for examples and the conformance checks (scalefit.laws.testing):
    #: ``{"params": {name: value}}``
    example: ClassVar[dict] = {}

    @property
    def param_names(self) -> list[str]:
        """Parameter names, in the order of ``theta``."""
        return [p.name for p in self.params]

    def options(self) -> dict:
        """The options this law was built with (what ``get_law`` takes after ``:``); empty here."""
        return {}

    @property
    def spec(self) -> str:
        """The name ``scalefit.laws.get_law`` rebuilds this law from (options included)."""
        return law_spec(self.name, self.options(), type(self).__init__)

    def example_params(self) -> dict[str, float]:
        """Typical parameter values (``example["params"]``)."""
        return dict(self.example.get("params", {}))

    def describe(self) -> dict:
        """The law as a JSON-ready dict: name, spec, kind, formula, source and each parameter's
        bounds, log flag, linearity and doc."""
        return {"name": self.name, "spec": self.spec, "kind": self.kind,
                "formula": self.formula, "source": self.source,
                "params": [{"name": p.name, "lower": p.lower, "upper": p.upper, "log": p.log,
                            "linear": p.name in self.linear, "doc": p.doc}
                           for p in self.params]}

    def predict(self, curve: Curve, theta, steps=None, *, h: float = H_ACCURATE) -> np.ndarray:
        """Predicted loss at the curve's logged steps, or at ``steps`` (indices into
        ``curve.eta``).

        ``theta`` is an array in :attr:`param_names` order or a name -> value dict; ``h`` is the
        trapezoid step of the loss-drop kernel, where the law has one (smaller is more accurate).
        """
        raise NotImplementedError

    def grad(self, curve: Curve, theta, *, h: float = H_ACCURATE):
        """(prediction, d prediction / d theta) at the curve's logged steps."""
        raise NotImplementedError

    def linear_design(self, curve: Curve, nonlinear: dict, *, h: float = 0.5) -> np.ndarray:
        """Columns multiplying the linear parameters (in ``self.linear`` order)."""
        raise NotImplementedError

    def start_grid(self) -> list[dict]:
        """Starting values of the nonlinear parameters, one dict per start; the linear ones
        (:attr:`linear`) are then solved by least squares."""
        raise NotImplementedError

    def theta(self, params) -> np.ndarray:
        """Parameters as a float array in :attr:`param_names` order, from a dict or a sequence."""
        if isinstance(params, dict):
            return np.array([float(params[n]) for n in self.param_names])
        return np.asarray(params, dtype=float)


def _S1(curve: Curve, steps):
    return np.cumsum(curve.eta)[steps]


class MultiPower(CurveLaw):
    """The multi-power law (Luo et al. 2025): a power law in the summed LR minus a loss drop
    from every LR decrease."""
    name = "multi_power"
    formula = ("L(t) = L0 + A*S1(t)^-alpha - B*sum_k (eta_(k-1) - eta_k)*"
               "(1 - (C*eta_k^-gamma*S_k(t) + 1)^-beta)")
    source = "Luo et al. 2025, A Multi-Power Law for Loss Curve Prediction Across LR Schedules"
    params = (
        Param("L0", 0.0, 20.0, doc="irreducible loss of the curve"),
        Param("A", 1e-6, 1e3, log=True),
        Param("alpha", 0.01, 3.0),
        Param("B", 1e-3, 1e6, log=True),
        Param("C", 1e-4, 1e4, log=True),
        Param("beta", 0.01, 5.0),
        Param("gamma", 0.0, 3.0),
    )
    linear = ("L0", "A", "B")
    #: the reference fit's defaults for the parameters its power-law initialisation leaves out
    paper_defaults = {"C": 1.0, "beta": 0.5, "gamma": 0.5}
    #: parameters moved with the small Adam step (exponents); the others use the large one
    exponents = ("alpha", "beta", "gamma")
    #: a law of the size of the paper's 25M-400M fits, for examples and the conformance checks
    example = {"params": {"L0": 2.5, "A": 0.6, "alpha": 0.45, "B": 450.0, "C": 2.0,
                          "beta": 0.6, "gamma": 0.6}}

    def predict(self, curve, theta, steps=None, *, h=H_ACCURATE):
        """Multi-power loss at the logged steps (or ``steps``); the loss drop by
        :func:`mpl_loss_drop`."""
        L0, A, alpha, B, C, beta, gamma = self.theta(theta)
        st = curve.steps if steps is None else np.asarray(steps, dtype=np.int64)
        LD = mpl_loss_drop(curve.eta, st, C, beta, gamma, h=h)
        return L0 + A * _S1(curve, st) ** (-alpha) + B * LD

    def grad(self, curve, theta, *, h=H_ACCURATE):
        """Prediction and its (n, 7) Jacobian in natural parameters at the logged steps."""
        L0, A, alpha, B, C, beta, gamma = self.theta(theta)
        LD, dLD = mpl_loss_drop(curve.eta, curve.steps, C, beta, gamma, grad=True, h=h)
        S1 = curve.S1
        pw = S1 ** (-alpha)
        pred = L0 + A * pw + B * LD
        J = np.column_stack([np.ones_like(S1), pw, -A * pw * np.log(S1), LD,
                             B * dLD[:, 0], B * dLD[:, 1], B * dLD[:, 2]])
        return pred, J

    def linear_design(self, curve, nl, *, h=0.5):
        """Columns for ``L0``, ``A``, ``B``: ones, ``S1^-alpha`` and the loss drop at the given
        ``alpha``, ``C``, ``beta``, ``gamma``."""
        LD = mpl_loss_drop(curve.eta, curve.steps, nl["C"], nl["beta"], nl["gamma"], h=h)
        return np.column_stack([np.ones(len(curve)), curve.S1 ** (-nl["alpha"]), LD])

    def start_grid(self):
        """81 starts: three values each of ``alpha``, ``C``, ``beta`` and ``gamma``."""
        return [{"alpha": a, "C": c, "beta": b, "gamma": g}
                for a in (0.3, 0.45, 0.6) for c in (0.5, 2.0, 8.0)
                for b in (0.4, 0.6, 0.8) for g in (0.4, 0.6, 0.8)]


class LRAnnealing(CurveLaw):
    """The LR-annealing law (Tissue et al. 2024): a power law in the summed LR minus ``C``
    times the annealing area ``S2``, a momentum of the LR decreases with decay ``lam``."""
    name = "lr_annealing"
    formula = "L(s) = L0 + A*S1^-alpha - C*S2, S2 = sum_i m_i, m_i = lambda*m_(i-1) + (eta_(i-1) - eta_i)"
    source = "Tissue et al. 2024, Scaling Law with Learning Rate Annealing"
    params = (
        Param("L0", 0.0, 20.0),
        Param("A", 1e-6, 1e3, log=True),
        Param("alpha", 0.01, 3.0),
        Param("C", 1e-3, 1e6, log=True),
        Param("lam", 0.5, 0.99999),
    )
    linear = ("L0", "A", "C")
    paper_defaults = {"lam": 0.999}
    exponents = ("alpha", "lam")
    # Adam from the power-law start stalls with A at its bound (12-15% fit errors on the
    # multi-power curves); the screened L-BFGS-B fit reaches 0.03-0.13%
    default_method = "lbfgs"
    example = {"params": {"L0": 2.4, "A": 0.62, "alpha": 0.46, "C": 0.9, "lam": 0.998}}

    def predict(self, curve, theta, steps=None, *, h=H_ACCURATE):
        """LR-annealing loss at the logged steps (or ``steps``); ``h`` is not used."""
        L0, A, alpha, C, lam = self.theta(theta)
        st = curve.steps if steps is None else np.asarray(steps, dtype=np.int64)
        S2 = annealing_momentum(curve.eta, lam)[st]
        return L0 + A * _S1(curve, st) ** (-alpha) - C * S2

    def grad(self, curve, theta, *, h=H_ACCURATE):
        """Prediction and its (n, 5) Jacobian in natural parameters at the logged steps."""
        L0, A, alpha, C, lam = self.theta(theta)
        S2, dS2 = annealing_momentum(curve.eta, lam, grad=True)
        S2, dS2 = S2[curve.steps], dS2[curve.steps]
        S1 = curve.S1
        pw = S1 ** (-alpha)
        pred = L0 + A * pw - C * S2
        J = np.column_stack([np.ones_like(S1), pw, -A * pw * np.log(S1), -S2, -C * dS2])
        return pred, J

    def linear_design(self, curve, nl, *, h=0.5):
        """Columns for ``L0``, ``A``, ``C``: ones, ``S1^-alpha`` and ``-S2`` at the given
        ``alpha`` and ``lam``."""
        S2 = annealing_momentum(curve.eta, nl["lam"])[curve.steps]
        return np.column_stack([np.ones(len(curve)), curve.S1 ** (-nl["alpha"]), -S2])

    def start_grid(self):
        """16 starts: four values each of ``alpha`` and ``lam``."""
        return [{"alpha": a, "lam": lam} for a in (0.2, 0.35, 0.5, 0.7)
                for lam in (0.99, 0.995, 0.999, 0.9995)]


class JointLaw(CurveLaw):
    """A curve law across model sizes: chosen parameters are power laws of N.

    ``P(N) = P_ref * (N / N_ref)^P_exp`` for each parameter in ``scaled`` (by default the
    irreducible loss and the amplitudes); the other parameters are shared by every size.
    """

    # the registry's kind for joint laws (`scalefit laws` groups them apart)
    kind: ClassVar[str] = "joint_curve"
    # Adam's early stop leaves the joint fit far from its optimum (5% errors on synthetic
    # curves of a known joint law, against 0.07% for L-BFGS-B from per-size starts)
    default_method = "lbfgs"

    def __init__(self, base: CurveLaw | str = "multi_power", scaled=None, N_ref: float = 1e8):
        self.base = get_curve_law(base) if isinstance(base, str) else base
        default = ("L0", "A", "B") if self.base.name == "multi_power" else ("L0", "A", "C")
        self.scaled = tuple(scaled or default)
        self.N_ref = float(N_ref)
        ps = []
        for p in self.base.params:
            if p.name in self.scaled:
                lo = max(p.lower, 1e-6)
                ps.append(Param(p.name, lo, p.upper, log=True, doc=f"{p.name} at N_ref"))
                ps.append(Param(p.name + "_exp", -3.0, 3.0,
                                 doc=f"{p.name} = {p.name}*(N/N_ref)^{p.name}_exp"))
            else:
                ps.append(p)
        self.params = tuple(ps)
        self.name = f"joint_{self.base.name}"
        self.formula = (self.base.formula + "; " + ", ".join(
            f"{s} = {s}*(N/N_ref)^{s}_exp" for s in self.scaled))
        self.source = self.base.source + "; joint across model sizes"
        self.linear = ()
        self.exponents = tuple(self.base.exponents) + tuple(s + "_exp" for s in self.scaled)
        self._default_scaled = default
        # the base law's example, the irreducible loss falling and the amplitudes growing a
        # little with size
        base_ex = self.base.example_params()
        self.example = {"params": {
            p.name: (-0.05 if p.name == "L0_exp" else 0.1) if p.name.endswith("_exp")
            else base_ex[p.name] for p in self.params}} if base_ex else {}

    def options(self):
        """``base``, ``scaled`` and ``N_ref``, as built."""
        return {"base": self.base.name, "scaled": list(self.scaled), "N_ref": self.N_ref}

    @property
    def spec(self) -> str:
        """The name ``get_law`` rebuilds this law from; ``scaled`` and ``N_ref`` only where they
        are not the defaults."""
        # the base is in the name (joint_multi_power); scaled and N_ref only where not default
        opts = {"scaled": None if self.scaled == self._default_scaled else list(self.scaled),
                "N_ref": None if self.N_ref == 1e8 else self.N_ref}
        return law_spec(self.name, opts)

    def base_theta(self, theta, N: float | None):
        """The base law's parameters (name -> value) for a curve of model size ``N``: each
        scaled parameter is ``P * (N / N_ref)^P_exp``. ``UsageError`` when ``N`` is None."""
        if N is None:
            raise UsageError("the joint law needs the model size N of each curve",
                             hint="give N (parameters) for every curve")
        th = dict(zip(self.param_names, self.theta(theta), strict=True))
        r = float(N) / self.N_ref
        out = {}
        for p in self.base.params:
            if p.name in self.scaled:
                out[p.name] = th[p.name] * r ** th[p.name + "_exp"]
            else:
                out[p.name] = th[p.name]
        return out

    def predict(self, curve, theta, steps=None, *, h=H_ACCURATE):
        """The base law's prediction with the parameters of the curve's size ``curve.N``."""
        return self.base.predict(curve, self.base_theta(theta, curve.N), steps, h=h)

    def grad(self, curve, theta, *, h=H_ACCURATE):
        """Prediction and its Jacobian in the joint parameters (chain rule through each scaled
        parameter)."""
        bt = self.base_theta(theta, curve.N)
        pred, Jb = self.base.grad(curve, bt, h=h)
        th = dict(zip(self.param_names, self.theta(theta), strict=True))
        lr = np.log(float(curve.N) / self.N_ref)
        cols = []
        for i, p in enumerate(self.base.params):
            if p.name in self.scaled:
                val = bt[p.name]
                cols.append(Jb[:, i] * val / th[p.name])
                cols.append(Jb[:, i] * val * lr)
            else:
                cols.append(Jb[:, i])
        return pred, np.column_stack(cols)

    def start_grid(self):
        """The base law's start grid."""
        return self.base.start_grid()


class MeanLaw(CurveLaw):
    """The mean of the multi-power and LR-annealing predictions, each law fitted on its own.

    Two curves (say a cosine and a constant run) leave the annealing kinetics of either law
    poorly determined, and the two laws err in different directions on unseen schedules: on
    the multi-power curves their mean halves the final-loss error at 25M and 100M. Their
    disagreement is also a measure of the choice of law that goes into the prediction band.
    Parameters are the members', prefixed ``multi_power.`` and ``lr_annealing.``.
    """

    name = "ensemble"
    members: ClassVar[tuple[str, ...]] = ("multi_power", "lr_annealing")
    default_method = "lbfgs"

    def __init__(self):
        self.laws = [CURVE_LAWS[m]() for m in self.members]
        self.params = tuple(Param(f"{law.name}.{p.name}", p.lower, p.upper, log=p.log,
                                  doc=p.doc) for law in self.laws for p in law.params)
        self.formula = "L(t) = (L_multi_power(t) + L_lr_annealing(t)) / 2"
        self.source = "; ".join(law.source for law in self.laws)
        self.example = {"params": {f"{law.name}.{k}": v for law in self.laws
                                   for k, v in law.example_params().items()}}

    def split(self, theta) -> list[np.ndarray]:
        """``theta`` cut into one parameter array per member law, in :attr:`members` order."""
        th = self.theta(theta)
        out, i = [], 0
        for law in self.laws:
            k = len(law.params)
            out.append(th[i:i + k])
            i += k
        return out

    def member_predictions(self, curve, theta, steps=None, *, h=H_ACCURATE) -> np.ndarray:
        """(members, n) predictions of each member law."""
        return np.stack([law.predict(curve, t, steps, h=h)
                         for law, t in zip(self.laws, self.split(theta), strict=True)])

    def predict(self, curve, theta, steps=None, *, h=H_ACCURATE):
        """The mean of the member laws' predictions."""
        return self.member_predictions(curve, theta, steps, h=h).mean(axis=0)

    def grad(self, curve, theta, *, h=H_ACCURATE):
        """Mean prediction and its Jacobian: the members' Jacobians side by side, divided by the
        number of members."""
        preds, Js = zip(*(law.grad(curve, t, h=h)
                          for law, t in zip(self.laws, self.split(theta), strict=True)),
                        strict=True)
        k = len(self.laws)
        return np.mean(preds, axis=0), np.column_stack(Js) / k

    def theta(self, params) -> np.ndarray:
        """Parameters as a float array in :attr:`param_names` order (a dict is keyed by the
        member-prefixed names)."""
        if isinstance(params, dict):
            return np.array([float(params[n]) for n in self.param_names])
        return np.asarray(params, dtype=float)


CURVE_LAWS = {"multi_power": MultiPower, "lr_annealing": LRAnnealing}


def get_curve_law(name: str | CurveLaw, **options) -> CurveLaw:
    """Build a loss-curve law from its name: ``multi_power``, ``lr_annealing``, ``ensemble``,
    or ``joint_<base>`` / ``joint:base=...`` with options ``scaled=L0;A`` and ``N_ref=``.

    A :class:`CurveLaw` comes back unchanged; an unknown law or option is a ``UsageError``.
    """
    if isinstance(name, CurveLaw):
        return name
    base, _, opts = str(name).partition(":")
    for item in filter(None, opts.split(",")):
        k, _, v = item.partition("=")
        options[k.strip()] = v.strip()
    if base.startswith("joint_") or base == "joint":
        inner = base[len("joint_"):] if base.startswith("joint_") else options.pop("base",
                                                                                  "multi_power")
        scaled = options.pop("scaled", None)
        if isinstance(scaled, str):
            scaled = [s for s in scaled.replace(";", " ").split() if s]
        law = JointLaw(inner, scaled=scaled, N_ref=float(options.pop("N_ref", 1e8)))
    elif base == MeanLaw.name:
        law = MeanLaw()
    elif base not in CURVE_LAWS:
        raise UsageError(f"unknown curve law {base!r}",
                         hint=f"curve laws: {', '.join(sorted(CURVE_LAWS))}, ensemble, "
                              "joint_multi_power")
    else:
        law = CURVE_LAWS[base]()
    if options:
        raise UsageError(f"curve law {base!r} does not take option(s) {sorted(options)}",
                         where=str(name), hint="joint laws take base=, scaled=, N_ref=")
    return law
