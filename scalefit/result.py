"""FitResult: what a fit returns, prints, predicts with and writes as a JSON artefact.

The JSON artefact (``to_json``) is the contract other tools read; its schema is documented in
``docs/fit-json.md`` and versioned by ``schema``.
"""

from __future__ import annotations

import math
import warnings as _warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scalefit.artefacts import (
    SCHEMA_VERSION,
    data_record,
    jsonable,
    read_artefact,
    write_artefact,
)
from scalefit.errors import InputError, ScalefitError, UsageError
from scalefit.lawspec import prior_text
from scalefit.summary import ParamRow, PredictionRow, Section, Summary, fmt, one_line
from scalefit.units import PredictionWarning, input_warnings
from scalefit.version import __version__

__all__ = ["FitResult", "Prediction", "Summary", "SCHEMA_VERSION", "load_artefact"]


def _version() -> str:
    return __version__


@dataclass
class Prediction:
    """Predicted values at some inputs, with a (lo, hi) interval when one is available."""

    inputs: dict[str, np.ndarray]
    value: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    method: str | None = None  # "bootstrap" or "delta", "+backtest" when calibrated
    #: how the interval was calibrated, or why it was not
    calibration: str | None = None
    #: law="auto"'s average: what each of its members predicts (label -> value), so that the
    #: share of the interval that is disagreement between laws shows
    members: dict[str, np.ndarray] | None = None

    def __float__(self) -> float:
        return float(np.asarray(self.value).reshape(-1)[0])

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)

    #: what is doubtful about this prediction (units, extrapolation, its interval); set by
    #: FitResult.predict, kept in the records
    warnings: tuple | list = ()

    def to_records(self) -> list[dict]:
        """One JSON-ready dict per predicted point: its inputs, ``value``, ``lo``, ``hi`` (None
        when absent or not finite), plus ``warnings``, ``interval`` and ``calibration`` when set."""
        v = np.atleast_1d(self.value)
        out = []
        for i in range(v.size):
            rec = {"inputs": {k: float(np.atleast_1d(x)[i if np.size(x) > 1 else 0])
                              for k, x in self.inputs.items()},
                   "value": float(v[i]),
                   "lo": None if self.lo is None else _f(np.atleast_1d(self.lo)[i]),
                   "hi": None if self.hi is None else _f(np.atleast_1d(self.hi)[i])}
            if self.warnings:
                rec["warnings"] = list(self.warnings)
            if self.method:
                rec["interval"] = self.method
            if self.calibration:
                rec["calibration"] = self.calibration
            if self.members:
                rec["members"] = {k: _f(np.atleast_1d(x)[i if np.size(x) > 1 else 0])
                                  for k, x in self.members.items()}
            out.append(rec)
        return out

    def __repr__(self) -> str:
        v = np.atleast_1d(self.value)
        if self.lo is None:
            return f"Prediction({np.array2string(v, precision=5)})"
        return (f"Prediction({np.array2string(v, precision=5)}, "
                f"lo={np.array2string(np.atleast_1d(self.lo), precision=5)}, "
                f"hi={np.array2string(np.atleast_1d(self.hi), precision=5)})")


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class FitResult:
    """The outcome of :func:`scalefit.fit`.

    Attributes follow scikit-learn's convention: fitted values end with ``_``.
    ``params_``: name -> value. ``ci_``: name -> (lo, hi) bootstrap percentile interval (``None``
    without a bootstrap). ``stderr_``: delta-method standard errors. ``objective_``: the minimised
    objective. ``derived``: name -> {"value", "lo", "hi"} (e.g. chinchilla's a, b, G).
    """

    law: str
    params_: dict[str, float]
    objective_: float
    n_points: int
    ci_: dict[str, tuple[float, float]] | None = None
    stderr_: dict[str, float] = field(default_factory=dict)
    n_runs: int = 0
    metric: str = "loss"
    predictions: list[dict] = field(default_factory=list)
    derived: dict[str, dict] = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    backtest: dict | None = None
    settings: dict = field(default_factory=dict)
    data_hash: str = ""
    version: str = field(default_factory=_version)
    #: bootstrap parameter samples (B, P) in the law's parameter order, if bootstrapped
    samples: np.ndarray | None = None
    #: how the data was given (``files``, ``store``, ``in-memory DataFrame`` ...); the
    #: artefact's ``data`` record says it beside the paths and hash
    data_origin: str = ""
    # in-memory only: the data set, optimiser problem, delta-method covariance
    dataset: object | None = field(default=None, repr=False, compare=False)
    _problem: object | None = field(default=None, repr=False, compare=False)
    _v: np.ndarray | None = field(default=None, repr=False, compare=False)
    _cov: np.ndarray | None = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ law
    @property
    def law_(self):
        """The fitted law object, rebuilt from its name ``law``."""
        from scalefit.laws import get_law

        return get_law(self.law)

    @property
    def level(self) -> float:
        """Confidence level of the intervals (``settings['level']``, default 0.95)."""
        return float(self.settings.get("level", 0.95))

    def _theta(self) -> np.ndarray:
        return np.array([self.params_[p] for p in self.law_.param_names], float)

    def input_range(self) -> dict[str, tuple[float, float]]:
        """(min, max) of N, D and C over the fitted points: from the data when attached, else
        as the artefact recorded it (``diagnostics.input_range``); empty when unknown."""
        ds = self.dataset
        if ds is None or not getattr(ds, "X", None):
            rng = (self.diagnostics or {}).get("input_range") or {}
            return {k: (float(v[0]), float(v[1])) for k, v in rng.items()}
        cols = dict(ds.X)
        if "C" not in cols:
            try:
                cols["C"] = ds.compute()
            except (KeyError, ValueError):
                pass
        out = {}
        for k in ("N", "D", "C"):
            a = np.asarray(cols.get(k, []), float)
            a = a[np.isfinite(a) & (a > 0)]
            if a.size:
                out[k] = (float(a.min()), float(a.max()))
        return out

    # ------------------------------------------------------------------ predictions
    def predict(self, inputs: Mapping[str, object] | None = None, **kw) -> Prediction:
        """Predicted metric at the given inputs (``predict(N=7e10, D=1.4e12)``), with a bootstrap
        percentile interval when bootstrapped, else a delta-method band when available."""
        law = self.law_
        given = dict(inputs or {}, **kw)
        X = _complete_inputs(law, given)
        Xc = law.check_inputs(X)
        value = law._predict(Xc, self._theta())
        lo = hi = None
        method = None
        if self.samples is not None and len(self.samples):
            with np.errstate(all="ignore"):
                draws = law._predict(Xc, self.samples)
            lo, hi = _pct(draws, self.level)
            method = "bootstrap"
        elif self._cov is not None and self._problem is not None:
            from scalefit.fitting.bootstrap import delta_band

            _, lo, hi = delta_band(self._problem, self._v, self._cov, Xc, self.level)
            method = "delta"
        members = _ensemble_predictions(self.backtest, given)
        if members:
            # law="auto"'s average; the chosen member's interval moves with it
            avg = sum(w * p for w, p, _ in members)
            with np.errstate(all="ignore"):
                shift = avg / value
            if lo is not None:
                lo, hi = lo * shift, hi * shift
            value = avg
        calibrated = None
        cal = (self.backtest or {}).get("calibration") if isinstance(self.backtest, dict) else None
        if isinstance(cal, Mapping) and cal.get("rate_per_decade") is not None:
            from scalefit.fitting.calibration import widen

            lo, hi, _ = widen(value, lo, hi, Xc, cal, self.level)
            for alt_pred in _variant_predictions(cal, given) + [p for _, p, _ in members]:
                lo, hi = np.fmin(lo, alt_pred), np.fmax(hi, alt_pred)
            method = f"{method}+backtest" if method else "backtest"
            whose = "the average's backtest" if cal.get("of") == "average" else "the backtest"
            calibrated = (f"{100 * self.level:.0f}% interval calibrated on {whose} "
                          f"{cal.get('holdout')} ({cal.get('n_points')} held-out points): "
                          f"{100 * cal['rate_per_decade']:.2f}% per decade beyond the fitted "
                          f"range{_span_note(cal)}, run scatter "
                          f"{100 * float(cal.get('noise') or 0):.2f}%")
            if members:
                calibrated += (f"; the value averages {len(members)} fits (the backtest's "
                               "ensemble), whose predictions it also covers")
            alts = cal.get("alternatives")
            if isinstance(alts, list) and alts:
                calibrated += ("; it also covers what Chinchilla's form with free or tied "
                               "exponents predicts ("
                               + ", ".join(str(a.get("law")) for a in alts
                                           if isinstance(a, Mapping)) + ", fitted to the same runs)")
        elif method:
            calibrated = ("not calibrated: parameter uncertainty only (fit with a holdout, "
                          "e.g. --holdout auto, to calibrate on a backtest)")
        shape = np.broadcast_shapes(*(np.shape(v) for v in given.values())) if given else ()
        def rs(a):  # scalar inputs give floats, arrays give arrays
            if a is None:
                return None
            return float(np.asarray(a).reshape(-1)[0]) if shape == () else np.asarray(a)

        shown = {k: np.asarray(v, float) for k, v in given.items()}
        shown.update({k: np.asarray(v, float) for k, v in X.items()})
        pred = Prediction(shown, rs(value), rs(lo), rs(hi), method, calibrated,
                          members={label: rs(p) for _, p, label in members} or None)
        # a units slip or a far extrapolation gives confident nonsense: say so, in the record
        # and through the warnings system
        pred.warnings = (input_warnings(shown, self.input_range())
                         + _interval_warnings(value, lo, hi))
        for w in pred.warnings:
            _warnings.warn(w, PredictionWarning, stacklevel=2)
        return pred

    def optimal(self, C) -> dict:
        """Compute-optimal allocation at budget(s) ``C``: {"N", "D", "loss"} arrays, with
        ``"N_lo"``, ``"N_hi"`` ... from the bootstrap when available. For law="auto"'s
        average, the optimum of the averaged loss."""
        law = self.law_
        out = law.optimal(self.params_, C)
        if out is None:
            raise UsageError(f"law {law.name!r} defines no compute-optimal allocation",
                             where="optimal", hint="use a law such as chinchilla")
        out = {k: np.asarray(v, float) for k, v in out.items()}
        if self.samples is not None and len(self.samples):
            draws = _optimal_draws(law, self.samples, C)
            for k, arr in draws.items():
                lo, hi = _pct(arr, self.level)
                out[f"{k}_lo"], out[f"{k}_hi"] = lo.reshape(np.shape(C)), hi.reshape(np.shape(C))
        members = _ensemble_laws(self.backtest)
        if members and all(set(law.input_names) == {"N", "D"} for _, law, _ in members):
            _average_optimum(out, members, C)
        out["C"] = np.asarray(C, float)
        return out

    def to_lmfit(self):
        """The fitted parameters as :class:`lmfit.Parameters` (values, bounds, fixed/expression
        flags from the fit, delta-method ``stderr``), for lmfit's readable reports."""
        import lmfit

        law = self.law_
        fix = self.settings.get("fix") or {}
        expr = self.settings.get("expr") or {}
        out = lmfit.Parameters()
        for p in law.params:
            out.add(p.name, value=self.params_[p.name], min=p.lower, max=p.upper,
                    vary=p.name not in fix and p.name not in expr)
            se = self.stderr_.get(p.name)
            if se is not None and math.isfinite(se):
                out[p.name].stderr = se
        return out

    # ------------------------------------------------------------------ text
    def summary(self) -> Summary:
        """Text (``str``), HTML and dict views of the fit (:class:`scalefit.summary.Summary`)."""
        return _summary(self)

    def __str__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        # one line; str() is the full summary
        return one_line("FitResult", self.law, f"on {self.metric!r}: {self.n_points} points, "
                                               f"{self.n_runs} runs", self.params_)

    @property
    def ensemble(self) -> dict | None:
        """law="auto"'s average, when it predicts with one: ``{"members": [{"label", "law",
        "weight", "params", ...}], "mean_rel_error", ...}`` (``backtest["ensemble"]``)."""
        ens = (self.backtest or {}).get("ensemble") if isinstance(self.backtest, dict) else None
        return ens if _ensemble_laws(self.backtest) else None

    @property
    def warnings(self) -> list[str]:
        """The fit's warnings (``diagnostics['warnings']``)."""
        return list(self.diagnostics.get("warnings", []))

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        """The JSON artefact as a dict (``kind`` "fit"; schema in ``docs/fit-json.md``), with the
        bootstrap samples when bootstrapped."""
        law = self.law_
        d = {
            "schema": SCHEMA_VERSION,
            "kind": "fit",
            "law": self.law,
            "formula": law.formula,
            "metric": self.metric,
            "params": {k: float(v) for k, v in self.params_.items()},
            "ci": None if self.ci_ is None else {k: [_f(a), _f(b)] for k, (a, b) in self.ci_.items()},
            "stderr": {k: _f(v) for k, v in self.stderr_.items()},
            "objective": float(self.objective_),
            "n_points": int(self.n_points),
            "n_runs": int(self.n_runs),
            "predictions": _jsonable(self.predictions),
            "derived": _jsonable(self.derived),
            "diagnostics": _jsonable(_with_range(self.diagnostics, self.input_range())),
            "backtest": _jsonable(self.backtest),
            "settings": _jsonable(self.settings),
            "data_hash": self.data_hash,
            "data": data_record(self.settings.get("data"), self.data_hash, self.data_origin),
            "version": self.version,
        }
        if self.samples is not None:
            d["bootstrap"] = {"n": int(len(self.samples)), "param_order": law.param_names,
                              "samples": [[float(x) for x in row] for row in self.samples]}
        return d

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str | None:
        """The JSON artefact as text, or written to ``path`` (then None, so that a notebook
        cell that saves a fit does not echo it)."""
        text = write_artefact(self.to_dict(), path, indent=indent)
        return None if path is not None else text

    @classmethod
    def from_dict(cls, d: Mapping) -> FitResult:
        """Rebuild a result from an artefact dict, validated first (it is untrusted);
        ``InputError`` for an invalid artefact. The in-memory parts (data set, covariance) are
        not restored."""
        from scalefit.artefacts import validate_fit_artefact

        if not isinstance(d, Mapping):
            raise InputError("not a scalefit fit artefact (expected a JSON object)")
        # an artefact is untrusted: types, shapes, bounds and bootstrap checked before use
        validate_fit_artefact(d)
        boot = d.get("bootstrap") or None
        samples = None
        if boot and boot.get("samples"):
            samples = np.asarray(boot["samples"], float)
        ci = d.get("ci")
        return cls(
            law=d["law"], params_={k: float(v) for k, v in d["params"].items()},
            objective_=float(d["objective"]), n_points=int(d["n_points"]),
            ci_=None if ci is None else {k: (_nan(a), _nan(b)) for k, (a, b) in ci.items()},
            stderr_={k: _nan(v) for k, v in (d.get("stderr") or {}).items()},
            n_runs=int(d.get("n_runs", 0)), metric=d.get("metric", "loss"),
            predictions=list(d.get("predictions") or []), derived=dict(d.get("derived") or {}),
            diagnostics=dict(d.get("diagnostics") or {}), backtest=d.get("backtest"),
            settings=dict(d.get("settings") or {}), data_hash=d.get("data_hash", ""),
            version=d.get("version", ""), samples=samples,
            data_origin=str((d.get("data") or {}).get("origin", "")))

    @classmethod
    def from_json(cls, source: str | Path) -> FitResult:
        """Read an artefact from a path or from JSON text."""
        return cls.from_dict(read_artefact(source))


