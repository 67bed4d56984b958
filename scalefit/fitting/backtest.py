"""Backtests: refit without the largest runs and measure the error on them.

In-sample fit quality says little about extrapolation; holding out the largest runs and
predicting them is the test a user should trust. ``compare`` ranks several laws by it, and
``fit(law="auto")`` picks the best.

Holdout specs:

- ``largest:K`` / ``largest:P%``: the K runs (a fraction P of the runs) with the most compute
  (the ``C`` input or 6·N·D). On a grid of sizes x tokens these are the largest size trained
  longest: the backtest then tests extrapolation in D.
- ``size:K`` / ``size:P%``: every run of the K largest model sizes (of the largest sizes that
  hold about P of the runs). This tests extrapolation in N, the question of a bigger model.
  ``size:1-3`` rolls the origin: three backtests (hold out the largest size, the two largest,
  the three largest), errors pooled.

Sizes that differ by less than 2% are one size (sizes read off figures scatter a little).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from scalefit._keywords import checked_keywords, keyword_names
from scalefit.errors import ScalefitError, UsageError
from scalefit.fitting.calibration import (
    backtest_scores,
    decades_beyond,
    fitted_span,
    fitted_upper,
    score_scale,
)

__all__ = ["parse_holdout", "expand_holdout", "split", "backtest", "compare", "AUTO_LAWS",
           "size_levels", "is_size_grid", "default_holdout"]

#: laws tried by ``law="auto"`` (each only if the data has its inputs and enough points)
AUTO_LAWS = ("chinchilla", "chinchilla_prior", "overtrain", "kaplan_nd_e", "power:x=C",
             "kaplan_nd", "data_constrained")

_SIZE_TOL = 1.02  # sizes within 2% of each other are one size


def parse_holdout(spec: str) -> tuple[str, float, bool]:
    """``largest:K`` -> ("largest", K, False); ``size:20%`` -> ("size", 0.2, True)."""
    m = re.fullmatch(r"\s*(largest|size)\s*:\s*([0-9.]+)\s*(%?)\s*", str(spec))
    if not m:
        raise UsageError(f"holdout spec {spec!r} not understood", where="--holdout",
                         hint="use largest:K (the K largest-compute runs), largest:P%, size:K "
                              "(every run of the K largest model sizes), size:P% or size:1-3 "
                              "(rolling)")
    kind, k = m.group(1), float(m.group(2))
    if m.group(3):
        if not 0 < k < 100:
            raise UsageError(f"holdout fraction {k}% must be between 0 and 100", where="--holdout")
        return kind, k / 100.0, True
    if k != int(k) or k < 1:
        raise UsageError(f"holdout count {k} must be a positive integer", where="--holdout")
    return kind, int(k), False


def expand_holdout(spec: str) -> list[str]:
    """A rolling spec ``size:1-3`` -> ["size:1", "size:2", "size:3"], ``size:2,5`` ->
    ["size:2", "size:5"]; others -> [spec]."""
    text = str(spec).strip()
    kind, _, rest = text.partition(":")
    if "," in rest:
        specs = [f"{kind.strip()}:{k.strip()}" for k in rest.split(",")]
        for s_ in specs:
            parse_holdout(s_)
        return specs
    m = re.fullmatch(r"\s*(largest|size)\s*:\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not m:
        parse_holdout(text)
        return [text]
    lo, hi = int(m.group(2)), int(m.group(3))
    if not 1 <= lo <= hi:
        raise UsageError(f"rolling holdout {spec!r} needs 1 <= first <= last", where="--holdout",
                         hint="e.g. size:1-3")
    return [f"{m.group(1)}:{k}" for k in range(lo, hi + 1)]


def size_levels(sizes: np.ndarray) -> np.ndarray:
    """Index of each point's size level (0 = smallest), merging sizes within 2%."""
    s = np.asarray(sizes, float)
    order = np.argsort(s, kind="stable")
    level = np.empty(s.size, dtype=np.int64)
    cur, start = -1, None
    for i in order:
        if start is None or s[i] > start * _SIZE_TOL:
            cur += 1
            start = s[i]
        level[i] = cur
    return level


