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
    plan_budget: list[str] | None = typer.Option(
        None, "--plan-budget", help="Add a run plan for these budgets (FLOPs; repeatable), "
                                    "from the first Chinchilla-form fit or published defaults."),
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
    plan = _plan(plan_budget, fits) if plan_budget else None
    path = build_report(store, fits, out, title=title, figure_format=figure_format, plan=plan)
    typer.echo(f"wrote {path.resolve()}")


def _plan(budgets: list[str], fits: list):
    from scalefit.planning import plan
    from scalefit.result import load_artefact
    from scalefit.units import parse_quantity

    cs = [parse_quantity(b.strip(), "--plan-budget") for item in budgets
          for b in item.split(",") if b.strip()]
    loaded = [load_artefact(f) if isinstance(f, str) else f for f in fits]
    own = next((f for f in loaded if getattr(f, "law", "") in ("chinchilla", "overtrain",
                                                                 "data_constrained")), None)
    return plan(cs, fit=own)