def _ensemble_laws(backtest) -> list[tuple[float, object, np.ndarray]]:
    """(weight, law, parameters) of each member of law="auto"'s average
    (``backtest["ensemble"]``), or [] when there is none or a member is not a known law with
    finite parameters (then the chosen law alone predicts)."""
    ens = backtest.get("ensemble") if isinstance(backtest, Mapping) else None
    members = ens.get("members") if isinstance(ens, Mapping) else None
    if not isinstance(members, list) or len(members) < 2:
        return []
    laws = [_recorded_law(m) for m in members]
    if any(x is None for x in laws):
        return []
    w = np.array([float(m["weight"]) for m in members])
    return [(float(wi), law, theta) for wi, (law, theta) in zip(w / w.sum(), laws, strict=True)]


def _ensemble_predictions(backtest, given: dict) -> list[tuple[float, np.ndarray, str]]:
    """(weight, prediction, label) of each member of law="auto"'s average at ``given``, or []
    when there is none or a member cannot predict there."""
    laws = _ensemble_laws(backtest)
    recs = backtest["ensemble"]["members"] if laws else []
    out = []
    for (w, law, theta), rec in zip(laws, recs, strict=True):
        pred = _predict_recorded(law, theta, given)
        if pred is None:
            return []
        out.append((w, pred, str(rec.get("label") or rec.get("law"))))
    return out


