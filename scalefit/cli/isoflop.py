"""`scalefit isoflop LOGS... | --store DIR`: compute-optimal model size from IsoFLOP profiles."""

from __future__ import annotations

from pathlib import Path

import typer

from scalefit.cli.app import app, console
from scalefit.cli.data import FormatOption, LossColOption, RegexOption, RunsOption
from scalefit.errors import UsageError


@app.command("isoflop")
def isoflop_cmd(
    inputs: list[str] | None = typer.Argument(None, help="Log files, folders or globs."),
    store: str | None = typer.Option(None, "--store", "-s", help="Use the runs of this store."),
    runs: RunsOption = None,
    format: FormatOption = None,
    regex: RegexOption = None,
    loss_col: LossColOption = None,
    metric: str | None = typer.Option(None, "--metric", "-m", help="Metric (final value per run)."),
    method: str = typer.Option("parabola", "--method",
                               help="parabola (Chinchilla approach 2) or akima (Porian et al. "
                                    "2024: interpolation, median over noisy redraws)."),
    window: float = typer.Option(0.1, "--window",
                                 help="parabola: relative excess loss that is a profile's bottom."),
    bootstrap: int = typer.Option(0, "--bootstrap", "-b",
                                  help="Resample runs within budgets for standard errors."),
    seed: int = typer.Option(0, "--seed"),
    json_out: str | None = typer.Option(None, "--json", metavar="FILE",
                                        help="Write the result artefact to FILE (JSON)."),
    plot: str | None = typer.Option(None, "--plot", help="Figure path (default "
                                    "<data>_isoflop.png, beside --json when given)."),
    no_plot: bool = typer.Option(False, "--no-plot", help="Do not write a figure."),
) -> None:
    """Fit N_opt = k·C^a (and D_opt) to the loss minima of runs grouped by compute budget."""
    from rich.table import Table

    from scalefit import plot as plots
    from scalefit.artefacts import data_origin
    from scalefit.cli.data import load_data, parse_runs, read_options, select_runs
    from scalefit.fitting.dataset import data_source
    from scalefit.fitting.isoflop import isoflop

    if method not in ("parabola", "akima"):
        raise UsageError(f"unknown --method {method!r}", where="--method",
                         hint="parabola or akima")
    if bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {bootstrap}", where="--bootstrap")
    if store and inputs:
        raise UsageError("give log files or --store, not both", where="INPUT")
    from scalefit.cli.fit import figure_path

    path = None if no_plot else Path(plot or figure_path(inputs, store, "isoflop", json_out))
    if path is not None and path.suffix.lower() not in plots.FORMATS:
        raise UsageError(f"cannot write a figure as {path.suffix or 'no suffix'!r}",
                         where="--plot", hint="use .png, .svg or .pdf")
    data = load_data(inputs, store, **read_options(format, regex, loss_col))
    run_names = parse_runs(runs)
    if run_names is not None:
        data = select_runs(data, run_names)
    metric = metric or loss_col
    C, N, y, _, metric_used = plots._final_arrays(data, metric)
    res = isoflop(C=C, N=N, loss=y, method=method, window=window, bootstrap=bootstrap, seed=seed)
    # the artefact says where the runs came from, like a fit's
    res.metric = metric_used
    given = data if store else list(inputs)  # the files as named, not the logs read from them
    res.settings["data"] = data_source(given)
    res.data_origin = data_origin(given)
    typer.echo(res.summary())
    t = Table(title=f"minima of final {metric_used} per budget")
    for col in ("budget C", "N_opt", "D_opt", "loss", "runs", "used"):
        t.add_column(col, justify="right")
    for _, r in res.minima.iterrows():
        t.add_row(f"{r['C']:.3g}", f"{r['N_opt']:.4g}", f"{r['D_opt']:.4g}", f"{r['loss']:.4g}",
                  str(int(r["n_points"])), "yes" if r["used"] else "no")
    console().print(t)
    if json_out:
        res.to_json(json_out)
        typer.echo(f"wrote {json_out}")
    if path is not None:
        import matplotlib.pyplot as plt

        ax = plots.isoflop(data, result=res, metric=metric)
        plots.save(ax, path)
        plt.close("all")
        typer.echo(f"wrote {path}")
