"""`scalefit fit`, `scalefit predict`, `scalefit laws` and `scalefit compare`.

Loss-curve laws (``multi_power``, ``lr_annealing``) are fitted by ``scalefit.cli.curves``:
``scalefit fit FILE --law multi_power`` calls ``scalefit.cli.curves.fit_curves(**options)`` with
the options listed in :func:`_delegate_curves`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

from scalefit.cli.app import app
from scalefit.cli.data import (
    BestLROption,
    FormatOption,
    LossColOption,
    RegexOption,
    RunsOption,
    keep_best_lr,
    load_data,
    parse_runs,
    read_options,
    select_runs,
)
from scalefit.errors import UsageError

DEFAULT_BOOTSTRAP = 200


def _number(text: str, where: str) -> float:
    """``7e10``, ``70B``, ``1.4T``, ``500k`` (suffixes k, M, G/B, T) as a float."""
    from scalefit.units import parse_quantity

    return parse_quantity(text, where)


def parse_assignments(text: str, where: str) -> dict[str, float]:
    """``N=7e10,D=1.4e12`` -> {"N": 7e10, "D": 1.4e12}."""
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in str(text).split(","))):
        k, sep, v = item.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise UsageError(f"{item!r} must look like NAME=VALUE (e.g. N=7e10,D=1.4e12)",
                             where=where)
        out[k.strip()] = _number(v.strip(), where)
    if not out:
        raise UsageError("expected NAME=VALUE pairs such as N=7e10,D=1.4e12", where=where)
    return out


def parse_fix_and_ties(fix: list[str], tie: list[str]) -> tuple[dict[str, float],
                                                                  dict[str, str]]:
    """``--fix alpha=0.34 --fix beta=alpha --tie B=A`` -> ({"alpha": 0.34}, {"beta": "alpha",
    "B": "A"}): a value that is a name, not a number, ties the parameter to that one."""
    fixed: dict[str, float] = {}
    ties: dict[str, str] = {}
    _parse_pairs("--fix", fix, fixed, ties, numbers=True)
    _parse_pairs("--tie", tie, fixed, ties, numbers=False)
    return fixed, ties


def parse_ties(tie: list[str]) -> dict[str, str]:
    """``--tie beta=alpha`` -> {"beta": "alpha"}, for commands that have no ``--fix``."""
    ties: dict[str, str] = {}
    _parse_pairs("--tie", tie, {}, ties, numbers=False)
    return ties


def _parse_pairs(where: str, items: list[str], fixed: dict[str, float], ties: dict[str, str],
                 numbers: bool) -> None:
    """Parse NAME=VALUE items of option ``where`` into ``fixed`` (numbers, if allowed) and
    ``ties`` (names); the messages name ``where`` only, the option the user gave."""
    example = f"{where} alpha=0.34 or {where} beta=alpha" if numbers else f"{where} beta=alpha"
    for text in items:
        for item in filter(None, (s.strip() for s in str(text).split(","))):
            k, sep, v = (x.strip() for x in item.partition("="))
            if not sep or not k or not v:
                raise UsageError(f"{item!r} must look like "
                                 + ("NAME=VALUE or NAME=OTHER" if numbers else "NAME=OTHER"),
                                 where=where, hint=f"e.g. {example}")
            if k in fixed or k in ties:
                raise UsageError(f"parameter {k!r} is given twice", where=where)
            num = None
            if numbers and not v.isidentifier():
                try:  # the same number syntax as --predict (7e10, 70B)
                    num = _number(v, where)
                except UsageError:
                    num = None
            if num is not None:
                fixed[k] = num
            elif v.isidentifier():
                ties[k] = v
            else:
                raise UsageError(f"{item!r}: expected "
                                 + ("a number or " if numbers else "")
                                 + "another parameter's name", where=where,
                                 hint=f"e.g. {example}")


def _is_curve_law(name: str) -> bool:
    from scalefit.curves import is_curve_law_name

    # by name: the curve fitting code (and scipy.signal) loads only for a curve fit
    if is_curve_law_name(name):
        return True
    from scalefit.laws.base import law_kind

    return law_kind(name) in ("curve", "joint_curve")


def _delegate_curves(**options):
    """Hand a curve-law fit to ``scalefit.cli.curves.fit_curves`` with every option of
    ``scalefit fit``: it applies each one or refuses it with the reason."""
    from scalefit.cli import curves as _curves

    fn = getattr(_curves, "fit_curves", None)
    if fn is None:
        raise UsageError(f"law {options['law']!r} is a loss-curve law, and this installation "
                         "has no command to fit loss curves", where="--law",
                         hint="use scalefit.curves.fit_curves from Python")
    return fn(**options)


def _refuse_curve_options(law: str, **given) -> None:
    """Options that only loss-curve fits use are an error for a final-loss law."""
    for option, value in given.items():
        if value is not None and value != []:
            raise UsageError("applies to loss-curve laws (multi_power, lr_annealing, "
                             f"ensemble, joint_*), not to {law!r}, a law of final values",
                             where=option, hint="drop it, or fit curve files with "
                                                "--law multi_power")


def _record_source(res, inputs, store, runs, read_opts: dict, data) -> None:
    """Where the saved fit finds its points again, and a note for each fitted run whose
    size was read from its name (a guess the user should see)."""
    from scalefit.store import sizes_from_names

    if not store and runs is None and not read_opts and inputs:
        from scalefit.fitting.dataset import data_source

        res.settings["data"] = data_source(list(inputs) if len(inputs) > 1 else inputs[0])
    used = set(getattr(res.dataset, "runs", None) or [])
    table = data.runs
    table = table[table["run"].isin(used)] if used else table
    notes = sizes_from_names(table)
    if len(notes) > 6:
        notes = notes[:6] + [f"... and {len(notes) - 6} more runs sized from their names"]
    res.diagnostics.setdefault("notes", []).extend(notes)


@app.command("fit")
def fit_cmd(
    inputs: list[str] | None = typer.Argument(None, help="Log files, folders or globs."),
    store: str | None = typer.Option(None, "--store", "-s", help="Fit the runs of this store."),
    runs: RunsOption = None,
    format: FormatOption = None,
    regex: RegexOption = None,
    loss_col: LossColOption = None,
    step_col: str | None = typer.Option(None, "--step-col", help="Step column of the logs."),
    lr_col: str | None = typer.Option(None, "--lr-col", help="Learning-rate column of the logs."),
    law: str = typer.Option("auto", "--law", "-l",
                            help="auto: the law and variant that backtest best (or the "
                                 "backtest-weighted average of the laws with an irreducible "
                                 "loss); or a law "
                                 "name (see `scalefit laws`), e.g. chinchilla."),
    metric: str | None = typer.Option(None, "--metric", "-m", help="Metric to fit."),
    bootstrap: int = typer.Option(DEFAULT_BOOTSTRAP, "--bootstrap", "-b",
                                  help="Run resamples for intervals (0: delta method only). "
                                       "Curve laws: > 0 gives leave-one-curve-out intervals "
                                       "(3+ curves), 0 none."),
    predict: list[str] | None = typer.Option(None, "--predict", "-p",
                                             help="Predict at N=7e10,D=1.4e12 (repeatable)."),
    optimal: list[str] | None = typer.Option(None, "--optimal",
                                             help="Compute-optimal N, D, loss at budget C."),
    holdout: str = typer.Option("auto", "--holdout",
                                help="Backtest that calibrates the intervals: size:K holds out "
                                     "every run of the K largest model sizes (size:1-3 rolls "
                                     "over K), largest:K the K largest-compute runs, auto "
                                     "chooses from the data, none skips it."),
    fix: list[str] | None = typer.Option(None, "--fix", help="Fix a parameter: P=V, or tie it "
                                         "to another: beta=alpha (repeatable)."),
    tie: list[str] | None = typer.Option(None, "--tie", help="Tie a parameter to another, e.g. "
                                         "beta=alpha (one exponent for N and D; repeatable)."),
    checkpoints: bool = typer.Option(False, "--checkpoints",
                                     help="Fit every checkpoint (tokens so far as D)."),
    include_excluded: bool = typer.Option(False, "--include-excluded",
                                          help="Also fit runs the data marks exclude."),
    objective: str = typer.Option("huber", "--objective",
                                  help="huber, mse, mse_linear or asymmetric."),
    seed: int | None = typer.Option(None, "--seed", help="Bootstrap seed (default 0)."),
    warmup: int | None = typer.Option(None, "--warmup", help="Curve laws: warmup steps before "
                                      "the first logged step, for logs that start after the "
                                      "warmup (the LR ramps from 0 to the first logged LR; "
                                      "default: the first logged step)."),
    from_step: int | None = typer.Option(None, "--from-step", help="Curve laws: fit only the "
                                         "points logged at this step or later."),
    max_points: int | None = typer.Option(None, "--max-points", help="Curve laws: logged "
                                          "points per curve the fit uses, evenly spaced "
                                          "(default 1000; 0: every point)."),
    method: str | None = typer.Option(None, "--method", help="Curve laws: fit method, paper "
                                      "(early-stopped Adam, the multi-power paper's recipe) "
                                      "or lbfgs (the minimum); default: the law's own."),
    n_params: list[str] | None = typer.Option(None, "--n", help="Joint curve laws across "
                                              "sizes: the model size N of the curves, e.g. "
                                              "25M (once for all, or once per file)."),
    best_lr: BestLROption = False,
    json_out: str | None = typer.Option(None, "--json", metavar="FILE",
                                        help="Write the fit artefact to FILE (JSON); "
                                             "`scalefit predict FILE` reads it."),
    plot: str | None = typer.Option(None, "--plot", help="Forecast figure path (PNG/SVG/PDF)."),
    no_plot: bool = typer.Option(False, "--no-plot", help="Do not write a figure."),
) -> None:
    """Fit a scaling law to training logs and print its parameters with intervals."""
    fixd, ties = parse_fix_and_ties(fix or [], tie or [])
    preds = [parse_assignments(p, "--predict") for p in predict or []]
    budgets = [_number(c, "--optimal") for c in optimal or []]
    if bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {bootstrap}", where="--bootstrap")
    sizes = [_number(n, "--n") for n in n_params or []]
    read_opts = read_options(format, regex, loss_col, step_col, lr_col)
    run_names = parse_runs(runs)
    metric = metric or loss_col  # the loss column named is the metric to fit
    if _is_curve_law(law):
        if best_lr:
            raise UsageError("--best-lr chooses among runs' final losses; a curve law fits "
                             "each run's whole curve", where="--best-lr",
                             hint="choose the runs with --runs instead")
        _delegate_curves(inputs=list(inputs or []), store=store, runs=run_names,
                         read_opts=read_opts, law=law, metric=metric,
                         bootstrap=bootstrap, predict=preds,
                         holdout=None if holdout.strip().lower() in ("auto", "none") else holdout,
                         fix=fixd, tie=ties, optimal=budgets, checkpoints=checkpoints,
                         include_excluded=include_excluded, objective=objective,
                         json_out=json_out, plot=plot, no_plot=no_plot, seed=seed,
                         warmup=warmup, from_step=from_step, method=method, N=sizes or None,
                         max_points=max_points)
        return
    _refuse_curve_options(law, **{"--warmup": warmup, "--from-step": from_step,
                                  "--max-points": max_points, "--method": method,
                                  "--n": sizes or None})
    seed = 0 if seed is None else seed
    holdout_spec: str | None = None if holdout.strip().lower() == "none" else holdout
    import scalefit

    loaded = load_data(inputs, store, **read_opts)
    data = select_runs(loaded, run_names)  # an unknown name fails here, listing the runs there
    fit_runs = None
    if best_lr:
        data, fit_runs = keep_best_lr(data, metric)
    if store and run_names is not None:
        # the store itself with the runs named, so that a saved fit records both
        data, fit_runs = loaded, fit_runs or run_names
    res = scalefit.fit(data, law, metric=metric, bootstrap=bootstrap, holdout=holdout_spec,
                       runs=fit_runs,
                       fix=fixd or None, tie=ties or None, objective=objective, checkpoints=checkpoints, seed=seed,
                       predict=preds or None, optimal=budgets or None,
                       include_excluded=include_excluded)
    # a fit given its runs records them itself, so the files can be named beside them
    _record_source(res, inputs, store, None if fit_runs else run_names, read_opts, data)
    typer.echo(str(res.summary()))
    if bootstrap:
        cal = (res.backtest or {}).get("calibration") or {}
        typer.echo(f"\nintervals: {int(round(100 * res.level))}% percentiles of {bootstrap} "
                   "run resamples (--bootstrap K to change, 0 for delta-method errors only)"
                   + ("; predictions also cover the backtest's errors" if cal else ""))
    if json_out:
        res.to_json(json_out)
        typer.echo(f"wrote {json_out}")
    if not no_plot:
        from scalefit.plot import forecast, save

        # named by the law asked for: `auto` keeps one name whichever law its backtest picks
        named = "auto" if law.strip() == "auto" else res.law_.name
        path = Path(plot) if plot else forecast_path(inputs, store, named, json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(forecast(res), path, dpi=150)
        typer.echo(f"wrote {path.resolve()}")


def forecast_path(inputs: list[str] | None, store: str | None, law: str,
                  json_out: str | None) -> Path:
    """Where `scalefit fit` writes its forecast figure without --plot: named by the data and
    the law (``<data-stem>_<law>_forecast.png``), beside the --json file when one is written,
    else in the current directory, so fits of different data do not overwrite each other."""
    return figure_path(inputs, store, f"{law}_forecast", json_out)


def figure_path(inputs: list[str] | None, store: str | None, what: str,
                json_out: str | None) -> Path:
    """``<data-stem>_<what>.png`` beside the --json file, else in the current directory: a
    command's default figure, named by its data."""
    import re

    src = Path(str(store or (inputs[0] if inputs else "fit")).rstrip("/\\"))
    if any(ch in src.name for ch in "*?["):  # a glob: name it by its folder
        src = src.parent
    stem = src.name or "fit"
    stem = Path(stem).stem if Path(stem).suffix else stem
    if inputs and len(inputs) > 1 and not store:
        stem += f"+{len(inputs) - 1}"
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "_", stem).strip("._") or "fit"  # globs, odd names
    folder = Path(json_out).parent if json_out else Path(".")
    return folder / f"{stem}_{what}.png"