def _span_note(cal: Mapping) -> str:
    """How the rate was scaled, for calibrations that record it (fits saved before did not)."""
    span, per_span = cal.get("span_decades"), cal.get("rate_per_span")
    if span is None or per_span is None:
        return ""
    return (f" ({100 * float(per_span):.2f}% per length of the sizes' range, which spans "
            f"{float(span):.2f} decades here)")


def members_text(members: Mapping[str, float]) -> str:
    """The line under a prediction of law="auto"'s average: what each member predicts."""
    return "members of the average: " + ", ".join(f"{k} {_g(v, 5)}"
                                                  for k, v in members.items())


def _variant_predictions(cal: Mapping, given: dict) -> list[np.ndarray]:
    """Predictions of the variants recorded beside the fit (free or tied exponents), which
    the interval covers too. A variant that is not a known law with finite parameters of its
    own names (a tampered file), or that predicts a non-finite value, is skipped."""
    alts = cal.get("alternatives")
    out = []
    for alt in alts if isinstance(alts, list) else []:
        rec = _recorded_law(alt)
        pred = None if rec is None else _predict_recorded(*rec, given)
        if pred is not None:
            out.append(pred)
    return out


def _recorded_law(entry) -> tuple[object, np.ndarray] | None:
    """(law, parameters) of a law recorded by name and parameters (``{"law", "params"}``), or
    None when it is not a known law with finite parameters of its own names."""
    from scalefit.errors import ScalefitError
    from scalefit.laws import get_law

    try:
        law = get_law(str(entry["law"]))
        theta = np.array([float(entry["params"][k]) for k in law.param_names])
    except (ScalefitError, KeyError, TypeError, ValueError):
        return None
    return (law, theta) if np.all(np.isfinite(theta)) else None


