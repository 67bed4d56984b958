"""The point fit and its checked settings: the layer both ``fit`` and the backtests build on.

:func:`prepare` turns data and a law name into a data set and fit settings, and
:func:`fit_dataset` fits them; :mod:`scalefit.fitting.api` (the full ``fit``, with intervals
and a backtest) and :mod:`scalefit.fitting.backtest` (refits on subsets) both call these.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from scalefit._keywords import checked_keywords
from scalefit.errors import FitError, UsageError
from scalefit.fitting.dataset import Dataset, build_dataset
from scalefit.fitting.objective import check_positive, make_objective
from scalefit.fitting.optimize import Problem, blas_threads, make_parameters, multistart
from scalefit.laws import get_law

__all__ = ["fit_dataset", "fit_keywords", "merge_ties", "prepare"]


def _resolve_law(law):
    if isinstance(law, str):
        from scalefit.curves import is_curve_law_name

        base = law.partition(":")[0]
        if is_curve_law_name(base):
            raise UsageError(f"{base!r} is a loss-curve law; fit it with scalefit.curves.fit_curves "
                             "(or `scalefit fit FILE --law " + base + "`)", where="law")
    lw = get_law(law)
    if getattr(lw, "kind", "final") == "curve":
        raise UsageError(f"{lw.name!r} is a loss-curve law; fit it with scalefit.curves.fit_curves",
                         where="law")
    return lw


@checked_keywords()
def prepare(data, law="chinchilla", *, metric=None, checkpoints=False, inputs=None, runs=None,
            warmup_frac=0.1, fix=None, bounds=None, expr=None, tie=None, params=None,
            objective="huber",
            delta=1e-3, penalty=4.0, keep=8, starts=None, vp=True, include_excluded=False):
    """Law, data set and fit settings, checked (used by ``fit``, backtests and ``compare``)."""
    lw = _resolve_law(law)
    ds = data if isinstance(data, Dataset) else build_dataset(
        data, lw, metric=metric, checkpoints=checkpoints, inputs=inputs, runs=runs,
        warmup_frac=warmup_frac, include_excluded=include_excluded)
    obj = make_objective(objective, delta=delta, penalty=penalty)
    parameters = make_parameters(lw, fix=fix, bounds=bounds, expr=merge_ties(expr, tie),
                                 params=params)
    n_free = sum(1 for p in parameters.values() if p.vary and not p.expr)
    if ds.n < n_free + 1:
        raise FitError(f"{ds.n} point(s) cannot determine the {n_free} free parameters of "
                       f"{lw.name!r}", hint="add runs, fix parameters (--fix P=V) or use a law "
                       "with fewer parameters")
    check_positive(ds.y, obj, where=f"metric {ds.metric!r}")
    _check_varies(ds, lw)
    return lw, ds, {"parameters": parameters, "objective": obj, "keep": keep,
                    "starts": starts, "vp": vp}


def fit_keywords(fkw: dict) -> dict:
    """The settings from :func:`prepare` that :func:`fit_dataset` takes."""
    return {k: fkw[k] for k in ("parameters", "objective", "keep", "starts", "vp")}


def fit_dataset(ds: Dataset, law, *, parameters=None, objective=None, keep: int = 8,
                starts=None, vp: bool = True) -> dict:
    """The point fit on a data set: multi-start + L-BFGS-B. Returns the pieces as a dict."""
    law = get_law(law)
    parameters = make_parameters(law) if parameters is None else parameters
    objective = make_objective("huber") if objective is None else objective
    problem = Problem(law, ds.X, ds.y, objective, parameters)
    if starts is None:
        try:
            starts = law.start_grid(ds.X)
        except TypeError:
            starts = law.start_grid()
    with blas_threads(1):
        opt = multistart(problem, starts=starts, keep=keep, vp=vp)
    theta = law.to_natural(opt.u)
    return {"law": law, "problem": problem, "opt": opt, "theta": theta}


def merge_ties(expr: Mapping[str, str] | None, tie: Mapping[str, str] | None) -> dict | None:
    """``tie={"beta": "alpha"}`` as expressions; a tie names one other parameter, nothing else."""
    if not tie:
        return None if expr is None else dict(expr)
    out = dict(expr or {})
    for k, v in tie.items():
        if not isinstance(v, str) or not v.isidentifier() or v == k:
            raise UsageError(f"tie {k}={v!r}: a tie names another parameter of the law",
                             where="--tie", hint="e.g. --tie beta=alpha")
        if k in out:
            raise UsageError(f"parameter {k!r} is both tied and given an expression",
                             where="--tie")
        out[k] = v
    return out


def _check_varies(ds: Dataset, law) -> None:
    """A metric that is the same at every point determines no scaling: refuse to fit it."""
    y = ds.y
    if y.size and np.ptp(y) <= 1e-12 * max(float(np.max(np.abs(y))), 1e-300):
        raise FitError(f"the same value ({y[0]:.6g}) at all {ds.n} points: a constant metric "
                       f"cannot determine how {law.name!r} changes with "
                       f"{', '.join(law.input_names)}", where=f"metric {ds.metric!r}",
                       hint="check that the right metric and runs were selected")
