"""`scalefit plot FIT.json --kind KIND -o OUT`: a figure of a saved fit (PNG, SVG or PDF)."""

from __future__ import annotations

from pathlib import Path

import typer

from scalefit.cli.app import app
from scalefit.errors import ScalefitError, UsageError

KINDS = ("forecast", "isoflop", "curves", "residuals", "bootstrap", "optimal")


def __getattr__(name: str):
    # the artefact helpers this module used to import at the top, still importable from here
    if name in ("attach_data", "recorded_paths"):
        from scalefit import artefacts

        return getattr(artefacts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_fit(path: str):
    """A FitResult, or a CurveFitResult for a loss-curve fit artefact."""
    from scalefit.result import load_artefact  # here: `scalefit fit` need not load it

    return load_artefact(path)


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
    from scalefit.artefacts import attach_data, recorded_paths

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
    recorded = (res.settings or {}).get("data") or {}
    if is_curve and not data and not store and "paths" in recorded:
        data = [str(p) for p in recorded_paths(res)]  # the curve files the fit was made on
    if is_curve and not data and (store or "store" in recorded):
        # a curve fit made on a store's runs: those runs again, from --store or the recorded one
        from scalefit.artefacts import rebuild_curves

        path = plot.save(plot.figure(res, "curves", curves=rebuild_curves(res, store=store)),
                         out, dpi=dpi)
        typer.echo(f"wrote {path.resolve()}")
        return
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