def _predict_recorded(law, theta: np.ndarray, given: dict) -> np.ndarray | None:
    """A recorded law's prediction at ``given``; None when the inputs do not suit it or it
    is not finite there."""
    from scalefit.errors import ScalefitError

    try:
        X = law.check_inputs(_complete_inputs(law, given))
    except (ScalefitError, KeyError, TypeError, ValueError):
        return None
    with np.errstate(all="ignore"):
        pred = law._predict(X, theta)
    return pred if np.all(np.isfinite(pred)) else None


def _average_optimum(out: dict, members, C) -> None:
    """Move a compute-optimal allocation (``out`` from the chosen law) to the optimum of
    law="auto"'s average: for each budget, the N on a log grid around the chosen law's N_opt
    (x/÷ 30, refined by a parabola) that minimises the weighted mean loss at D = C/(6N). The
    chosen law's bootstrap intervals move with it (as ``predict``'s do)."""
    C = np.asarray(C, float).reshape(-1)
    n0 = np.asarray(out["N"], float).reshape(-1)
    if not np.all(np.isfinite(n0) & (n0 > 0)):
        return
    offs = np.linspace(-math.log(30.0), math.log(30.0), 601)
    logn = np.log(n0)[:, None] + offs[None, :]
    N = np.exp(logn)
    D = C[:, None] / (6.0 * N)
    loss = np.zeros_like(N)
    for w, law, theta in members:
        pred = _predict_recorded(law, theta, {"N": N.ravel(), "D": D.ravel()})
        if pred is None:
            return
        loss += w * np.asarray(pred, float).reshape(N.shape)
    i = np.clip(np.argmin(loss, axis=1), 1, len(offs) - 2)
    rows = np.arange(len(C))
    l0, l1, l2 = loss[rows, i - 1], loss[rows, i], loss[rows, i + 1]
    h = offs[1] - offs[0]
    with np.errstate(all="ignore"):
        shift = np.where(l0 - 2 * l1 + l2 > 0, 0.5 * h * (l0 - l2) / (l0 - 2 * l1 + l2), 0.0)
    n_opt = np.exp(logn[rows, i] + np.clip(shift, -h, h))
    d_opt = C / (6.0 * n_opt)
    l_opt = sum(w * np.asarray(_predict_recorded(law, theta, {"N": n_opt, "D": d_opt}), float)
                for w, law, theta in members)
    shape = np.shape(out["N"])
    for key, new in (("N", n_opt), ("D", d_opt), ("loss", l_opt)):
        ratio = new / np.asarray(out[key], float).reshape(-1)
        for k in (f"{key}_lo", f"{key}_hi"):
            if k in out:
                out[k] = (np.asarray(out[k], float).reshape(-1) * ratio).reshape(shape)
        out[key] = new.reshape(shape)


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def _pct(draws: np.ndarray, level: float):
    a = (1 - level) / 2
    with np.errstate(all="ignore"):
        return (np.nanpercentile(draws, 100 * a, axis=0),
                np.nanpercentile(draws, 100 * (1 - a), axis=0))


