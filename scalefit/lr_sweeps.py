"""Runs that differ only in their peak LR: an LR sweep at each model size and token count.

A scaling law describes each size at its best hyperparameters. Fitting every LR of a sweep
fits the misses of the off-best LRs as well, and fitting one LR rule's runs fits the rule's
misses (on the cpu-small ladder the rule is 1.8x below width 96's best LR and costs it 5%;
docs/ladder.md). :func:`best_lr_runs` keeps, in each group of runs that differ only in LR and
seed, the runs at the LR whose seed-mean final value is lowest: the loss at each size's tuned
LR, which is what Porian et al. (2024, "Resolving Discrepancies in Compute-Optimal Scaling of
Language Models") fit.

Two runs are the same rung when they share their parameter count, tokens, batch, context,
schedule shape (the LR curve divided by its peak) and tags other than the seed, the run name,
the LR multiplier and AdamW's ``beta2``; they are replicates when they also share the peak LR
and ``beta2``. A rung trained at several ``beta2`` (``scalefit ladder run --beta2``) is chosen
among its (LR, beta2) settings the same way.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from scalefit.errors import ScalefitError, UsageError

__all__ = ["best_lr_runs", "final_by_run", "rung_keys"]

#: tags that name one run of a rung rather than the rung
_RUN_TAGS = ("seed", "rung")
#: tags that name a run's setting within a sweep: its LR, and the optimizer's beta2
_SETTING_TAGS = ("lr_mult", "beta2")


def rung_keys(runs: pd.DataFrame, names: Sequence[str], *, ignore_lr: bool = False
              ) -> dict[str, str]:
    """Run name -> a key shared by the runs that differ only in their seed (and, with
    ``ignore_lr``, in their peak LR and beta2). ``runs`` is a runs table indexed by run name."""
    drop = _RUN_TAGS + (_SETTING_TAGS if ignore_lr else ())
    keys = {}
    for name in names:
        row = runs.loc[name]
        tags = {k: v for k, v in _tags(row.get("tags")).items() if k not in drop}
        sched = str(row.get("schedule") or "")
        parts = [_plain(row.get("params")), _plain(row.get("tokens_total")),
                 _plain(row.get("batch_size")), _plain(row.get("seq_len")), tags]
        parts += [_schedule_shape(sched)] if ignore_lr else [_plain(row.get("lr_max")), sched]
        keys[name] = json.dumps(parts, sort_keys=True, default=str)
    return keys


def best_lr_runs(data, metric: str | None = None) -> tuple[list[str], list[dict]]:
    """The runs of ``data`` (a Store or read logs) at each rung's best LR, and one record per
    rung swept over two settings or more: ``{"runs", "lrs", "beta2s", "losses", "seeds",
    "best_lr", "best_beta2"}`` with the seed-mean final ``metric`` at each (LR, beta2) setting
    (ascending; ``beta2`` None where the runs do not record one).

    Runs without a final value of ``metric`` are left out. Raises UsageError when no rung was
    trained at two settings or more: there is nothing to choose.
    """
    from scalefit.fitting.dataset import choose_metric

    metric = choose_metric(data.points, metric)
    final = final_by_run(data.points, metric)
    runs = data.runs.drop_duplicates("run").set_index("run")
    names = [n for n in runs.index if n in final.index and math.isfinite(float(final[n]))]
    if not names:
        raise UsageError(f"no run has a final {metric!r}", where="--best-lr")
    rungs = rung_keys(runs, names, ignore_lr=True)
    by: dict[str, dict[tuple, list[str]]] = {}
    for n in names:
        lr = _plain(runs.loc[n].get("lr_max"))
        if lr is None:
            raise UsageError(f"run {n!r} has no peak LR (lr_max), so its LR sweep cannot be "
                             "read", where="--best-lr",
                             hint="log the LR with the loss, or choose runs with --runs")
        beta2 = _plain(_tags(runs.loc[n].get("tags")).get("beta2"))
        by.setdefault(rungs[n], {}).setdefault((lr, beta2), []).append(n)
    keep, swept = [], []
    for at in by.values():
        settings = sorted(at, key=lambda k: (k[0], -1.0 if k[1] is None else k[1]))
        mean = [float(np.mean([final[n] for n in at[k]])) for k in settings]
        best = settings[int(np.argmin(mean))]
        keep += at[best]
        if len(settings) > 1:
            swept.append({"runs": sorted(at[best]), "lrs": [k[0] for k in settings],
                          "beta2s": [k[1] for k in settings], "losses": mean,
                          "seeds": [len(at[k]) for k in settings], "best_lr": best[0],
                          "best_beta2": best[1]})
    if not swept:
        raise UsageError("no runs differ only in their LR (or beta2), so there is no best LR to "
                         "choose", where="--best-lr",
                         hint="train each size at several LRs (`scalefit ladder run --lr-mult "
                              "0.56,1,1.78`), or fit without --best-lr")
    order = {n: i for i, n in enumerate(runs.index)}
    return sorted(keep, key=order.get), sorted(swept, key=lambda s: order[s["runs"][0]])


def final_by_run(points: pd.DataFrame, metric: str) -> pd.Series:
    """Run name -> the value of ``metric`` at the run's last step, as a fit of final values
    reads it: a run that ends in NaN (diverged) maps to NaN, not to an earlier value."""
    pts = points[points["metric"] == metric].sort_values("step", kind="stable")
    # not groupby().last(), which skips NaN
    return pts.drop_duplicates("run", keep="last").set_index("run")["value"]


def _tags(raw) -> dict:
    if isinstance(raw, dict):
        return raw
    try:
        tags = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return tags if isinstance(tags, dict) else {}


def _plain(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _schedule_shape(spec: str) -> str:
    """The schedule's LR curve over its peak, as a digest: the same for two runs that differ
    only in their LR. A spec that does not parse keeps its text (no two LRs then match)."""
    if not spec:
        return ""
    from scalefit.schedules import parse_schedule

    try:
        lr = parse_schedule(spec).lr()
    except (ScalefitError, KeyError, ValueError, TypeError):
        return spec
    top = float(np.max(lr)) if lr.size else 0.0
    if not top > 0:
        return spec
    # relative LRs agree to ~1e-12 across peaks; 9 digits absorb the float noise
    shape = np.round(lr / top, 9)
    return hashlib.sha1(shape.tobytes()).hexdigest()