@app.command("predict")
def predict_cmd(
    fit_json: str = typer.Argument(..., help="A fit artefact written by `scalefit fit --json`."),
    at: list[str] = typer.Option(None, "--at", help="Inputs, e.g. N=7e10,D=1.4e12 (repeatable)."),
    curve: str = typer.Option(None, "--curve", help="Curve fits: a log with step and lr "
                              "(any logging interval); predicts the loss at its logged steps."),
    schedule: str = typer.Option(None, "--schedule", help="Curve fits: a schedule spec, e.g. "
                                 "wsd:peak=3e-4,warmup=2160,steps=24000,decay=0.2,final=3e-5"),
    output: str = typer.Option(None, "--output", "-o", help="Curve fits: write the predicted "
                               "curve as CSV (step, lr, loss_pred[, loss])."),
    n_params: float = typer.Option(None, "--n", help="Curve fits across sizes: the model size N."),
    warmup: int = typer.Option(None, "--warmup", help="Curve fits: warmup steps of --curve."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
) -> None:
    """Predict from a saved fit, with bootstrap intervals when the fit has them."""
    from scalefit.errors import UsageError
    from scalefit.result import load_artefact, members_text

    res = load_artefact(fit_json)
    if getattr(res, "kind", None) == "curve":
        from scalefit.cli import curves as _curves

        _curves.predict_curve(res, curve_file=curve, schedule=schedule, out=output,
                              N=n_params, warmup=warmup)
        return
    if curve or schedule:
        raise UsageError("--curve and --schedule need a loss-curve fit (multi_power, "
                         "lr_annealing)", where=fit_json, hint="use --at N=...,D=... here")
    if not at:
        raise UsageError("nothing to predict", where="--at", hint="give --at N=7e10,D=1.4e12")
    records = []
    import warnings

    from scalefit.units import PredictionWarning

    with warnings.catch_warnings():  # printed with each prediction below instead
        warnings.simplefilter("ignore", PredictionWarning)
        for a in at:
            given = _used_inputs(res, parse_assignments(a, "--at"))
            records.extend(res.predict(**given).to_records())
    if as_json:
        typer.echo(json.dumps(records))
        return
    for r in records:
        ins = ", ".join(f"{k}={v:.4g}" for k, v in r["inputs"].items())
        iv = f"  [{r['lo']:.5g}, {r['hi']:.5g}]" if r.get("lo") is not None else ""
        typer.echo(f"{res.metric} at {ins}: {r['value']:.5g}{iv}")
        if r.get("members"):
            typer.echo(f"  {members_text(r['members'])}")
        for w in r.get("warnings") or []:
            typer.echo(f"  warning: {w}")
    if records and records[0].get("calibration"):
        typer.echo(f"interval: {records[0]['calibration']}")


def _used_inputs(res, given: dict[str, float]) -> dict[str, float]:
    """``--at`` values the law uses; one it does not use is dropped with a warning, or
    refused where it contradicts the others (C given apart from N and D, C != 6·N·D)."""
    law = getattr(res, "law_", None)
    names = list(getattr(law, "input_names", None) or [])
    if not names:
        return given
    fills = {"C": ("N" in given) != ("D" in given) and bool({"N", "D"} & set(names)),
             "N": "C" in names and "C" not in given and "D" in given,
             "D": "C" in names and "C" not in given and "N" in given}
    unused = [k for k in given if k not in names and not fills.get(k, False)]
    if not unused:
        return given
    if "C" in unused and "N" in given and "D" in given:
        c6 = 6.0 * given["N"] * given["D"]
        if abs(given["C"] - c6) > 0.01 * c6:
            raise UsageError(f"law {law.name!r} predicts from {', '.join(names)}, not C; "
                             f"C={given['C']:.4g} is not used and differs from 6·N·D = {c6:.4g}",
                             where="--at", hint=f"drop C, or give only {', '.join(names)}")
    if unknown := [k for k in unused if k not in ("N", "D", "C")]:
        raise UsageError(f"law {law.name!r} has inputs {', '.join(names)}; got {unknown[0]}",
                         where="--at")
    typer.echo(f"warning: law {law.name!r} predicts from {', '.join(names)}; "
               f"{', '.join(unused)} not used", err=True)
    return {k: v for k, v in given.items() if k not in unused}


_KIND_HEADINGS = {"final": "final-loss laws", "curve": "loss-curve laws",
                  "joint_curve": "joint loss-curve laws (across model sizes; fit with --n)",
                  "loss_to_loss": "loss-to-loss laws", "task": "task laws"}


@app.command("laws")
def laws_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the scaling laws scalefit can fit, grouped by kind."""
    from scalefit.laws import get_law
    from scalefit.laws.base import KINDS, law_kinds
    from scalefit.lawspec import prior_text

    rows = []
    for name, kind in law_kinds().items():
        try:
            law = get_law(name)
            d = law.describe() if hasattr(law, "describe") else {
                "name": name, "formula": law.formula, "source": law.source,
                "params": [{"name": p.name, "lower": p.lower, "upper": p.upper, "log": p.log,
                            "doc": p.doc} for p in law.params]}
        except Exception as exc:  # noqa: BLE001 (a law needing options is still listed)
            d = {"name": name, "formula": "", "error": str(exc)}
        d["kind"] = kind
        rows.append(d)
    rows.sort(key=lambda r: (KINDS.index(r["kind"]), r["name"]))
    if as_json:
        typer.echo(json.dumps(rows, default=_json_default))
        return
    w = max(len(r["name"]) for r in rows)
    for kind in KINDS:
        group = [r for r in rows if r["kind"] == kind]
        if not group:
            continue
        typer.echo(("" if kind == KINDS[0] else "\n") + _KIND_HEADINGS[kind] + ":")
        for r in group:
            params = ", ".join(p["name"] + (f" ~ {prior_text(p['prior'])}" if p.get("prior")
                                            else "") for p in r.get("params", []))
            typer.echo(f"  {r['name'].ljust(w)}  {r.get('formula', '')}"
                       + (f"   [{params}]" if params else ""))


def _json_default(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return str(x)


@app.command("compare")
def compare_cmd(
    inputs: list[str] | None = typer.Argument(None, help="Log files, folders or globs."),
    store: str | None = typer.Option(None, "--store", "-s", help="Use the runs of this store."),
    runs: RunsOption = None,
    format: FormatOption = None,
    regex: RegexOption = None,
    loss_col: LossColOption = None,
    law: list[str] = typer.Option(..., "--law", "-l", help="A law to compare (repeatable)."),
    holdout: str = typer.Option("auto", "--holdout",
                                help="size:K (every run of the K largest sizes; size:1-3 "
                                     "rolls), largest:K, largest:P%, or auto: by size on a grid "
                                     "of sizes x tokens, else largest:20%."),
    tie: list[str] | None = typer.Option(None, "--tie", help="Tie parameters in every law that "
                                         "has them, e.g. beta=alpha."),
    metric: str | None = typer.Option(None, "--metric", "-m", help="Metric to fit."),
    checkpoints: bool = typer.Option(False, "--checkpoints", help="Fit every checkpoint."),
    best_lr: BestLROption = False,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Rank laws by their error on the held-out largest runs."""
    from scalefit.fitting.backtest import compare

    data = load_data(inputs, store, **read_options(format, regex, loss_col))
    run_names = parse_runs(runs)
    if run_names is not None:
        data = select_runs(data, run_names)
    metric = metric or loss_col
    if best_lr:
        data = select_runs(*keep_best_lr(data, metric))
    ties = parse_ties(tie or [])
    out = compare(data, law, holdout, metric=metric, checkpoints=checkpoints, tie=ties or None)
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"backtest {out['holdout']}: laws ranked by mean relative error on held-out runs")
    if out.get("holdout_reason"):
        typer.echo(f"  ({out['holdout_reason']})")
    for i, r in enumerate(out["ranking"], 1):
        if r.get("mean_rel_error") is None:
            typer.echo(f"  -  {r['law']:<18} could not be fitted: {r.get('error')}")
            continue
        typer.echo(f"  {i}. {r['law']:<18} mean {100 * r['mean_rel_error']:.2f}%  "
                   f"max {100 * r['max_rel_error']:.2f}%  ({r['n_heldout']} points)")
        for f in r.get("folds", []):
            typer.echo(f"       {f['holdout']:<10} mean {100 * f['mean_rel_error']:.2f}%  "
                       f"max {100 * f['max_rel_error']:.2f}%  ({f['n_train']} points fitted, "
                       f"{f['n_heldout']} held out)")
    if out.get("reason"):
        typer.echo(f"chosen: {out['reason']}")