def _with_range(diagnostics: dict, rng: dict) -> dict:
    """Diagnostics with the fitted range of N, D, C (read back to flag far extrapolation)."""
    if not rng:
        return diagnostics
    return {**diagnostics, "input_range": {k: [lo, hi] for k, (lo, hi) in rng.items()}}


def _interval_warnings(value, lo, hi) -> list[str]:
    v = np.atleast_1d(np.asarray(value, float))
    if not np.all(np.isfinite(v)):
        return ["the prediction is not a finite number at these inputs (the law overflows "
                "or is undefined there)"]
    if lo is None or hi is None:
        return []
    lo, hi = np.atleast_1d(np.asarray(lo, float)), np.atleast_1d(np.asarray(hi, float))
    tol = 1e-9 * np.abs(v)
    out = (v < lo - tol) | (v > hi + tol) | ~np.isfinite(lo) | ~np.isfinite(hi)
    if np.any(out):
        return ["the prediction lies outside its own interval (or the interval is not finite): "
                "the bootstrap refits disagree with the fit here; do not trust either"]
    return []


def _optimal_draws(law, samples: np.ndarray, C) -> dict[str, np.ndarray]:
    names = law.param_names
    Cs = np.atleast_1d(np.asarray(C, float))
    try:  # vectorised when the law's formulas are (chinchilla's are)
        p = {k: samples[:, i][:, None] for i, k in enumerate(names)}
        d = law.derived(p)
        if {"a", "b", "G"} <= set(d) and law.name == "chinchilla":
            n_opt = d["G"] * (Cs[None] / 6.0) ** d["a"]
            d_opt = (Cs[None] / 6.0) ** d["b"] / d["G"]
            th = samples[:, None, :]
            E, A, B, al, be = (th[..., i] for i in range(5))
            loss = E + A * n_opt ** -al + B * d_opt ** -be
            return {"N": n_opt, "D": d_opt, "loss": loss}
    except Exception:  # noqa: BLE001 (fall back to one call per sample)
        pass
    rows: dict[str, list] = {}
    for s in samples:
        o = law.optimal(dict(zip(names, s, strict=True)), Cs)
        for k, v in (o or {}).items():
            rows.setdefault(k, []).append(np.atleast_1d(np.asarray(v, float)))
    return {k: np.stack(v) for k, v in rows.items()}