def _run_sizes(ds) -> np.ndarray | None:
    sizes = ds.sizes() if hasattr(ds, "sizes") else None
    if sizes is None or not np.all(np.isfinite(sizes)):
        return None
    return np.asarray(sizes, float)


def is_size_grid(ds, min_sizes: int = 4) -> bool:
    """Whether the runs span ``min_sizes`` model sizes with two or more runs per size on average
    (a grid of sizes x tokens, or IsoFLOP sweeps), so that size-wise backtests are meaningful."""
    sizes = _run_sizes(ds)
    if sizes is None:
        return False
    lv = size_levels(sizes)
    n_levels = int(lv.max()) + 1 if lv.size else 0
    if n_levels < min_sizes:
        return False
    # a grid repeats sizes: on average two runs or more per size (random sizes rarely do)
    return np.unique(ds.groups).size >= 2 * n_levels


def default_holdout(ds) -> str:
    """The backtest that asks the user's question: by model size on a grid of sizes, else by
    compute.

    Two origins when at least six sizes exist: hold out the largest sizes that hold about 10%
    of the runs, then about 20% (at least one size, then one more); at least four sizes are
    always left to fit. Fewer sizes: the largest size alone.
    """
    if not is_size_grid(ds):
        return "largest:20%"
    lv = size_levels(_run_sizes(ds))
    n_levels = int(lv.max()) + 1
    if n_levels < 6:
        return "size:1"
    n_runs = np.unique(ds.groups).size
    runs_top = np.cumsum([np.unique(ds.groups[lv == j]).size
                          for j in range(n_levels - 1, -1, -1)])
    k1 = int(np.searchsorted(runs_top, 0.1 * n_runs)) + 1
    k2 = max(int(np.searchsorted(runs_top, 0.2 * n_runs)) + 1, k1 + 1)
    k2 = min(k2, n_levels - 4)
    k1 = min(k1, k2 - 1) if k2 > 1 else 1
    return f"size:{k1},{k2}" if k2 > k1 else f"size:{k1}"


def split(ds, spec: str) -> tuple[np.ndarray, list[str]]:
    """Boolean mask of held-out points, and the held-out run names (largest first)."""
    kind, k, frac = parse_holdout(spec)
    present = np.unique(ds.groups)
    n_runs = present.size
    if kind == "size":
        sizes = _run_sizes(ds)
        if sizes is None:
            raise UsageError(f"holdout {spec!r} needs the model size of every run, and the data "
                             "has none", where="--holdout",
                             hint="give runs a size (N / params column) or use largest:K")
        lv = size_levels(sizes)
        n_levels = int(lv.max()) + 1
        if frac:
            # the largest sizes that together hold about a fraction k of the runs
            runs_at = np.array([np.unique(ds.groups[lv == j]).size for j in range(n_levels)])
            target = k * n_runs
            kk, acc = 0, 0
            for j in range(n_levels - 1, -1, -1):
                if kk and acc + runs_at[j] / 2 > target:
                    break
                acc += runs_at[j]
                kk += 1
        else:
            kk = int(k)
        if kk >= n_levels - 1:
            raise UsageError(f"cannot hold out {kk} of {n_levels} model sizes: at least two "
                             "sizes must remain to fit", where="--holdout",
                             hint="hold out fewer sizes")
        held_pts = lv >= n_levels - kk
        held = np.unique(ds.groups[held_pts])
        run_size = np.zeros(len(ds.runs))
        np.maximum.at(run_size, ds.groups, sizes)
        held = held[np.argsort(-run_size[held], kind="stable")]
        return np.isin(ds.groups, held), [ds.runs[g] for g in held]
    comp = ds.compute()
    run_c = np.full(len(ds.runs), -np.inf)
    np.maximum.at(run_c, ds.groups, comp)
    kk = int(max(1, round(k * n_runs))) if frac else int(k)
    if kk >= n_runs:
        raise UsageError(f"cannot hold out {kk} of {n_runs} runs", where="--holdout",
                         hint="hold out fewer runs")
    order = present[np.argsort(-run_c[present], kind="stable")]
    held = order[:kk]
    return np.isin(ds.groups, held), [ds.runs[g] for g in held]


