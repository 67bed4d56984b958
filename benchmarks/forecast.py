"""Forecast benchmark: how well each fitting recipe predicts runs it did not see, on data sets
that the fitting was not tuned on.

    python benchmarks/forecast.py [--quick] [--json FILE] [--cases NAME,...] [--methods NAME,...]

Each case (benchmarks/_forecast_cases.py) splits a data set from data/ into fitted and held-out
runs; each method fits the fitted runs and predicts the held-out targets. Printed per case and
method: the mean and max relative error |y_hat - y|/y on the held-out targets, and for methods
with intervals the coverage of their 95% intervals (fraction of held-out targets inside), their
mean half-width and their interval score (width plus 40x any miss, relative to the target: a
proper score, which neither too wide nor too narrow an interval wins). Then a
summary per method over all final-loss cases (mean of the case means), the ratio auto/textbook,
and the same over the schedule cases. ``oracle`` is no forecaster: it picks, per split, the
candidate of ``law="auto"`` (or auto's own forecast) closest to the held-out runs, so
oracle/textbook is the most that choosing among those candidates could reach.

Methods are small functions in ``METHODS``; a method whose option does not exist in this version
of scalefit (a law or holdout it does not know) shows "n/a" with the reason in the JSON.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _forecast_cases import Case, Split, cases  # noqa: E402

LEVEL = 0.95


@dataclass
class Forecast:
    pred: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None


@dataclass
class Method:
    name: str
    kind: str  # "final" or "schedule"
    run: Callable[[Split], Forecast]
    doc: str


#: (kind, name) -> method; a new option is one more decorated function
METHODS: dict[tuple[str, str], Method] = {}


def method(name: str, kind: str, doc: str):
    def deco(fn):
        METHODS[(kind, name)] = Method(name, kind, fn, doc)
        return fn
    return deco


# ----------------------------------------------------------------------------- final loss
def _cli_defaults() -> tuple[str, int, str | None]:
    """The law, bootstrap count and holdout `scalefit fit` uses when given none of them."""
    from scalefit.cli.fit import fit_cmd

    ps = inspect.signature(fit_cmd).parameters

    def default(p):
        d = p.default
        return getattr(d, "default", d)

    hold = default(ps["holdout"]) if "holdout" in ps else None
    hold = None if hold is None or str(hold).strip().lower() == "none" else str(hold)
    return str(default(ps["law"])), int(default(ps["bootstrap"])), hold


def _predict(res, test) -> Forecast:
    with warnings.catch_warnings():  # far extrapolations warn; here that is the point
        warnings.simplefilter("ignore")
        p = res.predict(N=test["N"].to_numpy(), D=test["D"].to_numpy(), C=test["C"].to_numpy())

    def arr(a):
        return None if a is None else np.atleast_1d(np.asarray(a, float))

    return Forecast(arr(p.value), arr(p.lo), arr(p.hi))


#: fits already made, by (split, law, options): `default` and `auto` are often the same fit,
#: and `oracle` reads `auto`'s ranking
_FITS: dict = {}


def _fit_result(split: Split, law: str, **kw):
    import scalefit

    _, boot, _ = _cli_defaults()
    kw = {"bootstrap": boot, "level": LEVEL, **split.fit_kw, **kw}
    if law == "auto" and str(kw.get("holdout", "auto")).strip().lower() == "auto":
        kw.pop("holdout", None)  # law="auto" chooses the same backtest without one
    key = (id(split), law, repr(sorted(kw.items())))
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITS[key] = scalefit.fit(split.data, law, **kw)
    return _FITS[key]


def _fit(split: Split, law: str, **kw) -> Forecast:
    return _predict(_fit_result(split, law, **kw), split.test)


def hoffmann_grid() -> np.ndarray:
    """Hoffmann et al.'s 4,500 starts in the optimiser's space (log E, log A, log B, alpha,
    beta): e in {-1, -0.5, ..., 1}, a, b in {0, 5, ..., 25}, alpha, beta in {0, 0.5, ..., 2}."""
    e = np.arange(-1.0, 1.01, 0.5)
    ab = np.arange(0.0, 25.1, 5.0)
    ex = np.arange(0.0, 2.01, 0.5)
    mesh = np.meshgrid(e, ab, ab, ex, ex, indexing="ij")
    return np.stack([m.ravel() for m in mesh], -1)


@method("default", "final", "what `scalefit fit` does with no --law (its default law, "
        "bootstrap count and holdout)")
def m_default(split):
    law, _, hold = _cli_defaults()
    # the CLI's backtest (when it runs one by default) is what calibrates its intervals
    return _fit(split, law, **({"holdout": hold} if hold else {}))


@method("auto", "final", "law='auto': the candidate law with the smallest backtest error")
def m_auto(split):
    return _fit(split, "auto")


@method("textbook", "final", "Chinchilla's law, free exponents, Huber 1e-3 on log residuals, "
        "Hoffmann's 4,500-start grid")
def m_textbook(split):
    return _fit(split, "chinchilla", objective="huber", delta=1e-3, starts=hoffmann_grid())


@method("shared_exp", "final", "Chinchilla with beta = alpha (Gadre et al.'s over-training law)")
def m_shared(split):
    return _fit(split, "chinchilla", expr={"beta": "alpha"})


@method("overtrain", "final", "law='overtrain' (n/a where the law does not exist)")
def m_overtrain(split):
    return _fit(split, "overtrain")


@method("auto_size", "final", "law='auto' ranked by size-wise backtests, holdout='size:1'")
def m_auto_size(split):
    return _fit(split, "auto", holdout="size:1")


@method("oracle", "final", "hindsight, not a forecaster: of the laws and variants that "
        "law='auto' ranked and of auto's own forecast, the one closest to the held-out runs "
        "(chosen by their losses): how far choosing among auto's candidates could go")
def m_oracle(split):
    res = _fit_result(split, "auto")
    y = split.test["loss"].to_numpy(float)
    best = _predict(res, split.test)  # auto's own forecast (its average) is one of the choices
    best_err = float(np.mean(np.abs(best.pred - y) / y))
    for row in (res.backtest or {}).get("ranking") or []:
        if row.get("mean_rel_error") is None:
            continue
        f = _fit(split, row["law"], bootstrap=0, runs=row.get("runs"))
        err = float(np.mean(np.abs(f.pred - y) / y))
        if err < best_err:
            best, best_err = f, err
    return Forecast(best.pred)


@method("naive", "final", "each held-out run gets the loss of the training run of the largest "
        "size with the nearest tokens per parameter (ties: the largest compute)")
def m_naive(split):
    tr, te = split.train, split.test
    big = tr[tr["N"] == tr["N"].max()]
    r_tr = np.log(big["D"].to_numpy() / big["N"].to_numpy())
    c_tr = big["C"].to_numpy()
    out = []
    for n, d in zip(te["N"].to_numpy(), te["D"].to_numpy(), strict=True):
        gap = np.round(np.abs(r_tr - math.log(d / n)), 9)
        cand = np.flatnonzero(gap == gap.min())
        out.append(big["loss"].to_numpy()[cand[np.argmax(c_tr[cand])]])
    return Forecast(np.array(out))


# ----------------------------------------------------------------------------- schedules
def _final_targets(curves) -> np.ndarray:
    return np.array([c.loss[-1] for c in curves])


_CURVE_FITS: dict = {}


def _curve_forecast(split: Split, law: str | None) -> Forecast:
    from scalefit.curves import fit_curves

    if law is None:
        law = inspect.signature(fit_curves).parameters["law"].default
    # the default law is usually one of the named ones: fit each (split, law) once
    key = (id(split), str(law))
    if key not in _CURVE_FITS:
        _CURVE_FITS[key] = _curve_fit(split, law)
    return _CURVE_FITS[key]


def _curve_fit(split: Split, law) -> Forecast:
    from scalefit.curves import fit_curves

    kw = {"law": law}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:  # intervals where this version can give them from two curves
            res = fit_curves(split.train_curves, intervals=True, **kw)
        except TypeError:
            res = fit_curves(split.train_curves, **kw)
    pred, lo, hi = [], [], []
    for c in split.test_curves:
        df = res.predict(c)
        pred.append(df["loss_pred"].iloc[-1])
        if "loss_lo" in df and "loss_hi" in df:
            lo.append(df["loss_lo"].iloc[-1])
            hi.append(df["loss_hi"].iloc[-1])
    ok = len(lo) == len(pred)
    return Forecast(np.array(pred), np.array(lo) if ok else None, np.array(hi) if ok else None)


@method("default", "schedule", "scalefit.fit_curves with its default law")
def c_default(split):
    return _curve_forecast(split, None)


@method("multi_power", "schedule", "multi-power law (Luo et al. 2025)")
def c_multipower(split):
    return _curve_forecast(split, "multi_power")


@method("lr_annealing", "schedule", "LR-annealing law (Tissue et al. 2024)")
def c_lr_annealing(split):
    return _curve_forecast(split, "lr_annealing")


@method("naive", "schedule", "the cosine run's final loss")
def c_naive(split):
    cos = next(c for c in split.train_curves if c.name.startswith("cosine"))
    return Forecast(np.full(len(split.test_curves), cos.loss[-1]))


# ----------------------------------------------------------------------------- running
def _targets(split: Split, kind: str) -> np.ndarray:
    if kind == "schedule":
        return _final_targets(split.test_curves)
    return split.test["loss"].to_numpy(float)


def _n_train(split: Split, kind: str) -> int:
    if kind == "schedule":
        return len(split.train_curves)
    return len(split.train)


def run_case(case: Case, methods: list[str], log=print) -> dict:
    """Every method on every split of the case; errors pooled over the splits' targets."""
    _FITS.clear()  # keyed by id(split): an id can come back once the case's splits are freed
    _CURVE_FITS.clear()
    splits = case.build()
    y = [_targets(s, case.kind) for s in splits]
    n_tr = sorted({_n_train(s, case.kind) for s in splits})
    row = {"case": case.name, "dataset": case.dataset, "protocol": case.protocol,
           "kind": case.kind, "n_train": n_tr[0] if len(n_tr) == 1 else f"{n_tr[0]}-{n_tr[-1]}",
           "n_heldout": int(sum(len(t) for t in y)), "methods": {}}
    for name in methods:
        m = METHODS.get((case.kind, name))
        if m is None:
            continue
        t0 = time.perf_counter()
        rel, inside, width, score = [], [], [], []
        try:
            for s, ys in zip(splits, y, strict=True):
                f = m.run(s)
                pred = np.asarray(f.pred, float).reshape(-1)
                if pred.shape != ys.shape or not np.all(np.isfinite(pred)):
                    raise ValueError(f"{pred.size} predictions for {ys.size} targets "
                                     f"({int(np.sum(~np.isfinite(pred)))} not finite)")
                rel.append(np.abs(pred - ys) / np.abs(ys))
                if f.lo is not None and f.hi is not None and inside is not None:
                    lo, hi = np.asarray(f.lo, float), np.asarray(f.hi, float)
                    inside.append((lo <= ys) & (ys <= hi))
                    width.append((hi - lo) / (2 * np.abs(ys)))
                    score.append(interval_score(ys, lo, hi) / np.abs(ys))
                else:
                    inside = None
            r = np.concatenate(rel)
            out = {"mean": float(r.mean()), "max": float(r.max()),
                   "coverage": None if not inside else float(np.concatenate(inside).mean()),
                   "half_width": None if not inside else float(np.concatenate(width).mean()),
                   "interval_score": (None if not inside
                                      else float(np.concatenate(score).mean()))}
        except Exception as exc:  # noqa: BLE001 (an option this version lacks is "n/a")
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            out = {"mean": None, "max": None, "coverage": None,
                   "error": f"{type(exc).__name__}: {msg}"[:300]}
        out["seconds"] = round(time.perf_counter() - t0, 2)
        row["methods"][name] = out
        log(f"  {case.name:20s} {name:12s} " + _fmt_result(out) + f"  ({out['seconds']:.1f} s)")
    return row