def _complete_inputs(law, given: dict) -> dict:
    names = law.input_names
    X = {k: np.asarray(v, float) for k, v in given.items() if k in names}
    # N, D and C may all be given (C = 6ND places a prediction on a compute axis); a law that
    # uses fewer of them ignores the rest
    unknown = [k for k in given if k not in names and k not in ("N", "D", "C")]
    if unknown:
        raise UsageError(f"law {law.name!r} has inputs {names}; got {unknown}", where="predict")
    # fill N, D or C from C = 6·N·D
    C = given.get("C")
    if "D" in names and "D" not in X and C is not None and "N" in X:
        X["D"] = np.asarray(C, float) / (6.0 * X["N"])
    if "N" in names and "N" not in X and C is not None and "D" in X:
        X["N"] = np.asarray(C, float) / (6.0 * X["D"])
    if "C" in names and "C" not in X:
        if C is not None:
            X["C"] = np.asarray(C, float)
        elif "N" in given and "D" in given:
            X["C"] = 6.0 * np.asarray(given["N"], float) * np.asarray(given["D"], float)
    missing = [k for k in names if k not in X]
    if missing:
        raise UsageError(f"law {law.name!r} needs {names} to predict; missing {missing}",
                         where="predict", hint=f"e.g. predict({', '.join(n + '=...' for n in names)})")
    return X


