"""Loss-curve commands: fitting (called by `scalefit fit --law multi_power`), prediction on a
curve file or a schedule spec, and `scalefit schedule-search`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from scalefit.cli.app import app
from scalefit.errors import InputError, UsageError

if TYPE_CHECKING:
    from scalefit.curves import CurveFitResult

__all__ = ["fit_curves", "predict_curve", "schedule_search_cmd"]


#: ``scalefit fit --objective`` for curve laws: (loss, residual) of scalefit.curves.fit_curves
CURVE_OBJECTIVES = {"huber": ("huber", "log"), "mse": ("mse", "log"),
                    "mse_linear": ("mse", "abs")}


def _refuse(option: str, why: str, hint: str | None = None) -> UsageError:
    return UsageError(why, where=option, hint=hint)


def fit_curves(inputs, law: str = "multi_power", json_out: str | None = None, *,
               store: str | None = None, metric: str | None = None, bootstrap: int = 0,
               predict=None, holdout=None, fix=None, tie=None, optimal=None,
               checkpoints: bool = False, include_excluded: bool = False,
               objective: str = "huber", plot: str | None = None,
               no_plot: bool = True, seed: int | None = None, warmup: int | None = None,
               from_step: int | None = None, method: str | None = None,
               N: float | Sequence[float] | None = None, runs: Sequence[str] | None = None,
               read_opts: dict | None = None, max_points: int | None = None,
               echo=typer.echo):
    """Fit a curve law jointly to the loss curves of ``inputs`` (log files, folders, globs)
    or of a ``store``: one curve per run with its logged LR, read as every other fit reads
    its data (``read_opts``: format, regex, loss_col, step_col, lr_col; ``runs`` picks runs).

    Every option of ``scalefit fit`` arrives here for a curve law, and is applied or refused
    with the reason: a final-loss option silently ignored would fit something else than asked.
    """
    from scalefit.curves import CurveData
    from scalefit.curves import fit_curves as _fit

    if fix:
        raise _refuse("--fix", "is not supported for curve laws yet")
    if tie:
        raise _refuse("--tie", "applies to final-loss laws; the curve laws have no parameters "
                      "to tie (each is its own term)")
    if holdout or predict:
        opt = "--holdout" if holdout else "--predict"
        raise _refuse(opt, "applies to final-loss laws",
                      hint="to check a curve fit on another schedule, save it with --json and "
                           "run `scalefit predict FIT.json --curve FILE`")
    if optimal:
        raise _refuse("--optimal", "applies to final-loss laws of N and D; a loss-curve law "
                      "has no compute-optimal allocation",
                      hint="to find the best schedule, run `scalefit schedule-search FIT.json`")
    if checkpoints:
        raise _refuse("--checkpoints", "applies to final-loss laws; a loss-curve law fits "
                      "every logged step")
    if include_excluded:
        raise _refuse("--include-excluded", "applies to final-loss laws fitted to runs a data "
                      "set can mark exclude; a curve law fits every curve file given",
                      hint="leave out a curve by not passing its file")
    if seed is not None:
        raise _refuse("--seed", "applies to the bootstrap of final-loss laws; a curve fit draws "
                      "nothing at random (its intervals leave one curve out)")
    if objective not in CURVE_OBJECTIVES:
        raise _refuse("--objective", f"{objective!r} is not available for curve laws",
                      hint=f"use one of {', '.join(CURVE_OBJECTIVES)}")
    if method is not None and method not in ("paper", "lbfgs"):
        raise _refuse("--method", f"{method!r} is not a curve fit method",
                      hint="paper (the multi-power paper's early-stopped Adam) or lbfgs "
                           "(the minimum of the objective)")
    if warmup is not None and warmup < 0:
        raise _refuse("--warmup", f"must be >= 0, got {warmup}")
    if from_step is not None and from_step < 0:
        raise _refuse("--from-step", f"must be >= 0, got {from_step}")
    if max_points is not None and (max_points < 0 or 0 < max_points < 10):
        raise _refuse("--max-points", f"must be 0 (every point) or at least 10, got "
                      f"{max_points}")
    curves, notes, data_rec = _read_curves(inputs, store, runs, read_opts or {}, law, N,
                                           warmup, metric)
    notes += [] if warmup is not None else _warmup_notes(curves)
    if from_step is not None:
        curves = _from_step(curves, from_step)
    loss, residual = CURVE_OBJECTIVES[objective]
    kw = {} if method is None else {"method": method}
    if max_points is not None:
        kw["max_points"] = max_points or None
    # --bootstrap > 0 asks for intervals: for curve laws, leave-one-curve-out refits (a note
    # says when there are too few curves)
    data = CurveData(curves)
    # a long curve or the jackknife can take a while: say what runs, with the time it has taken
    # (a spinner on a terminal; nothing in a pipe or a log)
    from contextlib import nullcontext

    from scalefit.cli.app import console

    err = console(stderr=True)
    with err.status(f"fitting {law} to {len(curves)} curve(s), {data.n_points:,} points",
                    spinner="dots") if err.is_terminal else nullcontext():
        res = _fit(data, law, intervals=bootstrap > 0, loss=loss, residual=residual, **kw)
    res.diagnostics.setdefault("notes", [])[:0] = notes
    # where the curves can be read again (figures and reports of the saved fit)
    res.settings["data"] = data_rec
    if metric:
        res.settings["metric"] = metric
    res.settings["data_options"] = {"warmup": warmup, "from_step": from_step,
                                    "metric": metric}
    echo(res.summary())
    if json_out:
        res.to_json(json_out)
        echo(f"wrote {json_out}")
    if plot and not no_plot:
        import matplotlib.pyplot as plt

        from scalefit.curves.plot import plot_curves

        fig = plot_curves(res, curves, path=plot)
        plt.close(fig)
        echo(f"wrote {plot}")
    return res


def _read_curves(inputs, store, runs, read_opts: dict, law: str, N, warmup, metric):
    """The curves to fit, the notes on runs left out, and where the data can be read again:
    ``{"paths": [...]}`` when each curve is one file of its own, else the store and runs."""
    from scalefit.cli.data import load_data, select_runs
    from scalefit.curves.data import curves_from_logs

    if not store and not inputs:
        raise UsageError("give log files, folders or a store with --store DIR",
                         where="INPUT", hint="scalefit fit CURVE.csv --law multi_power")
    data = select_runs(load_data(inputs, store, **read_opts), runs)
    runs = None  # selected
    names = data.runs["run"].tolist() if runs is None else list(runs)
    sizes = _sizes(law, N, len(names))
    named: list[str] = []
    if all(n is None for n in sizes) and _is_joint(law) and N is None:
        sizes = _run_sizes(data, names)
        if sizes[0] is not None:
            from scalefit.store import sizes_from_names

            named = sizes_from_names(data.runs[data.runs["run"].isin(names)])
    curves, notes = curves_from_logs(data, runs=runs, metric=metric, warmup=warmup, N=sizes)
    if sizes and sizes[0] is not None and N is None:
        notes = [*named, *notes]
    srcs = [c.meta.get("path") for c in curves]
    if all(isinstance(p, str) and Path(p).is_file() for p in srcs) and len(set(srcs)) == len(
            srcs) and not store:
        rec = {"paths": [str(Path(p).resolve()) for p in srcs]}
    else:
        rec = {"runs": [c.name for c in curves]}
        if store and "://" not in str(store):
            rec["store"] = str(Path(store).resolve())
    if len(notes) > 8:
        notes = notes[:8] + [f"... and {len(notes) - 8} more runs left out"]
    return curves, notes, rec


def _is_joint(law: str) -> bool:
    base = str(law).partition(":")[0]
    return base == "joint" or base.startswith("joint_")


def _run_sizes(data, names: list[str]) -> list[float | None]:
    """Each run's model size as the data records it (config, column or run name)."""
    runs = data.runs.set_index("run")
    out = []
    for n in names:
        v = runs["params"].get(n) if "params" in runs.columns else None
        out.append(float(v) if v is not None and v == v else None)
    return out if all(v is not None for v in out) else [None] * len(names)


