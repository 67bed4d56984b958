"""`scalefit plot FIT.json --kind KIND -o OUT`: a figure of a saved fit (PNG, SVG or PDF)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from scalefit.cli.app import app
from scalefit.errors import InputError, ScalefitError, UsageError

KINDS = ("forecast", "isoflop", "curves", "residuals", "bootstrap", "optimal")


def recorded_data(result):
    """The data a fit artefact says it was made from (``settings.data``), ready to read.

    Raises a UsageError when the artefact does not say, an InputError when it is gone.
    """
    src = (result.settings or {}).get("data")
    if not src:
        raise UsageError("this fit artefact does not record where its data is (the fit was made "
                         "on data in memory)", where="--data",
                         hint="pass the logs with --data FILE or the store with --store DIR")
    if "store" in src:
        from scalefit.store import Store

        where = src["store"]
        if "://" not in where and not Path(where).is_dir():
            raise InputError("the store this fit was made from is not there any more",
                             where=where, hint="pass the store with --store DIR")
        return Store(where, create=False)
    paths = _recorded_paths(result)
    return paths if len(paths) > 1 else paths[0]


def _recorded_paths(result) -> list[str]:
    paths = list(((result.settings or {}).get("data") or {}).get("paths") or [])
    missing = [p for p in paths if not any(ch in p for ch in "*?[") and not Path(p).exists()]
    if missing or not paths:
        raise InputError("the logs this fit was made from are not there any more",
                         where=", ".join(missing) or "settings.data",
                         hint="pass the logs with --data FILE or the store with --store DIR")
    return paths


def attach_data(result, data=None, *, strict: bool = False) -> list[str]:
    """Give a fit read from JSON its data again (for the points on the figures).

    ``data``: logs or a store; by default the data the artefact records it was made from.
    Returns notes; with ``strict`` a data set that differs from the fitted one is an error.
    """
    from scalefit.fitting.dataset import build_dataset

    if data is None:
        data = recorded_data(result)
    opts = dict((result.settings or {}).get("data_options") or {})
    ds = build_dataset(data, result.law_, metric=result.metric,
                       checkpoints=bool(result.settings.get("checkpoints", False)),
                       include_excluded=bool(opts.get("include_excluded", False)),
                       runs=opts.get("runs"), inputs=opts.get("inputs"),
                       warmup_frac=float(opts.get("warmup_frac", 0.1)))
    notes = []
    if result.data_hash and ds.hash() != result.data_hash:
        msg = (f"the data given ({ds.n} points of {ds.metric!r}) differs from the data this fit "
               f"was made on ({result.n_points} points)")
        if strict:
            raise InputError(msg, where="--data", hint="pass the logs or store the fit came from")
        notes.append(msg)
    result.dataset = ds
    return notes


def load_fit(path: str):
    """A FitResult, or a CurveFitResult for a loss-curve fit artefact."""
    from scalefit.result import FitResult

    p = Path(path)
    if not p.exists():
        raise InputError("no such fit file", where=str(p))
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", where=str(p)) from None
    if not isinstance(d, dict):
        raise InputError("not a scalefit fit artefact (expected a JSON object)", where=str(p))
    if d.get("kind") == "curve":
        from scalefit.curves import CurveFitResult

        return CurveFitResult.from_dict(d)
    return FitResult.from_dict(d)


@app.command("plot")
def plot_cmd(
    fit_json: str = typer.Argument(..., help="A fit artefact written by `scalefit fit --json`."),
    kind: str | None = typer.Option(None, "--kind", "-k",
                                    help="forecast, isoflop, curves, residuals, bootstrap or "
                                         "optimal (default: forecast; curves for curve fits)."),
    out: str = typer.Option(..., "--out", "-o", help="Figure file: .png, .svg or .pdf."),
    data: list[str] | None = typer.Option(None, "--data", "-d",
                                          help="The logs the fit came from (for its points)."),
    store: str | None = typer.Option(None, "--store", "-s",
                                     help="The store the fit came from (for its points)."),
    dpi: int = typer.Option(150, "--dpi", help="Resolution of PNG output."),
) -> None:
    """Draw a figure of a saved fit."""
    from scalefit import plot

    if Path(out).suffix.lower() not in plot.FORMATS:
        raise UsageError(f"cannot write a figure as {Path(out).suffix or 'no suffix'!r}",
                         where="--out", hint="use .png, .svg or .pdf")
    res = load_fit(fit_json)
    is_curve = getattr(res, "kind", None) == "curve"
    kind = kind or ("curves" if is_curve else "forecast")
    if kind not in KINDS:
        raise UsageError(f"unknown figure kind {kind!r}", where="--kind",
                         hint=f"one of {', '.join(KINDS)}")
    if is_curve != (kind == "curves"):
        raise UsageError(f"--kind {kind} does not apply to a "
                         f"{'loss-curve' if is_curve else 'final-loss'} fit", where="--kind",
                         hint="curves for loss-curve fits; forecast, isoflop, residuals, "
                              "bootstrap or optimal for final-loss fits")
    if is_curve and not data and (res.settings or {}).get("data"):
        data = [str(p) for p in _recorded_paths(res)]  # the curve files the fit was made on
    source = None
    if store:
        from scalefit.store import Store

        source = Store(store, create=False)
    elif data:
        source = list(data) if len(data) > 1 else data[0]
    if source is not None and not is_curve:
        for note in attach_data(res, source):
            typer.echo(f"note: {note}", err=True)
    elif not is_curve and (res.settings or {}).get("data"):
        # the artefact records its data: its points go on the figure without --data
        try:
            notes = attach_data(res)
        except ScalefitError as exc:
            if kind in ("residuals", "isoflop"):
                raise
            notes = [f"{exc}; the figure shows the fit without its points"]
        for note in notes:
            typer.echo(f"note: {note}", err=True)
    elif kind in ("residuals", "isoflop", "curves") and not (is_curve and data):
        raise UsageError(f"the {kind} figure needs the fit's data", where="--data",
                         hint="pass the logs with --data FILE or the store with --store DIR")
    if kind == "isoflop":
        ax = plot.isoflop(res)
    elif kind == "curves":
        ax = plot.figure(res, kind, data=list(data or []))
    else:
        ax = plot.figure(res, kind)
    path = plot.save(ax, out, dpi=dpi)
    typer.echo(f"wrote {path.resolve()}")
