"""``scalefit.fit``: one call from data to a :class:`~scalefit.result.FitResult`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from scalefit._keywords import checked_keywords
from scalefit.artefacts import data_origin
from scalefit.errors import FitError, ScalefitError, UsageError
from scalefit.fitting.bootstrap import bootstrap as run_bootstrap
from scalefit.fitting.bootstrap import delta_interval_params, delta_method, percentile_interval
from scalefit.fitting.core import fit_dataset, fit_keywords, merge_ties, prepare
from scalefit.fitting.dataset import Dataset, data_source
from scalefit.fitting.optimize import blas_threads
from scalefit.laws import get_law
from scalefit.result import FitResult

__all__ = ["fit", "fit_dataset", "prepare", "blas_threads"]

_DERIVED_DOCS = {"a": "N_opt ∝ C^a", "b": "D_opt ∝ C^b", "G": "N_opt = G·(C/6)^a"}


@checked_keywords()
def fit(data, law: str = "auto", *, metric: str | None = None, bootstrap: int = 0,
        holdout: str | None = None, fix: Mapping[str, float] | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        expr: Mapping[str, str] | None = None, tie: Mapping[str, str] | None = None,
        params=None, objective: str = "huber",
        delta: float = 1e-3, penalty: float = 4.0, checkpoints: bool = False, seed: int = 0,
        predict: Mapping | Sequence[Mapping] | None = None,
        optimal: float | Sequence[float] | None = None, inputs: Mapping[str, str] | None = None,
        runs: Sequence[str] | None = None, level: float = 0.95, keep: int = 8, starts=None,
        warmup_frac: float = 0.1, candidates: Sequence[str] | None = None,
        include_excluded: bool = False) -> FitResult:
    """Fit a scaling law.

    Parameters
    ----------
    data : path, list of paths, DataFrame, Store or LogData
        Logs (read with :func:`scalefit.read_logs`), a final-loss table (one row per run: N, D
        and/or C and a loss column), a points table, or a store.
    law : str
        ``"auto"`` (default): the candidate law and variant with the smallest backtest error,
        or, when none is clearly better than the laws with an irreducible loss (Chinchilla's
        form with free exponents, with exponents pulled towards the published ones
        (``chinchilla_prior``) or with tied exponents, Kaplan's joint form plus a constant),
        the average of their fits (with or without the smallest sizes) weighted by 1/backtest
        error²; over the public data of benchmarks/forecast.py its forecasts of held-out runs
        missed by 1.25% against Chinchilla's law's 1.98%, though not on every data set. Or a registered law
        (``"chinchilla"``, ``"kaplan:x=C"`` ...): that law alone, whose parameters are the
        answer. Without ``holdout`` the backtest is chosen from the data: whole model sizes
        held out (``size:1-2``) when the runs form a grid of sizes, else the largest 20% of
        runs by compute.
    metric : str, optional
        The metric to fit; by default the only loss-like metric (``loss`` for final tables).
    bootstrap : int
        Number of run resamples for percentile intervals (0: delta-method errors only).
    holdout : str, optional
        Also refit without some runs and report the errors on them: ``size:K`` (every run of
        the K largest model sizes; ``size:1-3`` rolls over K), ``largest:K`` (the K
        largest-compute runs) or ``auto``; ``None`` or ``"none"``: no backtest.
    fix, bounds, expr, params
        Fixed values (``{"alpha": 0.34}``), bounds (``{"E": (1.5, 2)}``), expressions
        (``{"beta": "alpha"}``), or a whole :class:`lmfit.Parameters`.
    tie : mapping
        Parameters that take another parameter's value, e.g. ``{"beta": "alpha"}`` (one
        exponent for N and D; the ``overtrain`` law is that variant of ``chinchilla``).
    objective, delta, penalty
        ``huber`` (default, delta 1e-3 on log residuals, summed), ``mse``, ``mse_linear``,
        ``asymmetric`` (over-predictions cost ``penalty`` times more).
    checkpoints : bool
        Fit every logged checkpoint (tokens seen so far as D) instead of each run's final value.
    predict : mapping or list of mappings
        Inputs to predict at, e.g. ``{"N": 7e10, "D": 1.4e12}``.
    optimal : float or list
        Compute budgets C for the compute-optimal allocation (laws that define one).
    include_excluded : bool
        Also fit runs the data marks with a truthy ``exclude`` column or tag (left out by default).
    """
    if not 0 < level < 1:
        raise UsageError(f"level must be in (0, 1), got {level}", where="level")
    if int(bootstrap) < 0:
        raise UsageError(f"bootstrap must be >= 0, got {bootstrap}", where="--bootstrap")
    expr = merge_ties(expr, tie)
    if isinstance(holdout, str) and holdout.strip().lower() == "none":  # as on the CLI
        holdout = None
    kw = dict(metric=metric, checkpoints=checkpoints, inputs=inputs, runs=runs,
              warmup_frac=warmup_frac, fix=fix, bounds=bounds, expr=expr, params=params,
              objective=objective, delta=delta, penalty=penalty, keep=keep, starts=starts,
              include_excluded=include_excluded)
    auto = None
    if isinstance(law, str) and law == "auto":
        auto = _choose_law(data, candidates, holdout, kw)
        law, holdout = auto["best"], auto["holdout"]
        if auto.get("runs"):  # the chosen law backtested better without the smallest sizes
            runs = kw["runs"] = auto["runs"]
    lw, ds, fkw = prepare(data, law, **kw)
    if auto is not None and auto.get("variant"):
        ds.notes.append(f"law='auto' fitted {lw.name} {auto['variant']} ({len(runs)} runs): "
                        "it predicted the held-out runs clearly better that way; "
                        "the backtest ranking shows both")
    _note_undertrained(ds)
    core = fit_dataset(ds, lw, **fit_keywords(fkw))
    problem, opt, theta = core["problem"], core["opt"], core["theta"]
    params_ = {k: float(v) for k, v in zip(lw.param_names, theta, strict=True)}
    unc = _uncertainty(problem, opt, lw.param_names, ds, bootstrap, seed, level)
    result = FitResult(
        law=_law_spec(law, lw), params_=params_, objective_=float(opt.fun), n_points=ds.n,
        ci_=unc["ci"], stderr_=unc["stderr"], n_runs=ds.n_runs, metric=ds.metric,
        derived=_derived(lw, params_, unc["samples"], problem, opt.v, unc["dm"]["cov"], level),
        settings={**_settings(lw, ds, fkw, bootstrap, seed, level, holdout, fix, expr, bounds,
                              opt, checkpoints),
                  "data": data_source(data),
                  "data_options": {"include_excluded": bool(include_excluded),
                                   "runs": None if runs is None else list(runs),
                                   "inputs": None if inputs is None else dict(inputs),
                                   "warmup_frac": float(warmup_frac)}},
        data_hash=ds.hash(), data_origin=data_origin(data), samples=unc["samples"], dataset=ds,
        _problem=problem, _v=opt.v, _cov=unc["dm"]["cov"])
    if holdout:
        _attach_backtest(result, ds, lw, fkw, theta, holdout, level, auto,
                         variants=not (fix or expr or params is not None), kw=kw)
    if auto is not None and auto.get("ensemble") and result.backtest:
        _attach_ensemble(result, data, auto["ensemble"], kw, ds, lw, theta, level)
    result.diagnostics = _diagnostics(lw, ds, problem, opt, unc["dm"], unc["boot"],
                                      n_free=problem.F)
    for p in _as_list_of_maps(predict):
        result.predictions.extend(result.predict(**p).to_records())
    for c in _as_list(optimal):
        result.predictions.append(_optimal_record(result, float(c)))
    return result


# ---------------------------------------------------------------------- the steps of fit
def _choose_law(data, candidates, holdout, kw: dict) -> dict:
    """``law="auto"``: backtest the candidates and keep the ranking (see ``compare``)."""
    from scalefit.fitting.backtest import AUTO_LAWS, compare

    auto = compare(data, list(candidates or AUTO_LAWS), holdout, screen=True, **kw)
    if auto["best"] is None:
        raise FitError("no candidate law could be fitted for law='auto'",
                       hint="; ".join(f"{r['law']}: {r.get('error')}" for r in auto["ranking"]))
    return auto


def _uncertainty(problem, opt, names: list[str], ds: Dataset, bootstrap: int, seed,
                 level: float) -> dict:
    """Delta-method standard errors (always: cheap) and, with ``bootstrap``, run resamples
    and their percentile intervals."""
    dm = delta_method(problem, opt.v)
    stderr = {k: se for k, (se, _, _) in delta_interval_params(problem, opt.v, dm["cov"],
                                                                level).items()}
    out = {"dm": dm, "stderr": stderr, "boot": None, "ci": None, "samples": None}
    if bootstrap:
        with blas_threads(1):
            boot = run_bootstrap(problem, opt.v, ds.groups, int(bootstrap), seed=seed)
        lo, hi = percentile_interval(boot.samples, level)
        out.update(boot=boot, samples=boot.samples,
                   ci={k: (float(lo[i]), float(hi[i]))
                       for i, k in enumerate(names)
                       if problem.parameters[k].vary or problem.parameters[k].expr})
    return out


def _attach_backtest(result: FitResult, ds: Dataset, lw, fkw: dict, theta, holdout: str,
                     level: float, auto: dict | None, *, variants: bool, kw: dict) -> None:
    """Refit without the held-out runs, keep the errors on them and the prediction intervals
    they calibrate (plus the law's variant, when the user fixed nothing)."""
    from scalefit.fitting.backtest import backtest, default_holdout, why_holdout

    why = None
    chosen = str(holdout).strip() == "auto"
    if chosen:
        holdout = default_holdout(ds)
        why = why_holdout(ds, holdout)
    try:
        # law="auto" already backtested the law it chose, on the same runs and holdout
        reuse = auto.pop("_best_backtest", None) if auto is not None else None
        result.backtest = (reuse if reuse is not None and reuse["holdout"] == holdout
                           else backtest(ds, lw, holdout, fit_kw=fit_keywords(fkw)))
    except ScalefitError as exc:
        if not chosen:
            raise
        # a backtest the user did not ask for: too few runs to hold any out
        result.backtest = None
        ds.notes.append(f"no backtest ({holdout}: {exc.args[0] if exc.args else exc}); "
                        "intervals are not calibrated")
    result.settings["holdout"] = holdout if result.backtest else None
    if not result.backtest:
        return
    bt = result.backtest
    for key in ("_pred", "_y", "_fold", "_fold_params", "_scale"):  # for law="auto", not JSON
        bt.pop(key, None)
    bt["calibration"] = {**_calibration(bt.pop("_scores"), ds, lw, theta, level, holdout),
                         "of": lw.name}
    alt = _variant_fits(ds, lw, kw) if variants else None
    if alt:
        bt["calibration"]["alternatives"] = alt
    if why:
        bt["holdout_reason"] = why
    if auto is not None:
        bt["ranking"] = auto["ranking"]
        for key in ("reason", "holdout_reason"):
            if key in auto:
                bt[key] = auto[key]


def _attach_ensemble(result: FitResult, data, ens: dict, kw: dict, ds: Dataset, lw, theta,
                     level: float) -> None:
    """law="auto"'s average: fit each member of the chosen family to its runs (the chosen one
    is the result itself) and keep their parameters and weights beside the backtest, so that
    ``predict`` averages them (also from a saved fit). The average is then what predicts, so
    its own held-out errors calibrate the intervals (``ds``, ``lw``, ``theta``: the chosen
    law's fit, whose residuals give the run scatter)."""
    # the law's variant fitted to every run is already in the calibration: fitted once
    done = {a["law"]: a["params"] for a in
            (result.backtest.get("calibration") or {}).get("alternatives") or []}
    done[result.law] = dict(result.params_)
    members = []
    for m in ens["members"]:
        if m["law"] in done and not m.get("runs") and (m["law"] == result.law
                                                       or kw.get("starts") is None):
            params = dict(done[m["law"]])
        else:
            try:
                # a member's own runs (without the smallest sizes), else the fit's
                law_m, ds_m, fkw = prepare(data, m["law"], **{**kw, "runs": m.get("runs")
                                                              or kw.get("runs")})
                core = fit_dataset(ds_m, law_m, **fit_keywords(fkw))
            except ScalefitError:
                return  # a member that cannot be refitted: predict from the chosen law alone
            params = dict(zip(law_m.param_names, map(float, core["theta"]), strict=True))
        members.append({**{k: v for k, v in m.items() if k != "runs"},
                        "n_runs": len(m["runs"]) if m.get("runs") else result.n_runs,
                        "params": params})
    result.backtest["ensemble"] = {**{k: v for k, v in ens.items()
                                      if k != "members" and not k.startswith("_")},
                                   "members": members}
    if ens.get("_scores") is not None:
        cal = result.backtest["calibration"]
        result.backtest["calibration"] = {
            **cal, **_calibration(ens["_scores"], ds, lw, theta, level, cal["holdout"]),
            "of": "average"}
    if result.dataset is not None:
        from scalefit.fitting.backtest import FAMILY

        result.dataset.notes.append(
            f"law='auto' predicts with the average of {len(members)} fits of the {FAMILY}, "
            "weighted by 1/backtest error² (" + ", ".join(
                f"{m['label']} {m['weight']:.2f}" for m in members) + "); the parameters "
            "shown are the best-backtesting member's")


# ---------------------------------------------------------------------- helpers
def _note_undertrained(ds: Dataset) -> None:
    """Runs trained on fewer tokens than parameters can sit near the unigram loss, where scaling
    laws are not meant to hold (IsoFLOP sweeps reach 0.02 tokens per parameter): say so, once."""
    if "N" not in ds.X or "D" not in ds.X or ds.checkpoints:
        return
    ratio = np.asarray(ds.X["D"], float) / np.asarray(ds.X["N"], float)
    low = ratio < 1.0
    if low.any():
        ds.notes.append(f"{int(low.sum())} run(s) trained on fewer tokens than parameters (down "
                        f"to {float(ratio.min()):.2g} per parameter), a regime few scaling laws "
                        "are meant for; if they pull the fit, leave them out (an exclude "
                        "column, or runs=...)")


#: Chinchilla's law with free and with tied exponents: each is the other's plausible variant
_VARIANTS = {"chinchilla": "overtrain", "overtrain": "chinchilla"}


def _variant_fits(ds: Dataset, law, kw: dict) -> list[dict]:
    """Full-data fits of the law's plausible variant, whose predictions the intervals also
    cover: the choice between free and tied exponents is itself uncertain. The variant is
    fitted as the law was (objective, and the user's bounds on the parameters it shares), from
    its own starting grid."""
    other = _VARIANTS.get(law.name)
    if other is None:
        return []
    names = get_law(other).param_names
    bounds = {k: v for k, v in (kw.get("bounds") or {}).items() if k in names}
    try:
        lw, _, fkw = prepare(ds, other, **{**kw, "bounds": bounds or None, "starts": None})
        core = fit_dataset(ds, lw, **fit_keywords(fkw))
    except ScalefitError:
        return []
    alt = core["law"]
    return [{"law": alt.name,
             "params": dict(zip(alt.param_names, map(float, core["theta"]), strict=True))}]


def _calibration(scores, ds: Dataset, law, theta, level: float, holdout: str) -> dict:
    from scalefit.fitting.calibration import calibration, fitted_span, fitted_upper

    with np.errstate(all="ignore"):
        pred = law._predict(law.check_inputs(ds.X), theta)
        resid = np.log(ds.y / pred)
    return calibration(scores, resid, fitted_upper(ds.X), level, holdout, fitted_span(ds.X))


def _law_spec(requested, law) -> str:
    """The name a saved fit rebuilds its law from: as the user spelled it, or a law object's
    full spec (``power:x=C``, not ``power``)."""
    if isinstance(requested, str):
        return requested
    return getattr(law, "spec", law.name)


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (int, float, np.floating, np.integer)):
        return [x]
    return list(x)