def _sizes(law: str, N, n_files: int) -> list[float | None]:
    """The model size of each curve: ``--n`` once for all, or once per run; only the
    joint laws across sizes use it."""
    if N is None or (isinstance(N, (list, tuple)) and not N):
        return [None] * n_files
    vals = [float(x) for x in (N if isinstance(N, (list, tuple)) else [N])]
    base = str(law).partition(":")[0]
    if not (base == "joint" or base.startswith("joint_")):
        raise _refuse("--n", f"applies to the joint laws across model sizes (joint_multi_power, "
                      f"joint_lr_annealing); {base!r} fits the curves of one model",
                      hint="drop --n, or fit --law joint_multi_power with --n per file")
    if len(vals) == 1:
        return vals * n_files
    if len(vals) != n_files:
        raise _refuse("--n", f"given {len(vals)} times for {n_files} runs",
                      hint="give it once (every curve the same size) or once per run, in the "
                           "order of the runs")
    return vals


def _warmup_notes(curves) -> list[str]:
    """The warmup assumed for logs that start well after step 0 (no --warmup given)."""
    out = []
    for c in curves:
        if c.steps.size < 2:
            continue
        first = int(c.steps[0])
        interval = float(np.median(np.diff(c.steps)))
        if first > 2 * interval:
            out.append(f"{c.name}: the log starts at step {first}; assumed a linear warmup "
                       f"from LR 0 over steps 0-{first} (pass --warmup STEPS if the warmup "
                       "ended earlier)")
    return out


