"""`scalefit plan --budget 1e21[,1e22...]`: model size, tokens, LR, batch, schedule and the
predicted loss for a compute budget, from your fits or published defaults."""

from __future__ import annotations

import typer

from scalefit.cli.app import app, console
from scalefit.errors import UsageError


def _quantity(text: str | None, option: str) -> float | None:
    from scalefit.units import parse_quantity

    return None if text is None else parse_quantity(text, option)


@app.command("plan")
def plan_cmd(
    budget: list[str] | None = typer.Option(
        None, "--budget", "-C", help="Compute budget(s) in FLOPs: 1e21, or 1e20,1e21,1e22 "
                                     "(repeatable). Lifetime FLOPs with --inference-tokens."),
    fit: str | None = typer.Option(None, "--fit", metavar="FIT.json",
                                   help="Your final-loss fit (chinchilla, overtrain or "
                                        "data_constrained); default: the published Chinchilla fit."),
    curve_fit: str | None = typer.Option(None, "--curve-fit", metavar="CURVE.json",
                                         help="Your loss-curve fit for the schedule; default: "
                                              "the published multi-power law."),
    lr_fit: list[str] | None = typer.Option(None, "--lr-fit", metavar="FIT.json",
                                            help="Your steplaw fit (output=lr and/or "
                                                 "output=batch; repeatable); default: Step Law."),
    unique_tokens: str | None = typer.Option(None, "--unique-tokens", "-U",
                                             help="Unique tokens available (e.g. 25B): "
                                                  "repeated epochs via the data-constrained law."),
    max_params: str | None = typer.Option(None, "--max-params", help="Largest model (e.g. 7B)."),
    inference_tokens: str | None = typer.Option(
        None, "--inference-tokens", "-T",
        help="Lifetime inference tokens T: minimise 6ND + 2NT (Sardana et al. 2024)."),
    target_loss: float | None = typer.Option(None, "--target-loss",
                                             help="Also plan the smallest budget reaching it."),
    schedule: str = typer.Option("wsd", "--schedule", help="wsd (decay chosen by the curve "
                                                           "law's search) or cosine."),
    json_out: str | None = typer.Option(None, "--json", metavar="FILE",
                                        help="Write the plan to FILE (docs/plan-json.md)."),
    plot: str | None = typer.Option(None, "--plot", metavar="FILE",
                                    help="Frontier and predicted curves (PNG/SVG/PDF)."),
) -> None:
    """Plan a run for a compute budget: N and D with intervals, peak LR and batch size, the
    schedule, the predicted final loss and loss curve."""
    from rich.table import Table

    from scalefit.planning import LABEL_PUBLISHED, plan, plot_plan

    budgets = [_quantity(b.strip(), "--budget") for item in (budget or [])
               for b in item.split(",") if b.strip()]
    if not budgets and target_loss is None:
        raise UsageError("give a compute budget", where="--budget",
                         hint="e.g. scalefit plan --budget 1e21, or --target-loss 2.0")
    res = plan(budgets, fit=fit, curve_fit=curve_fit, lr_fit=list(lr_fit or []) or None,
               unique_tokens=_quantity(unique_tokens, "--unique-tokens"),
               max_params=_quantity(max_params, "--max-params"),
               inference_tokens=_quantity(inference_tokens, "--inference-tokens"),
               target_loss=target_loss, schedule=schedule)

    out = console()
    lv = f"{100 * res.level:.0f}%"
    if res.target:
        t = res.target
        ci = t.get("budget_ci")
        out.print(f"target loss {t['loss']:.4g}: smallest {t['budget_kind']} {t['budget']:.3g}"
                  + (f"  [{_g(ci[0])}, {_g(ci[1])}] ({lv})" if ci else ""), markup=False)
        for n in t.get("notes", []):
            out.print(f"  note: {n}", markup=False)
    table = Table(title=f"run plan ({lv} intervals)", title_justify="left")
    for col in ("budget", "N", "D", "tok/param", "loss", "peak LR", "batch (tokens)", "steps",
                "schedule"):
        table.add_column(col, justify="left" if col == "schedule" else "right",
                         overflow="fold")
    for p in res.plans:
        table.add_row(_g(p.budget) + ("" if not p.inference_flops else " (lifetime)"),
                      _iv(p.N, p.N_ci), _iv(p.D, p.D_ci), f"{p.tokens_per_param:.1f}"
                      + ("" if p.epochs is None else f"\n{p.epochs:.2f} epochs"),
                      _iv(p.loss, p.loss_ci, "{:.4f}"), f"{p.lr:.3g}", _g(p.batch_tokens),
                      str(p.steps), p.schedule, end_section=True)
    out.print(table)
    for p in res.plans:
        head = f"{_g(p.budget)} ({p.constraint})"
        st, ls = p.curve.get("step", []), p.curve.get("loss", [])
        if st:
            pick = sorted({min(int(q * (len(st) - 1)), len(st) - 1) for q in (0, .25, .5, .75, 1)})
            out.print(f"{head}: predicted curve " + ", ".join(f"step {st[i]}: {ls[i]:.3f}"
                                                              for i in pick), markup=False)
        if p.inference_flops:
            out.print(f"  training {_g(p.train_flops)} + inference {_g(p.inference_flops)} FLOPs",
                      markup=False)
        for n in p.notes:
            out.print(f"  note: {n}", markup=False)
    out.print("sources:", markup=False)
    for k, s in res.sources.items():
        tag = "[bold yellow]published default[/]" if s["label"] == LABEL_PUBLISHED else "your fit"
        out.print(f"  {k:<6} {tag}: ", end="")
        out.print(s["source"], markup=False)
    if res.schedule.get("reason"):
        out.print(f"schedule: {res.schedule['reason']}", markup=False)
    if json_out:
        res.to_json(json_out)
        typer.echo(f"wrote {json_out}")
    if plot:
        plot_plan(res, plot)
        typer.echo(f"wrote {plot}")


def _g(x) -> str:
    return "-" if x is None else f"{float(x):.3g}"


def _iv(v, ci, fmt: str = "{:.3g}") -> str:
    s = fmt.format(v)
    if ci is None:
        return s
    return f"{s}\n[{fmt.format(ci[0])}, {fmt.format(ci[1])}]"