_jsonable = jsonable


# ---------------------------------------------------------------------- summary
def _g(x, digits: int = 4) -> str:
    return fmt(x, digits)


def _summary(r: FitResult) -> Summary:
    """The neutral description of a final-loss fit; rendered by :class:`Summary`."""
    law = r.law_
    level = int(round(100 * r.level))
    fix = r.settings.get("fix") or {}
    at_bound = set((r.diagnostics or {}).get("at_bound") or [])
    params = []
    for k, v in r.params_.items():
        lo = hi = None
        if k in fix:
            iv = "fixed"
        elif r.ci_ and k in r.ci_:
            lo, hi = r.ci_[k]
            iv = f"[{_g(lo)}, {_g(hi)}]  ({level}% bootstrap)"
        elif k in r.stderr_ and r.stderr_[k] is not None and math.isfinite(r.stderr_[k]):
            iv = f"± {_g(r.stderr_[k], 2)}  (delta method s.e.)"
        else:
            iv = ""
        params.append(ParamRow(k, v, iv, lo, hi, ("at bound",) if k in at_bound else ()))
    derived = [ParamRow(k, d.get("value"), lo=d.get("lo"), hi=d.get("hi"),
                        doc=str(d.get("doc") or ""))
               for k, d in r.derived.items()]
    preds = []
    for p in r.predictions:
        extra = []
        for k in ("N", "D"):  # compute-optimal allocations carry N and D
            if isinstance(p.get(k), dict):
                q = p[k]
                qi = (f"  [{_g(q.get('lo'), 3)}, {_g(q.get('hi'), 3)}]"
                      if q.get("lo") is not None else "")
                extra.append(f"optimal {k} = {_g(q.get('value'), 4)}{qi}")
        if isinstance(p.get("members"), dict) and p["members"]:
            extra.append(members_text(p["members"]))
        preds.append(PredictionRow(str(p.get("label", r.metric)), dict(p.get("inputs") or {}),
                                   p.get("value"), p.get("lo"), p.get("hi"),
                                   tuple(p.get("warnings") or ()), tuple(extra)))
    sections = []
    if r.backtest:
        bt = r.backtest
        folds = bt.get("folds") if isinstance(bt.get("folds"), list) else []
        held = (f"{bt.get('n_heldout')} predictions of held-out points over {len(folds)} "
                "origins" if folds else f"{bt.get('n_heldout')} held-out points")
        lines = []
        if bt.get("holdout_reason"):
            lines.append(f"  ({bt['holdout_reason']})")
        rows = bt.get("ranking", [])[:10]
        width = max([18] + [len(str(r.get("label") or r["law"])) for r in rows])
        for row in rows:
            lines.append(f"  {row.get('label') or row['law']:<{width}} mean {_pct_s(row.get('mean_rel_error'))}"
                         f"  max {_pct_s(row.get('max_rel_error'))}"
                         + (f"  ({row['error']})" if row.get("error") else "")
                         + (f"  ({row['note']})" if row.get("note") else ""))
        if bt.get("reason"):
            lines.append(f"  chosen: {bt['reason']}")
        cal = bt.get("calibration")
        if isinstance(cal, Mapping) and cal.get("rate_per_decade") is not None:
            on = "the average's backtest" if cal.get("of") == "average" else "it"
            lines.append(f"  prediction intervals calibrated on {on}: held-out error "
                         f"{_pct_s(cal['rate_per_decade'])} per decade beyond the fitted "
                         f"range{_span_note(cal)}, run scatter {_pct_s(cal.get('noise'))}")
        sections.append(Section(f"backtest ({bt.get('holdout')}): {held}; "
                                f"mean relative error {_pct_s(bt.get('mean_rel_error'))}, "
                                f"max {_pct_s(bt.get('max_rel_error'))}", lines))
    objective = (r.settings.get("objective") or {}).get("name", "")
    try:
        priors = [p for p in r.law_.params if p.prior is not None]
    except ScalefitError:  # a law this version does not know (a saved fit)
        priors = []
    facts = [f"metric {r.metric!r}: {r.n_points} points from {r.n_runs} runs; "
             f"objective {objective} = {r.objective_:.6g}"
             + (" (with the priors' penalty: " + ", ".join(
                 f"{p.name} {prior_text(p.prior)}" for p in priors) + ")" if priors else "")]
    ens = r.ensemble
    if ens:
        facts.append("predictions: the weighted average of " + str(len(ens["members"]))
                     + " fits of laws with an irreducible loss (" + ", ".join(
                         f"{m['label']} {float(m['weight']):.2f}" for m in ens["members"])
                     + f"); the parameters below are {law.name}'s, the best backtest")
    return Summary(
        kind="fit", law=law.name, formula=law.formula,
        facts=facts,
        params=params, derived=derived, predictions=preds, sections=sections,
        notes=[str(n) for n in r.diagnostics.get("notes", [])],
        warnings=[str(w) for w in r.diagnostics.get("warnings", [])],
        record=r.to_dict())


def _pct_s(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * float(x):.2f}%"


def load_artefact(source: str | Path):
    """A :class:`FitResult`, or a ``CurveFitResult`` for a loss-curve artefact (path or JSON text).

    Lives here, above :mod:`scalefit.artefacts` (which reads and checks the file) and the two
    result classes, so that the reader never imports the results it builds."""
    d = read_artefact(source)
    if d.get("kind") == "curve":
        from scalefit.curves.result import CurveFitResult

        return CurveFitResult.from_dict(d)
    if d.get("kind") in ("isoflop", "task"):
        # valid artefacts, but not fits: what reads fits (predict, plot, report) cannot use them
        cls, what = {"isoflop": ("IsoFlopResult", "an IsoFLOP result"),
                     "task": ("TaskPrediction", "a task prediction")}[d["kind"]]
        where = str(source) if not str(source).lstrip().startswith("{") else "JSON text"
        raise InputError(f"this is {what}, not a fit", where=where,
                         hint=f"give a fit artefact (`scalefit fit ... --json FIT.json`), or read "
                              f"this one with {cls}.from_json")
    return FitResult.from_dict(d)