def _as_list_of_maps(x) -> list[dict]:
    if x is None:
        return []
    if isinstance(x, Mapping):
        return [dict(x)]
    return [dict(m) for m in x]


def _optimal_record(result: FitResult, C: float) -> dict:
    o = result.optimal(C)
    rec = {"kind": "optimal", "label": "compute-optimal loss", "inputs": {"C": C},
           "value": float(o["loss"]), "lo": _opt(o, "loss_lo"), "hi": _opt(o, "loss_hi")}
    for k in ("N", "D"):
        if k in o:
            rec[k] = {"value": float(o[k]), "lo": _opt(o, f"{k}_lo"), "hi": _opt(o, f"{k}_hi")}
    return rec


def _opt(o: dict, k: str):
    return float(o[k]) if k in o and np.isfinite(o[k]) else None


def _derived(law, params: dict, samples, problem, v, cov, level) -> dict:
    d0 = law.derived(params)
    if not d0:
        return {}
    out = {}
    draws = None
    if samples is not None:
        names = law.param_names
        try:
            dd = law.derived({k: samples[:, i] for i, k in enumerate(names)})
            draws = {k: np.broadcast_to(np.asarray(x, float), (len(samples),)) for k, x in dd.items()}
        except Exception:  # noqa: BLE001 (a law written for scalars: one call per sample)
            rows = [law.derived(dict(zip(names, s, strict=True))) for s in samples]
            draws = {k: np.array([r[k] for r in rows], float) for k in d0}
    for k, val in d0.items():
        if not np.isfinite(val):  # e.g. chinchilla's a, b, G when alpha + beta <= 0
            out[k] = {"value": None, "lo": None, "hi": None,
                      "doc": "undefined at the fitted parameters"}
            continue
        rec = {"value": float(val), "lo": None, "hi": None}
        if k in _DERIVED_DOCS and law.name == "chinchilla":
            rec["doc"] = _DERIVED_DOCS[k]
        if draws is not None and k in draws:
            lo, hi = percentile_interval(draws[k], level)
            rec["lo"], rec["hi"], rec["interval"] = float(lo), float(hi), "bootstrap"
        else:
            lo, hi = _delta_derived(law, problem, v, cov, k, level)
            if lo is not None:
                rec["lo"], rec["hi"], rec["interval"] = lo, hi, "delta"
        out[k] = rec
    return out


