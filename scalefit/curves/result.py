"""CurveFitResult: a fitted curve law, its summary, its JSON artefact and predictions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalefit.artefacts import read_artefact
from scalefit.curves.data import Curve, curve_errors
from scalefit.curves.laws import get_curve_law
from scalefit.errors import InputError, UsageError
from scalefit.schedules import Schedule, array_schedule, parse_schedule

__all__ = ["CurveFitResult"]


def _version() -> str:
    try:
        import scalefit

        return scalefit.__version__
    except Exception:  # pragma: no cover - version is informative only
        return "unknown"


@dataclass
class CurveFitResult:
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

    # ------------------------------------------------------------------ the law
    @property
    def law_obj(self):
        if self.law.startswith("joint_"):
            from scalefit.curves.laws import JointLaw

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
        df = self.predict(curve)
        return curve_errors(df["loss"].to_numpy(), df["loss_pred"].to_numpy())

    # ------------------------------------------------------------------ summaries
    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "law": self.law, "law_options": self.law_options,
            "params": self.params, "objective": self.objective, "n_points": self.n_points,
            "settings": self.settings, "data_hash": self.data_hash, "version": self.version,
            "curves": self.curves, "diagnostics": self.diagnostics,
            "replicates": self.replicates, "level": self.level,
        }

    def to_json(self, path: str | Path | None = None, indent: int = 2) -> str:
        text = json.dumps(self.to_dict(), indent=indent, default=_jsonable)
        if path is not None:
            p = Path(path)
            tmp = p.with_name(p.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(p)
        return text

    @classmethod
    def from_dict(cls, d: dict) -> CurveFitResult:
        from scalefit.artefacts import validate_curve_artefact

        if not isinstance(d, dict) or d.get("kind") != "curve":
            kind = d.get("kind") if isinstance(d, dict) else None
            raise InputError(f"not a curve fit (kind={kind!r})",
                             hint="fit a curve law (multi_power, lr_annealing) first")
        # an artefact is untrusted: types, shapes and bounds checked before use
        validate_curve_artefact(d)
        keys = ("law", "params", "objective", "n_points", "settings", "data_hash",
                "law_options", "curves", "diagnostics", "version", "replicates", "level")
        return cls(**{k: d[k] for k in keys if k in d})

    @classmethod
    def from_json(cls, source: str | Path) -> CurveFitResult:
        return cls.from_dict(read_artefact(source))

    def summary(self) -> str:
        law = self.law_obj
        lines = [f"curve law {self.law}: {law.formula}",
                 f"  source: {law.source}",
                 f"  {len(self.curves)} curve(s), {self.n_points} points; objective "
                 f"{self.objective:.6g} ({self.settings.get('loss')} on "
                 f"{self.settings.get('residual')} residuals)"]
        ci = self.intervals()
        for k, v in self.params.items():
            iv = f"  [{ci[k][0]:.4g}, {ci[k][1]:.4g}]" if k in ci else ""
            lines.append(f"  {k:>10} = {v:.6g}{iv}")
        if ci:
            lines.append(f"  intervals: {round(100 * self.level)}% leave-one-curve-out "
                         f"jackknife over {len(self.replicates)} refits (normal quantile)")
        if self._band_prior() is not None:
            lines.append(f"  prediction band ({round(100 * self.level)}%): "
                         f"{self.settings.get('intervals')}")
        choice = (self.settings or {}).get("law_choice")
        if isinstance(choice, dict) and choice.get("rule"):
            sc = choice.get("scores") or {}
            got = ", ".join(f"{k} {100 * float(v):.3f}%" for k, v in sc.items()
                            if isinstance(v, (int, float)))
            lines.append(f"  law chosen: {choice.get('chosen')} ({choice['rule']}"
                         + (f": {got}" if got else "") + ")")
        fe = self.diagnostics.get("fit_errors", {})
        for name, e in fe.items():
            lines.append(f"  fit error {name}: mean {100 * e['mean_rel']:.3f}%, "
                         f"worst {100 * e['max_rel']:.3f}%")
        if self.diagnostics.get("at_bound"):
            lines.append(f"  at a bound: {', '.join(self.diagnostics['at_bound'])}")
        for w in self.diagnostics.get("warnings", []):
            lines.append(f"  warning: {w}")
        for n in self.diagnostics.get("notes", []):
            lines.append(f"  note: {n}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from scalefit.html import esc, table

        law = self.law_obj
        ci = self.intervals()
        rows = [[k, f"{v:.6g}", f"[{ci[k][0]:.4g}, {ci[k][1]:.4g}]" if k in ci else ""]
                for k, v in self.params.items()]
        warns = "".join(f"<li>{esc(w)}</li>" for w in self.diagnostics.get("warnings", []))
        return (f"<div class='scalefit-fit'><b>{esc(self.law)}</b>: <code>{esc(law.formula)}"
                f"</code><br>{esc(len(self.curves))} curve(s), {esc(self.n_points)} points"
                + table(["param", "value", "interval"], rows, right=[1])
                + (f"<ul style='color:#b35806'>{warns}</ul>" if warns else "") + "</div>")

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        # one line; str() is the full summary
        metric = (self.settings or {}).get("metric")
        ps = ", ".join(f"{k}={float(v):.4g}" for k, v in (self.params or {}).items())
        return (f"<CurveFitResult {self.law}" + (f" on {metric!r}" if metric else "")
                + f": {len(self.curves)} curves, {self.n_points} points; {ps}>")


def _jackknife_se(reps: np.ndarray) -> np.ndarray:
    """Jackknife standard error over the first axis (n leave-one-out replicates)."""
    n = reps.shape[0]
    return np.sqrt((n - 1) / n * ((reps - reps.mean(0)) ** 2).sum(0))


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)
