"""The check at the end of a ladder: fit its final losses and predict its largest model size.

The held-out runs are every run of the largest size (``size:1``), the backtest `scalefit fit
--holdout size:1` runs on the same store, so the numbers printed by ``ladder run`` are the ones
a user gets from the fit. No torch needed.

Runs that differ only in their seed (``ladder run --seeds K``) measure how far one run falls
from its rung's mean: :func:`seed_scatter`. At these sizes that scatter is a few per cent, so a
backtest error is only meaningful next to it, and the error of the rungs' seed means (what a
law can predict) is reported beside the error of single runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scalefit.errors import ScalefitError
from scalefit.lr_sweeps import best_lr_runs, final_by_run, rung_keys
from scalefit.store import Store

__all__ = ["LADDER_LAWS", "ladder_backtest", "replicate_groups", "seed_scatter"]

#: the laws a ladder is checked with: Chinchilla's in (N, D), and a power law in compute
LADDER_LAWS = ("chinchilla", "power:x=C")


def ladder_backtest(store: str | os.PathLike | Store, *, laws: Sequence[str] = LADDER_LAWS,
                    metric: str = "val/loss", holdout: str = "size:1",
                    best_lr: bool | None = None) -> list[dict]:
    """One row per law: the held-out runs, mean and max relative error on their final
    ``metric``, the fitted ``E`` without them (None where the law has no E) and the parameters
    at a bound in the fit to every run, and ``rung_mean_rel_error``, the error on the held-out
    rungs' seed means (None unless a held-out rung has two seeds or more); a law that cannot be
    fitted gets its error message in ``error`` instead.

    A ladder trained at several LRs (``ladder run --lr-mult``) is fitted at each rung's best LR
    (:func:`scalefit.lr_sweeps.best_lr_runs`, what ``scalefit fit --best-lr`` does), and each
    row's ``lr_sweep`` lists the choices; ``best_lr=False`` fits every run, True insists."""
    from scalefit import fit

    st = _open(store)
    runs = st.runs.set_index("run")
    groups = replicate_groups(runs, list(runs.index))  # the same for every law
    keep, swept = None, None
    if best_lr is not False:
        try:
            keep, swept = best_lr_runs(st, metric)
        except ScalefitError:
            if best_lr:
                raise
    rows = []
    for law in laws:
        try:
            res = fit(st, law=law, metric=metric, holdout=holdout, runs=keep)
        except ScalefitError as e:
            rows.append({"law": law, "holdout": holdout, "error": str(e)})
            continue
        bt = res.backtest
        e_fit = bt["train_params"].get("E")
        rows.append({"law": law, "holdout": holdout, "heldout_runs": list(bt["heldout_runs"]),
                     "n_train": bt["n_train"], "mean_rel_error": bt["mean_rel_error"],
                     "max_rel_error": bt["max_rel_error"],
                     "E": None if e_fit is None or not math.isfinite(e_fit) else float(e_fit),
                     # of the fit to every run: a parameter at its bound is not determined
                     "at_bound": list((res.diagnostics or {}).get("at_bound") or []),
                     "rung_mean_rel_error": _rung_mean_error(bt["points"], groups),
                     "lr_sweep": swept})
    return rows


def _open(store: str | os.PathLike | Store) -> Store:
    return store if isinstance(store, Store) else Store(store, create=False)


def replicate_groups(runs: pd.DataFrame, names: Sequence[str]) -> dict[str, str]:
    """Run name -> a key shared by the runs that differ only in their seed (same size, tokens,
    batch, LR, schedule and ladder tags)."""
    return rung_keys(runs, names)


def _rung_mean_error(points: list[dict], groups: dict[str, str]) -> float | None:
    """Mean relative error of the held-out rungs' seed means (None without a rung of 2+ seeds):
    runs of one rung share their inputs, hence their prediction."""
    by: dict[str, list[dict]] = {}
    for p in points:
        by.setdefault(groups.get(p["run"], p["run"]), []).append(p)
    if max((len(v) for v in by.values()), default=0) < 2:
        return None
    errs = []
    for pts in by.values():
        y = float(np.mean([p["value"] for p in pts]))
        errs.append(abs(float(np.mean([p["pred"] for p in pts])) - y) / y)
    return float(np.mean(errs))


def seed_scatter(store: str | os.PathLike | Store, metric: str = "val/loss") -> dict | None:
    """How far one run's final ``metric`` falls from the mean of its rung's seeds: the pooled
    standard deviation of log(value) around each rung's mean (about a relative scatter), over
    every rung trained with two seeds or more; None when no rung has two.

    Returns ``{"scatter", "rungs", "runs", "max_spread"}``: ``max_spread`` is the largest
    (max - min) / mean within one rung.
    """
    st = _open(store)
    final = final_by_run(st.points, metric)
    runs = st.runs.set_index("run")
    names = [n for n in final.index if n in runs.index and math.isfinite(final[n]) and final[n] > 0]
    groups = replicate_groups(runs, names)
    by: dict[str, list[float]] = {}
    for n in names:
        by.setdefault(groups[n], []).append(float(final[n]))
    reps = [np.asarray(v) for v in by.values() if len(v) >= 2]
    if not reps:
        return None
    ss = sum(float(np.sum((np.log(v) - np.log(v).mean()) ** 2)) for v in reps)
    dof = sum(v.size - 1 for v in reps)
    return {"scatter": math.sqrt(ss / dof), "rungs": len(reps), "runs": int(sum(v.size for v in reps)),
            "max_spread": float(max((v.max() - v.min()) / v.mean() for v in reps))}