def _delta_derived(law, problem, v, cov, key, level):
    from scipy.special import ndtri  # = scipy.stats.norm.ppf, without importing scipy.stats

    if cov is None or not np.all(np.isfinite(cov)):
        return None, None

    def g(vv):
        th = law.to_natural(problem.full(vv))
        return float(law.derived(dict(zip(law.param_names, th, strict=True)))[key])

    f0 = g(v)
    # a positive quantity (G, an exponent ratio) gets its interval in log space, so it stays > 0
    positive = f0 > 0
    h_of = (lambda x: math.log(x) if x > 0 else float("nan")) if positive else (lambda x: x)
    t0 = h_of(f0)
    grad = np.zeros(problem.F)
    for j in range(problem.F):
        h = 1e-6 * max(1.0, abs(v[j]))
        vp = v.copy()
        vp[j] += h
        grad[j] = (h_of(g(vp)) - t0) / h
    if not np.all(np.isfinite(grad)):
        return None, None
    sd = math.sqrt(max(float(grad @ cov @ grad), 0.0))
    z = ndtri(0.5 + level / 2)
    if positive:
        w = min(z * sd, 700.0)  # exp overflows past ~709: an unbounded interval, not an error
        return f0 * math.exp(-w), f0 * math.exp(w)
    return f0 - z * sd, f0 + z * sd