def _one_backtest(ds, law, spec: str, fit_kw: dict | None) -> dict:
    from scalefit.fitting.core import fit_dataset

    held, names = split(ds, spec)
    train = ds.subset(~held)
    test = ds.subset(held)
    core = fit_dataset(train, law, **(fit_kw or {}))
    law = core["law"]
    with np.errstate(all="ignore"):
        pred = law._predict(law.check_inputs(test.X), core["theta"])
    rel = np.abs(pred - test.y) / np.abs(test.y)
    rel = np.where(np.isfinite(rel), rel, np.inf)
    dist = decades_beyond(test.X, fitted_upper(train.X))
    span = fitted_span(train.X)
    pts = [{"run": test.runs[g], "inputs": {k: float(v[i]) for k, v in test.X.items()},
            "value": float(test.y[i]), "pred": float(pred[i]), "rel_error": float(rel[i]),
            "decades_beyond": float(dist[i]), "holdout": spec}
           for i, g in enumerate(test.groups)]
    return {"holdout": spec, "n_train": int(train.n), "n_heldout": int(test.n),
            "heldout_runs": names, "rel": rel, "points": pts, "pred": pred, "y": test.y,
            "scores": backtest_scores(test.y, pred, dist, span),
            # what turns an |log error| into a score at each point (for an average's scores)
            "scale": score_scale(dist, span),
            "train_params": dict(zip(law.param_names, map(float, core["theta"]), strict=True)),
            "law": law.name, "train": train}


def backtest(ds, law, spec: str, *, fit_kw: dict | None = None) -> dict:
    """Refit ``law`` without the held-out runs; relative errors |ŷ - y|/y on them.

    A rolling spec (``size:1-3``) runs one backtest per origin; ``mean_rel_error`` is then the
    mean of the per-origin means (each origin weighs the same) and ``folds`` lists them.
    """
    specs = expand_holdout(spec)
    folds = [_one_backtest(ds, law, s, fit_kw) for s in specs]
    means = [float(np.mean(f["rel"])) for f in folds]
    rel = np.concatenate([f["rel"] for f in folds])
    last = folds[-1]
    names = list(dict.fromkeys(n for f in folds for n in f["heldout_runs"]))
    pts = [p for f in folds for p in f["points"]]
    out = {"holdout": str(spec).strip(), "law": last["law"], "n_train": last["n_train"],
           "n_heldout": int(sum(f["n_heldout"] for f in folds)), "heldout_runs": names,
           "mean_rel_error": float(np.mean(means)), "max_rel_error": float(np.max(rel)),
           "median_rel_error": float(np.median(rel)),
           "train_params": folds[0]["train_params"], "points": pts[:200],
           # per held-out point: |log error| per decade of extrapolation, for calibration
           "_scores": np.concatenate([f["scores"] for f in folds]),
           "_scale": np.concatenate([f["scale"] for f in folds]),
           # per held-out point and fold: the prediction, the value, the fold (to average
           # several laws' backtests the way one law's is averaged)
           "_pred": np.concatenate([f["pred"] for f in folds]),
           "_y": np.concatenate([f["y"] for f in folds]),
           "_fold": np.concatenate([np.full(len(f["y"]), i) for i, f in enumerate(folds)]),
           "_fold_params": [f["train_params"] for f in folds]}
    if len(folds) > 1:
        out["folds"] = [{"holdout": f["holdout"], "n_train": f["n_train"],
                         "n_heldout": f["n_heldout"], "mean_rel_error": m,
                         "max_rel_error": float(np.max(f["rel"]))}
                        for f, m in zip(folds, means, strict=True)]
    return out