def interval_score(y, lo, hi, level: float = LEVEL) -> np.ndarray:
    """Gneiting & Raftery's (2007, eq. 43) interval score of central ``level`` intervals: the
    width, plus 2/alpha times the distance by which y falls outside (lower is better; a proper
    score, so neither too wide nor too narrow an interval pays)."""
    a = 1.0 - level
    y, lo, hi = (np.asarray(v, float) for v in (y, lo, hi))
    return (hi - lo) + (2 / a) * np.maximum(lo - y, 0.0) + (2 / a) * np.maximum(y - hi, 0.0)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f}%"


def _fmt_result(r: dict) -> str:
    cov = "-" if r.get("coverage") is None else f"{100 * r['coverage']:.0f}%"
    if r.get("mean") is None:
        cov = "n/a"
    text = f"mean {_pct(r.get('mean')):>7s}  max {_pct(r.get('max')):>7s}  cov95 {cov:>4s}"
    if r.get("half_width") is not None:
        text += f"  half-width {_pct(r['half_width']):>6s}  score {_pct(r['interval_score']):>6s}"
    return text


def summary(rows: list[dict], methods: list[str]) -> dict:
    """Per kind and method: mean of case means over the cases where the method ran."""
    out: dict = {}
    for kind in ("final", "schedule"):
        ks = [r for r in rows if r["kind"] == kind]
        if not ks:
            continue
        out[kind] = {}
        for name in methods:
            res = [r["methods"][name] for r in ks if name in r["methods"]]
            if not res:
                continue
            means = [x["mean"] for x in res if x["mean"] is not None]
            covs = [x["coverage"] for x in res if x.get("coverage") is not None]
            widths = [x["half_width"] for x in res if x.get("half_width") is not None]
            scores = [x["interval_score"] for x in res if x.get("interval_score") is not None]
            out[kind][name] = {"mean_of_means": float(np.mean(means)) if means else None,
                               "max_of_max": max((x["max"] for x in res if x["max"] is not None),
                                                 default=None),
                               "mean_coverage": float(np.mean(covs)) if covs else None,
                               "mean_half_width": float(np.mean(widths)) if widths else None,
                               "mean_interval_score": float(np.mean(scores)) if scores else None,
                               "n_cases": len(means), "of": len(res)}
        a = out[kind].get("auto", {}).get("mean_of_means")
        t = out[kind].get("textbook", {}).get("mean_of_means")
        if a is not None and t:
            # only over cases where both ran, so the ratio compares like with like
            both = [(r["methods"]["auto"]["mean"], r["methods"]["textbook"]["mean"]) for r in ks
                    if r["methods"].get("auto", {}).get("mean") is not None
                    and r["methods"].get("textbook", {}).get("mean") is not None]
            out[kind]["auto/textbook"] = float(np.mean([x for x, _ in both])
                                               / np.mean([y for _, y in both]))
        o = out[kind].get("oracle", {}).get("mean_of_means")
        if o is not None and t and out[kind]["oracle"]["n_cases"] == out[kind]["textbook"][
                "n_cases"]:
            out[kind]["oracle/textbook"] = float(o / t)
    return out


