"""Backtests: refit without the largest runs and measure the error on them.

In-sample fit quality says little about extrapolation; holding out the largest-compute runs
and predicting them is the test a user should trust. ``compare`` ranks several laws by it, and
``fit(law="auto")`` picks the best.

Holdout specs: ``largest:K`` (the K runs with the most compute; compute is the ``C`` input or
6·N·D), ``largest:P%`` (a fraction of the runs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from scalefit.errors import ScalefitError, UsageError

__all__ = ["parse_holdout", "split", "backtest", "compare", "AUTO_LAWS"]

#: laws tried by ``law="auto"`` (each only if the data has its inputs and enough points)
AUTO_LAWS = ("chinchilla", "power:x=C", "kaplan_nd", "data_constrained")


def parse_holdout(spec: str) -> tuple[str, float, bool]:
    """``largest:K`` -> ("largest", K, False); ``largest:20%`` -> ("largest", 0.2, True)."""
    m = re.fullmatch(r"\s*largest\s*:\s*([0-9.]+)\s*(%?)\s*", str(spec))
    if not m:
        raise UsageError(f"holdout spec {spec!r} not understood", where="--holdout",
                         hint="use largest:K (e.g. largest:3) or largest:P% (e.g. largest:20%)")
    k = float(m.group(1))
    if m.group(2):
        if not 0 < k < 100:
            raise UsageError(f"holdout fraction {k}% must be between 0 and 100", where="--holdout")
        return "largest", k / 100.0, True
    if k != int(k) or k < 1:
        raise UsageError(f"holdout count {k} must be a positive integer", where="--holdout")
    return "largest", int(k), False


def split(ds, spec: str) -> tuple[np.ndarray, list[str]]:
    """Boolean mask of held-out points, and the held-out run names (largest compute first)."""
    _, k, frac = parse_holdout(spec)
    comp = ds.compute()
    run_c = np.full(len(ds.runs), -np.inf)
    np.maximum.at(run_c, ds.groups, comp)
    present = np.unique(ds.groups)
    n_runs = present.size
    kk = int(max(1, round(k * n_runs))) if frac else int(k)
    if kk >= n_runs:
        raise UsageError(f"cannot hold out {kk} of {n_runs} runs", where="--holdout",
                         hint="hold out fewer runs")
    order = present[np.argsort(-run_c[present], kind="stable")]
    held = order[:kk]
    return np.isin(ds.groups, held), [ds.runs[g] for g in held]


def backtest(ds, law, spec: str, *, fit_kw: dict | None = None) -> dict:
    """Refit ``law`` without the held-out runs; relative errors |ŷ - y|/y on them."""
    from scalefit.fitting.api import fit_dataset

    held, names = split(ds, spec)
    train = ds.subset(~held)
    test = ds.subset(held)
    core = fit_dataset(train, law, **(fit_kw or {}))
    law = core["law"]
    pred = law._predict(law.check_inputs(test.X), core["theta"])
    rel = np.abs(pred - test.y) / np.abs(test.y)
    pts = [{"run": test.runs[g], "inputs": {k: float(v[i]) for k, v in test.X.items()},
            "value": float(test.y[i]), "pred": float(pred[i]), "rel_error": float(rel[i])}
           for i, g in enumerate(test.groups)]
    return {"holdout": spec, "law": law.name, "n_train": int(train.n),
            "n_heldout": int(test.n), "heldout_runs": names,
            "mean_rel_error": float(np.mean(rel)), "max_rel_error": float(np.max(rel)),
            "median_rel_error": float(np.median(rel)),
            "train_params": dict(zip(law.param_names, map(float, core["theta"]), strict=True)),
            "points": pts[:200]}


def compare(data, laws: Sequence[str], holdout: str = "largest:3", **kw) -> dict:
    """Backtest each law on ``data`` and rank them by mean relative error on held-out runs.

    A law that cannot be fitted to the data (missing inputs, too few points) is listed with its
    error and ranked last.
    """
    from scalefit.fitting.api import _fit_kw, prepare
    from scalefit.fitting.dataset import load_tables
    from scalefit.laws import get_law
    from scalefit.store import LogData

    if not laws:
        raise UsageError("name at least one law to compare", where="--law")
    for name in laws:  # an unknown law or option is the user's error, not a failed fit
        get_law(name)
    # read the data once (a missing or broken file is an error here, before any fit)
    runs, points, source = load_tables(data)
    data = LogData(runs, points, source)
    rows = []
    for name in laws:
        try:
            law, ds, fkw = prepare(data, name, **kw)
            bt = backtest(ds, law, holdout, fit_kw=_fit_kw(fkw))
            rows.append({"law": str(name), "n_params": len(law.params),
                         "mean_rel_error": bt["mean_rel_error"],
                         "max_rel_error": bt["max_rel_error"],
                         "n_heldout": bt["n_heldout"], "heldout_runs": bt["heldout_runs"]})
        except ScalefitError as exc:
            rows.append({"law": str(name), "error": str(exc), "mean_rel_error": None,
                         "max_rel_error": None})
    rows.sort(key=lambda r: (r["mean_rel_error"] is None, r["mean_rel_error"] or 0.0))
    return {"holdout": holdout, "ranking": rows,
            "best": next((r["law"] for r in rows if r["mean_rel_error"] is not None), None)}