def _settings(law, ds, fkw, bootstrap, seed, level, holdout, fix, expr, bounds, opt,
              checkpoints) -> dict:
    return {"law": law.name, "metric": ds.metric, "objective": fkw["objective"].to_dict(),
            "bootstrap": int(bootstrap), "resample": "runs", "seed": int(seed),
            "level": float(level), "holdout": holdout, "fix": dict(fix or {}),
            "expr": dict(expr or {}), "bounds": {k: list(b) for k, b in (bounds or {}).items()},
            "checkpoints": bool(checkpoints), "n_starts": int(opt.n_starts),
            "keep": int(fkw["keep"]), "inputs": dict(ds.sources)}


_COLLAPSED_LOG = math.log(1e-6)
_DIVERGED_LOG = math.log(1e100)


def _diagnostics(law, ds, problem, opt, dm, boot, n_free) -> dict:
    warnings: list[str] = []
    notes = list(ds.notes)
    # parameters at a bound (internal space, so log bounds compare in log)
    at_bound = []
    for j, i in enumerate(problem.free):
        lo, hi = problem.lower[j], problem.upper[j]
        x = opt.v[j]
        tol = 1e-6 * max(1.0, abs(x))
        if (np.isfinite(lo) and x - lo <= tol) or (np.isfinite(hi) and hi - x <= tol):
            at_bound.append(problem.names[i])
        elif law.params[i].log and not np.isfinite(lo) and x < _COLLAPSED_LOG:
            # a positive parameter driven to ~0 sits at its natural bound, 0, in all but name
            at_bound.append(problem.names[i])
        elif law.params[i].log and not np.isfinite(hi) and x > _DIVERGED_LOG:
            # ... and one driven past 1e100 sits at its natural bound, infinity
            at_bound.append(problem.names[i])
    if at_bound:
        warnings.append(f"parameter(s) {', '.join(at_bound)} at a bound: the fit may be "
                        "constrained rather than determined by the data")
    spread = opt.spread
    # an exact fit (objective ~1e-24) has huge relative spreads that mean nothing: also ask
    # for an absolute gap above rounding (log residuals of ~1e-6 per point)
    if (spread.get("n_refined", 0) > 1 and spread.get("rel_range", 0) > 1e-3
            and spread["worst"] - spread["best"] > 1e-12 * max(ds.n, 1)
            and spread.get("n_within_1e-6", 0) < min(3, spread["n_refined"])):
        warnings.append(f"only {spread['n_within_1e-6']} of {spread['n_refined']} refined starts "
                        f"reached the best objective (the others up to {spread['rel_range']:.2g} "
                        "relative above): several local minima; the best may not be global")
    cond = dm["cond"]
    if not np.isfinite(cond) or cond > 1e10:
        warnings.append(f"J^T J is ill-conditioned (condition number {cond:.3g}): some "
                        "parameters are not identified by these data; fix one or add runs")
    ppp = ds.n / max(n_free, 1)
    if ppp < 5:
        warnings.append(f"only {ppp:.1f} points per free parameter: intervals will be wide and "
                        "the fit fragile")
    if ds.n_runs < n_free + 2:
        warnings.append(f"only {ds.n_runs} runs for {n_free} free parameters")
    if not opt.converged:
        warnings.append(f"the optimiser did not report convergence ({opt.message})")
    pred = law._predict(law.check_inputs(ds.X), law.to_natural(opt.u))
    space = problem.objective.space
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = np.log(ds.y) if space == "log" else ds.y
        r = t - (np.log(pred) if space == "log" else pred)
    if not np.all(np.isfinite(r)):
        warnings.append(f"{int(np.sum(~np.isfinite(r)))} prediction(s) are not finite at the "
                        "fitted parameters: the fit is not usable")
        r = np.where(np.isfinite(r), r, np.inf)
    # share of the spread of the (log) metric the law accounts for: low when the data follow
    # another functional form, or vary too little around their noise to fit
    r2 = float(1 - np.mean(r * r) / np.var(t)) if np.var(t) > 0 else float("nan")
    if np.isfinite(r).all() and r2 < 0.5:
        warnings.append(f"the law accounts for only {max(r2, 0):.0%} of the variation of "
                        f"{ds.metric!r} across the points: the data may follow another "
                        "functional form, or vary too little to determine this law")
    resid = {"space": space, "rms": float(np.sqrt(np.mean(r * r))), "r2": r2,
             "mean": float(np.mean(r)), "median_abs": float(np.median(np.abs(r))),
             "max_abs": float(np.max(np.abs(r))),
             "worst_run": ds.runs[int(ds.groups[int(np.argmax(np.abs(r)))])]}
    big = np.abs(r) > max(10 * resid["median_abs"], 0.05)
    if big.any():
        warnings.append(f"{int(big.sum())} point(s) lie far from the fit (|log residual| up to "
                        f"{resid['max_abs']:.2g}, run {resid['worst_run']!r}); check them for "
                        "outliers or diverged runs")
    out = {"warnings": warnings, "notes": notes, "at_bound": at_bound, "multistart": spread,
           "condition_number": float(cond), "points_per_param": float(ppp),
           "n_free": int(n_free), "residuals": resid, "converged": bool(opt.converged),
           "n_dropped": int(ds.n_dropped)}
    if boot is not None:
        frac = float(np.mean(boot.converged))
        out["bootstrap"] = {"n": boot.n, "converged_fraction": frac}
        if frac < 0.95:
            warnings.append(f"{100 * (1 - frac):.0f}% of bootstrap refits did not converge")
    return out