def tokens_vary_within_sizes(ds) -> bool:
    """Whether runs of one model size were trained on different numbers of tokens (a grid of
    sizes x tokens): then a law must see N and D apart to tell over-training from size."""
    sizes = _run_sizes(ds)
    if sizes is None or "D" not in ds.X:
        return False
    lv = size_levels(sizes)
    d = np.asarray(ds.X["D"], float)
    for k in range(int(lv.max()) + 1 if lv.size else 0):
        dk = d[lv == k]
        if dk.size >= 2 and np.max(dk) > 1.5 * np.min(dk):
            return True
    return False


def _prepare_keywords() -> frozenset[str]:
    from scalefit.fitting.core import prepare

    return keyword_names(prepare) - {"data", "law"}


@checked_keywords(also=_prepare_keywords)  # compare's **kw go to prepare
def compare(data, laws: Sequence[str], holdout: str | None = "largest:3", *,
            screen: bool = False, **kw) -> dict:
    """Backtest each law on ``data`` and rank them by mean relative error on held-out runs.

    ``holdout=None`` (or ``"auto"``) chooses the backtest from the data: by model size on a grid
    of sizes x tokens (``size:1`` or two origins), else the largest 20% of runs by compute. A law that cannot
    be fitted to the data (missing inputs, too few points) is listed with its error and ranked
    last. The result says which backtest ran and why.

    ``screen`` (used by ``law="auto"``) leaves out laws that cannot tell the runs apart: on a
    grid where one size was trained on several token counts, a law that does not take both N
    and D (a power law in compute) cannot represent over-training, however well it backtests.
    """
    from scalefit.fitting.core import fit_keywords, prepare
    from scalefit.fitting.dataset import load_tables
    from scalefit.laws import get_law
    from scalefit.store import LogData

    if not laws:
        raise UsageError("name at least one law to compare", where="--law")
    for name in laws:  # an unknown law or option is the user's error, not a failed fit
        get_law(name)
    if holdout is not None and str(holdout).strip() != "auto":
        expand_holdout(holdout)  # a malformed spec is the user's error too
    # read the data once (a missing or broken file is an error here, before any fit)
    runs, points, source = load_tables(data)
    data = LogData(runs, points, source)
    chosen, why = holdout, None
    rows = []
    grid_nd = False
    done: dict[str, dict] = {}  # each law's full backtest, for fit(law="auto") to keep
    prepared: dict[str, tuple] = {}  # the screening's data set, reused when that law is a candidate
    if screen:
        try:
            prepared["chinchilla"] = prepare(data, "chinchilla", **kw)
            ds0 = prepared["chinchilla"][1]
            grid_nd = is_size_grid(ds0) and tokens_vary_within_sizes(ds0)
        except ScalefitError:
            grid_nd = False
    for name in laws:
        try:
            law, ds, fkw = prepared.get(name) or prepare(data, name, **kw)
            if grid_nd and not {"N", "D"} <= set(law.input_names):
                rows.append({"law": str(name), "mean_rel_error": None, "max_rel_error": None,
                             "error": "not a candidate: the runs of one size differ in tokens, "
                                      f"and {law.name} does not take both N and D"})
                continue
            if chosen is None or str(chosen).strip() == "auto":
                chosen = default_holdout(ds)
                why = why_holdout(ds, chosen)
            bt = backtest(ds, law, chosen, fit_kw=fit_keywords(fkw))
            done[str(name)] = bt
            row = {"law": str(name), "n_params": len(law.params),
                   "n_free": int(fkw["parameters"] and sum(
                       1 for p in fkw["parameters"].values() if p.vary and not p.expr)),
                   "mean_rel_error": bt["mean_rel_error"],
                   "max_rel_error": bt["max_rel_error"],
                   "n_heldout": bt["n_heldout"], "heldout_runs": bt["heldout_runs"]}
            if "folds" in bt:
                row["folds"] = bt["folds"]
            if screen:
                _flag_vanished_constant(row, bt, ds, law)
            rows.append(row)
        except ScalefitError as exc:
            rows.append({"law": str(name), "error": str(exc), "mean_rel_error": None,
                         "max_rel_error": None})
    if screen and kw.get("runs") is None and "chinchilla" in prepared:
        rows.extend(_without_smallest(data, prepared["chinchilla"][1], rows, chosen, kw, done))
    rows.sort(key=lambda r: (r["mean_rel_error"] is None, r["mean_rel_error"] or 0.0))
    pick, reason = (_choose(rows) if screen else
                    (next((r for r in rows if r["mean_rel_error"] is not None), None), None))
    best = pick["law"] if pick is not None else None
    out = {"holdout": chosen, "ranking": rows, "best": best}
    if pick is not None and pick.get("runs"):
        out["runs"] = list(pick["runs"])
        out["variant"] = pick["variant"]
    if screen and pick is not None and _label(pick) in done:
        out["_best_backtest"] = done[_label(pick)]  # not JSON: fit() takes it and drops the key
        ens = _ensemble(rows, pick, done)
        if ens is not None:
            out["ensemble"] = ens
            reason = (reason or _why_best(rows)) + (
                f"; predictions average the {len(ens['members'])} fits of that family"
                + (" (to every run and without the smallest sizes)"
                   if any(m.get("variant") for m in ens["members"]) else "")
                + ", weighted by 1/backtest error²; the average's own backtest error is "
                f"{100 * ens['mean_rel_error']:.2f}% (with weights from that same backtest)"
                if ens.get("mean_rel_error") is not None else "")
    if why:
        out["holdout_reason"] = why
    if best is not None:
        out["reason"] = reason or _why_best(rows)
    return out


