"""`scalefit ingest` and `scalefit runs`."""

from __future__ import annotations

import json
import math

import typer

from scalefit.cli.app import app, console
from scalefit.errors import UsageError


def _number(text: str | None, option: str) -> float | None:
    if text is None:
        return None
    from scalefit.io.numbers import as_number

    v = as_number(text)
    if v is None or v <= 0:
        raise UsageError(f"expected a positive number such as 1.9e8 or 190M, got {text!r}",
                         where=option)
    return v


@app.command("ingest")
def ingest(
    paths: list[str] = typer.Argument(..., help="Log files, folders or globs."),
    store: str = typer.Option(..., "--store", "-s", help="Store folder (or fsspec URL)."),
    format: str | None = typer.Option(None, "--format", "-f",
                                         help="Log format (default: sniffed per file)."),
    run: str | None = typer.Option(None, "--run", help="Run name (default: file stem)."),
    params: str | None = typer.Option(None, "--params", help="Non-embedding params N."),
    tokens: str | None = typer.Option(None, "--tokens", help="Training tokens D."),
    flops: str | None = typer.Option(None, "--flops", help="Training FLOPs C."),
    step_col: str | None = typer.Option(None, "--step-col", help="Step column."),
    loss_col: str | None = typer.Option(None, "--loss-col", help="Loss column."),
    tokens_col: str | None = typer.Option(None, "--tokens-col", help="Tokens column."),
    lr_col: str | None = typer.Option(None, "--lr-col", help="Learning-rate column."),
    flops_col: str | None = typer.Option(None, "--flops-col", help="FLOPs column."),
    params_col: str | None = typer.Option(None, "--params-col",
                                             help="Parameter-count column (final-loss tables)."),
    run_col: str | None = typer.Option(None, "--run-col", help="Run-name column."),
    metric_col: str | None = typer.Option(None, "--metric-col", help="Metric column (long)."),
    value_col: str | None = typer.Option(None, "--value-col", help="Value column (long)."),
    metric: list[str] | None = typer.Option(None, "--metric",
                                               help="Keep only this metric (repeatable)."),
    regex: str | None = typer.Option(None, "--regex",
                                        help="Line regex with named groups (step, metric names)."),
    preset: str | None = typer.Option(None, "--preset", help="Stdout preset: nanogpt, megatron."),
    delimiter: str | None = typer.Option(None, "--delimiter", help="CSV delimiter."),
    as_json: bool = typer.Option(False, "--json", help="Print the ingest report as JSON."),
) -> None:
    """Read training logs and add them to a store (all files are read before anything is written)."""
    from rich.console import Console

    from scalefit.io import read_logs
    from scalefit.store import Store, sizes_from_names

    options = dict(step_col=step_col, loss_col=loss_col, tokens_col=tokens_col, lr_col=lr_col,
                   flops_col=flops_col, params_col=params_col, run_col=run_col,
                   metric_col=metric_col, value_col=value_col, metrics=metric or None,
                   regex=regex, preset=preset, delimiter=delimiter,
                   tokens=_number(tokens, "--tokens"), flops=_number(flops, "--flops"))
    options = {k: v for k, v in options.items() if v is not None}
    data = read_logs(paths, format=format, run=run, params=_number(params, "--params"), **options)
    st = Store(store)
    report = st.ingest(data)
    if as_json:
        typer.echo(json.dumps({
            "runs_read": data.runs["run"].tolist(), "points_read": len(data.points),
            "runs_added": report.runs_added, "runs_updated": report.runs_updated,
            "points_added": report.points_added, "points_replaced": report.points_replaced,
            "changed": report.changed, "notes": data.notes,
            "files_read": [{"path": p, "format": f} for p, f in data.files],
            "skipped": [{"path": p, "reason": r} for p, r in data.skipped],
            "sizes_from_names": sizes_from_names(data.runs),
        }, ensure_ascii=False))
        return
    con = Console(soft_wrap=True)
    con.print(data.read_summary(), markup=False, highlight=False)
    con.print(f"{len(data.runs)} run(s), {len(data.points)} point(s)", markup=False)
    named = sizes_from_names(data.runs)
    if len(named) > 6:  # a ladder of 20 runs named by size: a few lines, not a wall
        named = named[:6] + [f"... and {len(named) - 6} more runs sized from their names "
                             f"(`scalefit runs --store {store}` lists each)"]
    for n in data.notes + named:
        con.print(f"  note: {n}", style="yellow", markup=False)
    if report.changed:
        con.print(f"store {store}: {len(report.runs_added)} run(s) added, "
                  f"{len(report.runs_updated)} updated, {report.points_added} point(s) added, "
                  f"{report.points_replaced} replaced", markup=False)
    else:
        con.print(f"store {store}: unchanged (already ingested)", markup=False)


@app.command("runs")
def runs(
    store: str = typer.Option(..., "--store", "-s", help="Store folder (or fsspec URL)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of runs."),
) -> None:
    """List the runs in a store with their size, budget, point counts and metrics."""
    from scalefit.store import Store

    st = Store(store, create=False)
    summ = st.summary()
    if as_json:
        typer.echo(json.dumps(runs_records(summ), ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"{len(summ)} run(s) in {store}")
    for col, just in (("run", "left"), ("params", "right"), ("tokens", "right"),
                      ("flops", "right"), ("points", "right"), ("metrics", "left")):
        table.add_column(col, justify=just, no_wrap=True, overflow="ellipsis",
                         max_width=48 if col == "metrics" else None)
    for r in summ.itertuples(index=False):
        mets = list(r.metrics)
        shown = ", ".join(mets) if len(mets) <= 2 else f"{len(mets)}: {', '.join(mets[:2])}, ..."
        table.add_row(str(r.run), _fmt(r.params), _fmt(r.tokens_total), _fmt(r.flops_total),
                      str(r.n_points), shown)
    console().print(table)
    from scalefit.store import sizes_from_names

    for n in sizes_from_names(summ):
        console().print(f"note: {n}", markup=False, highlight=False)


def runs_records(summ) -> list[dict]:
    """The runs summary as JSON-ready dicts (NaN -> null, meta/tags parsed)."""
    out = []
    for rec in summ.to_dict(orient="records"):
        d = {}
        for k, v in rec.items():
            if k in ("meta", "tags", "schedule") and isinstance(v, str):
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            if _missing(v):
                v = None
            elif hasattr(v, "item"):
                v = v.item()
            d[k] = v
        d["n_points"] = int(d.get("n_points") or 0)
        d["metrics"] = list(d.get("metrics") or [])
        out.append(d)
    return out


def _missing(v) -> bool:
    # pandas' NA is not a float; it has no format and no truth value
    return v is None or type(v).__name__ == "NAType" or (isinstance(v, float) and math.isnan(v))


def _fmt(v) -> str:
    return "-" if _missing(v) else f"{v:.3g}"
