"""`scalefit report --store DIR [--fit FIT.json]... -o report.html|report.md`."""

from __future__ import annotations

import typer

from scalefit.cli.app import app


@app.command("report")
def report_cmd(
    store: str | None = typer.Option(None, "--store", "-s", help="The store to report on."),
    fit: list[str] | None = typer.Option(None, "--fit", "-f",
                                         help="A fit artefact to include (repeatable)."),
    law: list[str] | None = typer.Option(None, "--law", "-l",
                                         help="Also fit this law to the store (repeatable)."),
    bootstrap: int = typer.Option(200, "--bootstrap", "-b",
                                  help="Run resamples for fits made with --law."),
    holdout: str | None = typer.Option(None, "--holdout",
                                       help="Backtest for fits made with --law: largest:K."),
    out: str = typer.Option("report.html", "--out", "-o",
                            help="report.html (self-contained) or report.md (figures beside)."),
    title: str | None = typer.Option(None, "--title", help="Report title."),
    figure_format: str = typer.Option("png", "--figure-format", help="png or svg."),
) -> None:
    """Write one HTML (or Markdown) report of a store and its fits."""
    from scalefit.errors import UsageError
    from scalefit.report import build_report

    fits: list = list(fit or [])
    if law:
        if not store:
            raise UsageError("--law fits the runs of a store; give --store DIR", where="--law")
        import scalefit
        from scalefit.store import Store

        st = Store(store, create=False)
        for name in law:
            fits.append(scalefit.fit(st, name, bootstrap=bootstrap, holdout=holdout))
    path = build_report(store, fits, out, title=title, figure_format=figure_format)
    typer.echo(f"wrote {path.resolve()}")