#: laws of N and D with an irreducible loss: the default family of ``auto`` (Chinchilla's form
#: with free exponents, exponents pulled towards the published ones, or tied exponents; Kaplan's
#: joint form plus a constant)
PREFERRED = ("chinchilla", "chinchilla_prior", "overtrain", "kaplan_nd_e")
#: how messages name that family
FAMILY = "laws with an irreducible loss (" + ", ".join(PREFERRED) + ")"
#: ``E`` below this fraction of the smallest loss counts as 0 (at its bound)
E_ZERO = 1e-6
#: another law, or the family fitted to fewer runs, replaces the preferred family fitted to every
#: run only when its backtest error is this much smaller
MARGIN = 0.8
#: the run-selection variant of ``auto`` leaves out this fraction of the smallest model sizes
SMALL_FRACTION = 0.25


def _in_family(row: dict) -> bool:
    """Whether a ranking row is a member of ``auto``'s family (:data:`PREFERRED`)."""
    return row["law"] in PREFERRED and not row.get("as")


def _flag_vanished_constant(row: dict, bt: dict, ds, law) -> None:
    """Mark ``row`` as ``law.without_e`` when every backtest fit put ``E`` at 0: e.g. Kaplan's
    joint form plus a constant, with the constant at 0, is Kaplan's form, which (like every law
    without an irreducible loss) extrapolates worse than its backtest suggests and must backtest
    clearly better to be chosen."""
    other = law.without_e
    params = bt.get("_fold_params") or []
    if other is None or not params:
        return
    floor = E_ZERO * float(np.min(np.abs(ds.y)))
    if all(float(p.get("E", np.inf)) <= floor for p in params):
        row["as"] = other
        row["note"] = f"E at 0 in the backtest: this is {other}, outside the family"