def _from_step(curves, step: int):
    out = []
    for c in curves:
        keep = c.steps >= step
        if keep.sum() < 3:
            raise _refuse("--from-step", f"step {step} leaves {int(keep.sum())} point(s) of "
                          f"{c.name} (logged up to step {int(c.steps.max())}); a curve needs 3",
                          hint="choose an earlier step")
        out.append(c.subset(keep))
    return out


def predict_curve(fit_json: str | CurveFitResult, curve_file: str | None = None,
                  schedule: str | None = None,
                  out: str | None = None, *, N: float | None = None, warmup: int | None = None,
                  every: int | None = None, echo=typer.echo):
    """Predict from a curve fit (its artefact path, or the result read already) the loss at
    every logged step of ``curve_file`` (its lr column, any logging
    interval) or at every ``every``-th step of a ``schedule`` spec; write ``out`` as CSV with
    columns step, lr, loss_pred (plus loss when the file has one)."""
    from scalefit.curves import CurveFitResult, read_curve
    from scalefit.curves.data import curve_errors
    from scalefit.schedules import parse_schedule

    res = fit_json if isinstance(fit_json, CurveFitResult) else CurveFitResult.from_json(fit_json)
    if (curve_file is None) == (schedule is None):
        raise UsageError("give exactly one of --curve FILE or --schedule SPEC",
                         where="predict")
    if curve_file is not None:
        c = read_curve(curve_file, warmup=warmup, N=N, need_loss=False)
        df = res.predict(c, N=N)
    else:
        sch = parse_schedule(schedule)
        T = sch.total_steps
        k = every or max(1, T // 1000)
        steps = sorted(set(range(k, T, k)) | {T - 1})
        df = res.predict(sch, steps=steps, N=N)
    if (res.settings or {}).get("skip_warmup", True):
        # the laws describe the loss once the LR has reached its peak (the fit left the warmup
        # out): their values before that are extrapolations to a tiny S1 (tens of nats)
        eta = c.eta if curve_file is not None else sch.lr(np.arange(sch.total_steps))
        first = int(np.argmax(eta >= eta.max() * (1 - 1e-9)))
        warm = df["step"].to_numpy() < first
        if warm.any():
            cols = [k for k in ("loss_pred", "loss_lo", "loss_hi") if k in df.columns]
            df.loc[warm, cols] = np.nan
            echo(f"note: {int(warm.sum())} row(s) before step {first} (the warmup) are left "
                 "without a prediction: the law describes the loss after the warmup")
    if out:
        p = Path(out)
        p.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(p, index=False)
        echo(f"wrote {out} ({len(df)} rows)")
    last = df.iloc[-1]
    iv = (f" [{last['loss_lo']:.5g}, {last['loss_hi']:.5g}] ({round(100 * res.level)}%, leave "
          "one curve out)" if "loss_lo" in df.columns else "")
    echo(f"predicted loss at step {int(last['step'])}: {last['loss_pred']:.5g}{iv}")
    if "loss" in df.columns:
        ok = df["loss_pred"].notna().to_numpy()
        e = curve_errors(df["loss"].to_numpy()[ok], df["loss_pred"].to_numpy()[ok])
        echo(f"relative error: mean {100 * e['mean_rel']:.3f}%, worst {100 * e['max_rel']:.3f}%")
    return df


@app.command("schedule-search")
def schedule_search_cmd(
    fit_json: str = typer.Argument(..., help="A curve fit written by `scalefit fit --json`."),
    family: str = typer.Option("wsd", "--family", help="wsd (grid) or free (monotone)."),
    steps: int = typer.Option(..., "--steps", help="Total training steps T."),
    peak: float | None = typer.Option(None, "--peak", help="Peak LR (default: the fit's)."),
    warmup: int | None = typer.Option(None, "--warmup", help="Warmup steps (default: the fit's)."),
    n: float | None = typer.Option(None, "--n", help="Model size N (joint fits)."),
    top: int = typer.Option(5, "--top", help="Rows of the grid to print."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find the schedule a fitted curve law predicts to reach the lowest final loss."""
    from scalefit.curves import CurveFitResult
    from scalefit.fitting.schedule_search import search_free_form, search_wsd

    res = fit_json if isinstance(fit_json, CurveFitResult) else CurveFitResult.from_json(fit_json)
    pk, wu = _fit_schedule_defaults(res)
    peak = peak if peak is not None else pk
    warmup = warmup if warmup is not None else wu
    if peak is None:
        raise UsageError("the fit records no schedule to take the peak LR from", where="--peak",
                         hint="pass --peak")
    if steps <= 0:
        raise UsageError("--steps must be positive", where="--steps")
    if family == "wsd":
        rows = search_wsd(res, steps=steps, peak=peak, warmup=warmup or 0, N=n)
        if as_json:
            typer.echo(json.dumps(rows[:top]))
            return
        typer.echo(f"predicted final loss at step {steps - 1}, best first:")
        for r in rows[:top]:
            typer.echo(f"{r['loss']:.5f}  {r['spec']}")
    elif family in ("free", "monotone"):
        sch, loss = search_free_form(res, steps=steps, peak=peak, warmup=warmup or 0, N=n)
        if as_json:
            typer.echo(json.dumps({"loss": loss, "schedule": sch.to_dict()}))
            return
        lr = sch.lr()
        typer.echo(f"predicted final loss at step {steps - 1}:")
        typer.echo(f"{loss:.5f}  free-form monotone schedule; LR at 50/80/90/100% of the "
                   f"steps: " + ", ".join(f"{lr[int(q * (steps - 1))]:.3g}"
                                          for q in (0.5, 0.8, 0.9, 1.0)))
    else:
        raise UsageError(f"unknown family {family!r}", where="--family", hint="wsd or free")


def _fit_schedule_defaults(res):
    from scalefit.schedules import parse_schedule

    for c in res.curves:
        if c.get("schedule"):
            try:
                s = parse_schedule(c["schedule"])
            except Exception:  # noqa: BLE001 (a stored schedule that no longer parses)
                continue
            return float(s.options.get("peak", s.lr().max())), int(s.options.get("warmup", 0))
    return None, None


def _check_exists(path: str) -> None:
    if not Path(path).exists():
        raise InputError("file not found", where=path)

