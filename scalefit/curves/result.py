"""CurveFitResult: a fitted curve law, its summary, its JSON artefact and predictions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalefit.artefacts import (
    SCHEMA_VERSION,
    data_record,
    jsonable,
    read_artefact,
    write_artefact,
)
from scalefit.curves.data import Curve, curve_errors
from scalefit.errors import UsageError
from scalefit.laws.curve import get_curve_law
from scalefit.schedules import Schedule, array_schedule, parse_schedule
from scalefit.summary import Section, Summary, fmt, one_line, rows_from
from scalefit.version import __version__

__all__ = ["CurveFitResult"]


def _version() -> str:
    return __version__


@dataclass
class CurveFitResult:
    """The outcome of :func:`scalefit.fit_curves`: a curve law's parameters (``params_``),
    its jackknife intervals (``ci_``, ``stderr_``) when refitted leaving out each curve, and
    per-step predictions for any schedule (``predict``)."""

    law: str
    params: dict[str, float]
    objective: float
    n_points: int
    settings: dict = field(default_factory=dict)
    data_hash: str = ""
    law_options: dict = field(default_factory=dict)
    curves: list = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)
    version: str = field(default_factory=_version)
    kind: str = "curve"
    #: leave-one-curve-out refits, ``{"left_out": name, "params": {...}}`` (``intervals=True``)
    replicates: list = field(default_factory=list)
    level: float = 0.95
    #: how the curves were given (``files`` or ``in-memory curves``), for the artefact
    data_origin: str = ""

    # ------------------------------------------------------------------ the law
    @property
    def law_obj(self):
        """The fitted curve law, rebuilt from ``law`` (and ``law_options`` for a joint law)."""
        if self.law.startswith("joint_"):
            from scalefit.laws.curve import JointLaw

            o = self.law_options
            return JointLaw(o.get("base", self.law[len("joint_"):]), scaled=o.get("scaled"),
                            N_ref=float(o.get("N_ref", 1e8)))
        return get_curve_law(self.law)

    # ------------------------------------------------------------------ prediction
    def predict(self, schedule: str | dict | Schedule | np.ndarray | list | Curve,
                steps=None, *, N: float | None = None) -> pd.DataFrame:
        """Predicted loss for a schedule (spec, dict, Schedule), a per-step LR array or a Curve.

        Returns a frame with ``step, lr, loss_pred`` (plus ``loss`` for a Curve with losses)
        at ``steps`` (default: the curve's logged steps, else every step). Linear in T.
        """
        law = self.law_obj
        if isinstance(schedule, Curve):
            curve = schedule
            if N is not None:
                curve.N = N
        else:
            if isinstance(schedule, (np.ndarray, list, tuple)):
                eta = np.asarray(schedule, dtype=float)
                sch = array_schedule(eta) if eta.size < 10_000_000 else None
            else:
                sch = parse_schedule(schedule)
                eta = sch.lr(np.arange(sch.total_steps))
            st = np.arange(eta.size) if steps is None else np.asarray(steps, dtype=np.int64)
            curve = Curve("prediction", eta, st, None, N, sch)
        if steps is not None:
            st = np.asarray(steps, dtype=np.int64)
            curve = Curve(curve.name, curve.eta, st, None, curve.N, curve.schedule)
        if law.name.startswith("joint_") and curve.N is None:
            raise UsageError("this joint fit predicts a given model size",
                             hint="pass N= (parameters) for the curve to predict")
        keep = curve.steps >= 1 if np.any(curve.steps == 0) else slice(None)
        pred = np.full(curve.steps.size, np.nan)
        sub = curve.subset(keep) if not isinstance(keep, slice) else curve
        pred[keep] = law.predict(sub, self.params)
        out = pd.DataFrame({"step": curve.steps, "lr": curve.eta[curve.steps], "loss_pred": pred})
        band = self._band_prior()
        if self.replicates or band is not None:
            var = np.zeros(sub.steps.size)
            if self.replicates:
                reps = np.stack([law.predict(sub, r["params"]) for r in self.replicates])
                var += _jackknife_se(reps) ** 2
            if band is not None:
                # the choice of law: half the two laws' disagreement, plus the prior term
                mem = law.member_predictions(sub, self.params)
                var += (np.ptp(mem, axis=0) / 2) ** 2 + (band * pred[keep]) ** 2
            se = np.full(curve.steps.size, np.nan)
            se[keep] = np.sqrt(var)
            z = _z(self.level)
            out["loss_lo"] = pred - z * se
            out["loss_hi"] = pred + z * se
        if curve.loss is not None:
            out["loss"] = curve.loss
        return out

    def _band_prior(self) -> float | None:
        """The ensemble band's prior relative term (None: not an ensemble band)."""
        b = (self.settings or {}).get("band")
        if self.law != "ensemble" or not isinstance(b, dict):
            return None
        try:
            v = float(b.get("prior_rel", 0.0))
        except (TypeError, ValueError):
            return None
        return v if np.isfinite(v) and 0 <= v < 1 else None

    def intervals(self) -> dict[str, tuple[float, float]]:
        """Jackknife intervals of the parameters at ``level`` (empty without replicates)."""
        if not self.replicates:
            return {}
        z = _z(self.level)
        out = {}
        for k, v in self.params.items():
            se = float(_jackknife_se(np.array([[r["params"][k]] for r in self.replicates]))[0])
            out[k] = (v - z * se, v + z * se)
        return out

    def errors(self, curve: Curve) -> dict:
        """Mean and worst relative error of the fit's prediction on ``curve`` (which needs
        losses); see :func:`~scalefit.curves.data.curve_errors`."""
        df = self.predict(curve)
        return curve_errors(df["loss"].to_numpy(), df["loss_pred"].to_numpy())

    # ------------------------------------------------------------------ common names
    # the names every result shares (scalefit.testing.check_result); the older ones stay
    @property
    def law_(self):
        """The fitted curve law (the same object as ``law_obj``)."""
        return self.law_obj

    @property
    def params_(self) -> dict[str, float]:
        """Fitted parameters, name -> value (the same dict as ``params``)."""
        return self.params

    @property
    def objective_(self) -> float:
        """The minimised objective (the same as ``objective``)."""
        return self.objective

    @property
    def ci_(self) -> dict[str, tuple[float, float]] | None:
        """Jackknife intervals of the parameters at ``level`` (None without replicates)."""
        return self.intervals() or None

    @property
    def stderr_(self) -> dict[str, float]:
        """Jackknife standard errors of the parameters (empty without replicates)."""
        if not self.replicates:
            return {}
        return {k: float(_jackknife_se(np.array([[r["params"][k]] for r in self.replicates]))[0])
                for k in self.params}

    # ------------------------------------------------------------------ summaries
    def to_dict(self) -> dict[str, Any]:
        """The JSON artefact as a dict (``kind`` "curve"): law, parameters, settings, curves,
        diagnostics and jackknife replicates."""
        d = {
            "schema": SCHEMA_VERSION,
            "kind": self.kind, "law": self.law, "law_options": self.law_options,
            "params": self.params, "objective": self.objective, "n_points": self.n_points,
            "settings": self.settings, "data_hash": self.data_hash,
            "data": data_record((self.settings or {}).get("data"), self.data_hash,
                                self.data_origin),
            "version": self.version,
            "curves": self.curves, "diagnostics": self.diagnostics,
            "replicates": self.replicates, "level": self.level,
        }
        return jsonable(d)

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str | None:
        """The JSON artefact as text, or written to ``path`` (then None, as for a fit)."""
        text = write_artefact(self.to_dict(), path, indent=indent)
        return None if path is not None else text

    @classmethod
    def from_dict(cls, d: dict) -> CurveFitResult:
        """Rebuild a result from its artefact dict, validated first (it is untrusted);
        ``InputError`` for anything that is not a curve fit."""
        from scalefit.artefacts import check_kind, validate_curve_artefact

        check_kind(d, "curve", "a curve fit",
                   hint="fit a curve law (multi_power, lr_annealing) first")
        # an artefact is untrusted: types, shapes and bounds checked before use
        validate_curve_artefact(d)
        keys = ("law", "params", "objective", "n_points", "settings", "data_hash",
                "law_options", "curves", "diagnostics", "version", "replicates", "level")
        out = cls(**{k: d[k] for k in keys if k in d})
        out.data_origin = str((d.get("data") or {}).get("origin", ""))
        return out

    @classmethod
    def from_json(cls, source: str | Path) -> CurveFitResult:
        """Read a curve-fit artefact from a path or from JSON text."""
        return cls.from_dict(read_artefact(source))

    def summary(self) -> Summary:
        """Text (``str``), HTML and dict views of the fit (:class:`scalefit.summary.Summary`)."""
        law = self.law_obj
        level = round(100 * self.level)
        ci = self.intervals()
        facts = [f"source: {law.source}",
                 f"{len(self.curves)} curve(s), {self.n_points} points; objective "
                 f"{fmt(self.objective, 6)} ({self.settings.get('loss')} on "
                 f"{self.settings.get('residual')} residuals)"]
        if ci:
            facts.append(f"intervals: {level}% leave-one-curve-out jackknife over "
                         f"{len(self.replicates)} refits (normal quantile)")
        if self._band_prior() is not None:
            facts.append(f"prediction band ({level}%): {self.settings.get('intervals')}")
        choice = (self.settings or {}).get("law_choice")
        if isinstance(choice, dict) and choice.get("rule"):
            sc = choice.get("scores") or {}
            got = ", ".join(f"{k} {100 * float(v):.3f}%" for k, v in sc.items()
                            if isinstance(v, (int, float)))
            facts.append(f"law chosen: {choice.get('chosen')} ({choice['rule']}"
                         + (f": {got}" if got else "") + ")")
        bound = set(self.diagnostics.get("at_bound") or [])
        params = rows_from(self.params, ci, f"{level}% jackknife",
                           flags={k: ("at bound",) for k in bound})
        sections = []
        fe = self.diagnostics.get("fit_errors") or {}
        if fe:
            sections.append(Section("fit errors:", [
                f"  {name}: mean {_pct(e.get('mean_rel'))}, worst {_pct(e.get('max_rel'))}"
                for name, e in fe.items()]))
        notes = [str(n) for n in self.diagnostics.get("notes", [])]
        if bound:
            notes.append(f"at a bound: {', '.join(sorted(bound))}")
        return Summary(kind="curve", law=self.law, formula=law.formula,
                       title=f"curve law {self.law}: {law.formula}", facts=facts,
                       params=params, sections=sections, notes=notes,
                       warnings=[str(w) for w in self.diagnostics.get("warnings", [])],
                       record=self.to_dict())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __str__(self) -> str:
        return str(self.summary())

    def __repr__(self) -> str:
        # one line; str() is the full summary
        metric = (self.settings or {}).get("metric")
        return one_line("CurveFitResult", self.law,
                        (f"on {metric!r}" if metric else "")
                        + f": {len(self.curves)} curves, {self.n_points} points", self.params)
def _jackknife_se(reps: np.ndarray) -> np.ndarray:
    """Jackknife standard error over the first axis (n leave-one-out replicates)."""
    n = reps.shape[0]
    return np.sqrt((n - 1) / n * ((reps - reps.mean(0)) ** 2).sum(0))


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _pct(x) -> str:
    return "-" if x is None else f"{100 * float(x):.3f}%"