def _label(row: dict) -> str:
    """A ranking row's name: its law, and which runs it was fitted to when not all of them
    (also the key of its backtest in ``compare``)."""
    return row.get("label") or row["law"]


def _without_smallest(data, ds, rows: list[dict], holdout, kw: dict,
                      done: dict[str, dict]) -> list[dict]:
    """The preferred family fitted without the smallest model sizes, backtested on the same
    held-out runs. The smallest models often bend away from the power law that holds for the
    larger ones (they sit where the law's asymptotics have not set in), and a fit that gives
    them equal weight carries that bend into the extrapolation."""
    from scalefit.fitting.core import fit_keywords, prepare

    if holdout is None or not is_size_grid(ds):
        return []
    sizes = _run_sizes(ds)
    lv = size_levels(sizes)
    n_levels = int(lv.max()) + 1
    n_drop = max(1, int(SMALL_FRACTION * n_levels))
    n_held = max(_held_sizes(ds, s) for s in expand_holdout(holdout))
    if n_levels - n_drop - n_held < 2:  # too few sizes left to fit the backtest
        return []
    keep = sorted({str(ds.runs[g]) for g in np.unique(ds.groups[lv >= n_drop])})
    variant = ("without the smallest size" if n_drop == 1
               else f"without the {n_drop} smallest sizes")
    out = []
    for r in rows:
        if not _in_family(r) or r["mean_rel_error"] is None:
            continue
        row = {"law": r["law"], "variant": variant, "label": f"{r['law']} {variant}",
               "runs": keep}
        try:
            law, ds_v, fkw = prepare(data, r["law"], **{**kw, "runs": keep})
            bt = backtest(ds_v, law, holdout, fit_kw=fit_keywords(fkw))
        except ScalefitError as exc:
            out.append({**row, "error": str(exc), "mean_rel_error": None, "max_rel_error": None})
            continue
        done[_label(row)] = bt
        row = {**row, "n_params": r.get("n_params"), "n_free": r.get("n_free"),
               "mean_rel_error": bt["mean_rel_error"], "max_rel_error": bt["max_rel_error"],
               "n_heldout": bt["n_heldout"], "heldout_runs": bt["heldout_runs"],
               **({"folds": bt["folds"]} if "folds" in bt else {})}
        _flag_vanished_constant(row, bt, ds_v, law)
        out.append(row)
    return out


def _ensemble(rows: list[dict], pick: dict, done: dict[str, dict]) -> dict | None:
    """``auto``'s average: when no other law and no run selection backtests clearly better
    than the family of :data:`PREFERRED` laws fitted to every run, the members of that family
    (fitted to every run or without the smallest sizes) differ by less than the
    backtest can tell apart, and their average, weighted by the inverse square of each one's
    backtest error, forecasts better than any one of them chosen on a few held-out runs
    (forecast combination, Bates & Granger 1969). ``None`` when the pick came from outside the
    family, or the family has one member."""
    if not _in_family(pick) or pick.get("variant"):
        return None
    fam = [r for r in rows if _in_family(r) and r["mean_rel_error"] is not None
           and _label(r) in done]
    if len(fam) < 2:
        return None
    err = np.array([max(float(r["mean_rel_error"]), 1e-12) for r in fam])
    w = err ** -2.0
    w /= w.sum()
    members = [{"label": _label(r), "law": r["law"], "variant": r.get("variant"),
                "runs": list(r["runs"]) if r.get("runs") else None, "weight": float(wi),
                "backtest_error": float(e)} for r, wi, e in zip(fam, w, err, strict=True)]
    out = {"weighting": "inverse squared backtest error", "members": members,
           "mean_rel_error": None, "max_rel_error": None}
    bts = [done[_label(r)] for r in fam]
    y = bts[0]["_y"]
    # the members' backtests predict the same held-out points (the largest sizes) in the same
    # order; otherwise the average's own backtest is not defined
    if all(b["_y"].shape == y.shape and np.allclose(b["_y"], y, rtol=1e-12, atol=0)
           for b in bts):
        pred = sum(wi * b["_pred"] for wi, b in zip(w, bts, strict=True))
        rel = np.abs(pred - y) / np.abs(y)
        fold = bts[0]["_fold"]
        out["mean_rel_error"] = float(np.mean([rel[fold == f].mean() for f in np.unique(fold)]))
        out["max_rel_error"] = float(rel.max())
        # the average is what predicts, so its own held-out errors calibrate its intervals,
        # scaled as the chosen member's (fitted to every run, as the fit they calibrate)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.abs(np.log(y / pred))
        out["_scores"] = np.where(np.isfinite(err), err, np.inf) * done[_label(pick)]["_scale"]
    return out


