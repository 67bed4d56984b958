"""`scalefit tasks`: two-step task-accuracy prediction (model ladders) from a store."""

from __future__ import annotations

import typer

from scalefit.cli.app import app
from scalefit.errors import UsageError


@app.command("tasks")
def tasks_cmd(
    store: str = typer.Option(..., "--store", help="Store folder holding the ladder runs."),
    task: list[str] = typer.Option(..., "--task", help="Task name (repeat for several)."),
    target: list[str] = typer.Option(..., "--target",
                                     help="Target model as N=...,D=...[,name=...] (repeatable)."),
    loss_metric: str = typer.Option("task/{task}/bpb", "--loss-metric",
                                    help="Task-loss metric; {task} is replaced by the task name."),
    acc_metric: str = typer.Option("task/{task}/acc", "--acc-metric",
                                   help="Accuracy metric; {task} is replaced by the task name."),
    runs: list[str] = typer.Option(None, "--runs", help="Runs to fit on (default: all)."),
    law: str = typer.Option("chinchilla", "--law", help="Final-loss law of step 1."),
    chance: float = typer.Option(0.25, "--chance", help="Accuracy of guessing (seeds step 2)."),
    bootstrap: int = typer.Option(200, "--bootstrap", "-b",
                                  help="Bootstrap resamples of the runs (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    json_out: str = typer.Option(None, "--json", metavar="FILE",
                                 help="Write the predictions to FILE (JSON)."),
    plot: str = typer.Option(None, "--plot",
                             help="Figure path; with several tasks, {task} in it is replaced "
                                  "(else the task name is appended)."),
) -> None:
    """Fit task loss from (N, D) and accuracy from task loss; predict each target."""
    import json
    from pathlib import Path

    from scalefit.store import Store
    from scalefit.tasks import predict_task

    if bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0, got {bootstrap}", where="--bootstrap")
    st = Store(store, create=False)
    results = []
    for name in task:
        res = predict_task(st, name, target, loss_metric=loss_metric, acc_metric=acc_metric,
                           runs=runs or None, law=law, n_boot=bootstrap, seed=seed, chance=chance)
        results.append(res)
        typer.echo(str(res))
        if plot:
            from scalefit.tasks_plot import plot_task

            p = Path(plot)
            if "{task}" in plot:
                p = Path(plot.format(task=name))
            elif len(task) > 1:
                p = p.with_name(f"{p.stem}_{name}{p.suffix}")
            plot_task(res).savefig(p, dpi=120, bbox_inches="tight")
    if json_out:  # like the artefacts of `fit --json` and `isoflop --json`: folders made, said
        out = Path(json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