def table(rows: list[dict], methods: list[str]) -> str:
    head = ("| case | data set | protocol | n train / held-out | method | mean rel err "
            "| max rel err | 95% coverage | half-width | interval score |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        first = True
        for name in methods:
            x = r["methods"].get(name)
            if x is None:
                continue
            cov = ("n/a" if x["mean"] is None else
                   "-" if x.get("coverage") is None else f"{100 * x['coverage']:.0f}%")
            lead = (f"| {r['case']} | {r['dataset']} | {r['protocol']} | "
                    f"{r['n_train']} / {r['n_heldout']} |") if first else "| | | | |"
            band = ("- | -" if x.get("half_width") is None
                    else f"{_pct(x['half_width'])} | {_pct(x['interval_score'])}")
            lines.append(f"{lead} {name} | {_pct(x['mean'])} | {_pct(x['max'])} | {cov} "
                         f"| {band} |")
            first = False
    return "\n".join(lines)


def summary_text(summ: dict) -> str:
    lines = []
    titles = {"final": "final-loss cases", "schedule": "schedule cases"}
    for kind, per in summ.items():
        lines.append(f"summary over {titles[kind]} (mean of case means; cases with a number):")
        for name, s in per.items():
            if "/" in name:
                continue
            cov = ("" if s["mean_coverage"] is None
                   else f", mean 95% coverage {100 * s['mean_coverage']:.0f}%")
            if s.get("mean_half_width") is not None:
                cov += (f", half-width {_pct(s['mean_half_width'])}, interval score "
                        f"{_pct(s['mean_interval_score'])}")
            lines.append(f"  {name:12s} {_pct(s['mean_of_means']):>7s} "
                         f"(max {_pct(s['max_of_max'])}; {s['n_cases']}/{s['of']} cases{cov})")
        if "auto/textbook" in per:
            lines.append(f"  auto/textbook: {per['auto/textbook']:.3f}")
        if "oracle/textbook" in per:
            lines.append(f"  oracle/textbook: {per['oracle/textbook']:.3f} (per split the best of "
                         "auto's candidates and its average, chosen by hindsight: what choosing "
                         "among them can reach)")
    return "\n".join(lines)


FINAL_METHODS = ["default", "auto", "textbook", "shared_exp", "overtrain", "auto_size", "oracle",
                 "naive"]
SCHEDULE_METHODS = ["default", "multi_power", "lr_annealing", "naive"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a subset of cases (about a minute)")
    ap.add_argument("--json", dest="json_out", help="write the table and summary here")
    ap.add_argument("--cases", help="comma-separated case names (substrings) to run")
    ap.add_argument("--methods", help="comma-separated method names to run")
    ap.add_argument("--list", action="store_true", help="list cases and methods")
    a = ap.parse_args(argv)
    all_cases = cases()
    methods = list(dict.fromkeys(FINAL_METHODS + SCHEDULE_METHODS))
    if a.list:
        for c in all_cases:
            print(f"case   {c.name:20s} {c.kind:8s} {c.protocol}{'  [quick]' if c.quick else ''}")
        for (kind, name), m in METHODS.items():
            print(f"method {name:12s} {kind:8s} {m.doc}")
        return 0
    chosen = [c for c in all_cases if c.quick] if a.quick else all_cases
    if a.cases:
        want = [w.strip() for w in a.cases.split(",") if w.strip()]
        chosen = [c for c in all_cases if any(w in c.name for w in want)]
        if not chosen:
            print(f"no case matches {a.cases!r}; see --list", file=sys.stderr)
            return 2
    if a.methods:
        methods = [m.strip() for m in a.methods.split(",") if m.strip()]
        unknown = [m for m in methods if m not in {n for _, n in METHODS}]
        if unknown:
            print(f"unknown method(s) {unknown}; see --list", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    rows = [run_case(c, methods) for c in chosen]
    summ = summary(rows, methods)
    wall = time.perf_counter() - t0
    print()
    print(table(rows, methods))
    print()
    print(summary_text(summ))
    print(f"\n{len(rows)} cases in {wall:.0f} s")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(
            {"date": date.today().isoformat(), "argv": sys.argv[1:] if argv is None else argv,
             "seconds": round(wall, 1), "cases": rows, "summary": summ,
             "methods": {f"{k}/{n}": m.doc for (k, n), m in METHODS.items()}}, indent=2))
        print(f"wrote {a.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