def _held_sizes(ds, spec: str) -> int:
    """How many model sizes a size-wise holdout spec holds out of ``ds``."""
    mask, _ = split(ds, spec)
    lv = size_levels(_run_sizes(ds))
    return int(np.unique(lv[mask]).size)


def _choose(rows: list[dict]) -> tuple[dict | None, str | None]:
    """``auto``'s choice: the best of the :data:`PREFERRED` laws fitted to every run, unless
    another law, or the family fitted without the smallest sizes, backtests clearly better
    (below ``MARGIN`` times its error). A handful of held-out runs ranks laws noisily; laws
    without an irreducible loss (Kaplan's original forms, a power law in compute) extrapolate
    worse than their backtests suggest."""
    ok = [r for r in rows if r["mean_rel_error"] is not None]
    if not ok:
        return None, None
    fam = [r for r in ok if _in_family(r) and not r.get("variant")]
    if not fam:
        return ok[0], None
    pick = fam[0]
    top = ok[0]
    if top is not pick and top["mean_rel_error"] < MARGIN * pick["mean_rel_error"]:
        return top, (f"{_label(top)} predicted the held-out runs best "
                     f"({100 * top['mean_rel_error']:.2f}% mean relative error), clearly "
                     f"better than {pick['law']} fitted to every run "
                     f"({100 * pick['mean_rel_error']:.2f}%)")
    text = (f"{pick['law']} predicted the held-out runs best of the {FAMILY} "
            f"({100 * pick['mean_rel_error']:.2f}% mean relative error")
    if top is not pick:
        text += (f"; {_label(top)} at {100 * top['mean_rel_error']:.2f}% is not better by "
                 f"{100 * (1 - MARGIN):.0f}% or more, too little to leave the family")
    else:
        others = [r for r in fam if r is not pick]
        if others:
            text += f"; {others[0]['law']} at {100 * others[0]['mean_rel_error']:.2f}%"
    return pick, text + ")"


def why_holdout(ds, spec: str) -> str:
    """One sentence on why the holdout ``spec`` was chosen for ``ds``: whole model sizes when
    the runs form a size grid, else the largest runs by compute."""
    sizes = _run_sizes(ds)
    if spec.startswith("size"):
        n_levels = int(size_levels(sizes).max()) + 1
        return (f"the runs form a grid of {n_levels} model sizes with several runs per size: "
                f"holding out whole sizes ({spec}) tests extrapolation to bigger models")
    if sizes is None:
        return f"the runs have no model size: held out the largest runs by compute ({spec})"
    return (f"too few model sizes with several runs for a size-wise backtest: held out the "
            f"largest runs by compute ({spec})")


def _why_best(rows: list[dict]) -> str:
    ok = [r for r in rows if r["mean_rel_error"] is not None]
    best = ok[0]
    text = f"{best['law']} predicted the held-out runs best ({100 * best['mean_rel_error']:.2f}% "
    text += "mean relative error"
    if len(ok) > 1:
        second = ok[1]
        text += f"; next {second['law']} at {100 * second['mean_rel_error']:.2f}%"
    return text + ")"
