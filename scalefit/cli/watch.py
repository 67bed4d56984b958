"""`scalefit watch LOG --schedule SPEC`: forecast a run's final loss while it trains."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from scalefit.cli.app import app, console
from scalefit.errors import UsageError

_EPILOG = ("Exit status: 0 on track (or Ctrl-C, after a last summary line); 2 bad input; "
           "3 off track (--once only: the last points lie above the forecast band); "
           "4 the forecast final loss is above --fail-above.")


@app.command("watch", epilog=_EPILOG)
def watch_cmd(
    log: str = typer.Argument(..., help="The log the run is writing (any format scalefit reads)."),
    schedule: str | None = typer.Option(None, "--schedule", "-S",
                                        help="The run's LR schedule, e.g. cosine:peak=3e-4,"
                                             "warmup=2000,steps=100000 (its steps are the run's "
                                             "end; default: a ladder run's rung.json beside "
                                             "the log)."),
    metric: str | None = typer.Option(None, "--metric", "-m",
                                      help="Loss to follow (default: train/loss, loss or "
                                           "val/loss, the first present)."),
    format: str | None = typer.Option(None, "--format", help="Log format when sniffing cannot tell."),
    interval: float = typer.Option(30.0, "--interval", "-i", min=0.0,
                                   help="Seconds between polls of the log."),
    once: bool = typer.Option(False, "--once",
                              help="One pass: read, forecast, print and exit (for cron)."),
    law: list[str] | None = typer.Option(None, "--law",
                                         help="Candidate law (repeatable; default both "
                                              "lr_annealing and multi_power)."),
    level: float = typer.Option(0.95, "--level", help="Coverage of the forecast interval."),
    fail_above: float | None = typer.Option(None, "--fail-above", metavar="LOSS",
                                            help="Exit with status 4 once the forecast final "
                                                 "loss is above LOSS."),
    plot: str | None = typer.Option(None, "--plot", metavar="FILE",
                                    help="Write the curve and forecast band to FILE (.png, .svg, .pdf) "
                                         "at each refit, replaced atomically."),
    json_out: str | None = typer.Option(None, "--json", metavar="FILE",
                                        help="Write each update to FILE (JSON), replaced atomically."),
    max_polls: int | None = typer.Option(None, "--max-polls", min=1,
                                         help="Stop after this many polls."),
) -> None:
    """Follow a growing training log and forecast its final loss, refreshed in place.

    Refits the curve law that best predicted the run's own recent past at each new batch of
    points, shows the final-loss forecast with its interval, and flags the last points when
    they leave the forecast band (spike, divergence, plateau). Stops when the log reaches the
    schedule's last step, at --max-polls, or on Ctrl-C.
    """
    from scalefit import watch as w
    from scalefit.plot import FORMATS

    if plot is not None and Path(plot).suffix.lower() not in FORMATS:
        raise UsageError(f"cannot write a figure as {Path(plot).suffix or 'no suffix'!r}",
                         where="--plot", hint="use .png, .svg or .pdf")
    if not 0 < level < 1:
        raise UsageError(f"--level must be in (0, 1), got {level}", where="--level")
    if fail_above is not None and not (fail_above > 0 and fail_above < float("inf")):
        raise UsageError(f"--fail-above must be a positive loss, got {fail_above}",
                         where="--fail-above")
    if schedule is None:
        schedule = _ladder_schedule(Path(log))
    watcher = w.Watcher(log, schedule, metric=metric, format=format, level=level,
                        laws=tuple(law) if law else w.LAWS)
    out = console()
    last = None
    try:
        if once:
            last = _update(watcher, plot, json_out)
            out.print(_text(last))
            code = _exit(last, fail_above, once=True)
            if code:
                raise typer.Exit(code)
            return
        live = _live(out)
        with live:
            polls = 0
            while True:
                last = _update(watcher, plot, json_out)
                polls += 1
                live.show(last)
                code = _exit(last, fail_above, once=False)
                if code or last.done or (max_polls and polls >= max_polls):
                    break
                time.sleep(interval)
    except KeyboardInterrupt:
        out.print(_line(last) if last is not None else f"{log}: stopped before a first poll",
                  highlight=False)
        return
    out.print(_line(last), highlight=False)
    if code:
        raise typer.Exit(code)


def _ladder_schedule(log: Path):
    """The schedule of a `scalefit ladder` run, from the rung.json in its run folder (the log's
    folder, or the folder of the event file given)."""
    from scalefit.errors import InputError
    from scalefit.io.jsonfile import load_json
    from scalefit.schedules import Schedule, parse_schedule

    if not log.exists():
        raise InputError("file not found", where=str(log),
                         hint="the log is watched from its first line; start the watch once "
                              "the run has created it")
    rung = (log if log.is_dir() else log.parent) / "rung.json"
    if not rung.is_file():
        raise UsageError("no --schedule given and no ladder rung.json beside the log",
                         where="--schedule", hint="give the run's schedule, e.g. "
                         "--schedule cosine:peak=3e-4,warmup=2000,steps=100000")
    doc = load_json(rung) if rung.stat().st_size < 1_000_000 else None  # a rung file is ~1 kB
    spec = doc.get("schedule") if isinstance(doc, dict) else None
    if not isinstance(spec, str):
        raise InputError("no schedule in this rung file", where=str(rung),
                         hint="give the run's schedule with --schedule")
    sch = parse_schedule(spec)
    # the ladder logs steps done (1 .. steps), one past the schedule's last index at the end
    return Schedule(sch.family, {**sch.options, "steps": sch.total_steps + 1})


def _update(watcher, plot, json_out):
    from scalefit import watch as w

    upd = watcher.poll()
    if json_out:
        w.write_json(upd, json_out)
    if plot and (upd.refitted or not Path(plot).exists()):
        steps, loss = watcher.points()
        w.write_plot(upd, steps, loss, plot)
    return upd


def _exit(upd, fail_above, *, once: bool) -> int:
    from scalefit.watch import EXIT_ABOVE, EXIT_OFF_TRACK

    f = upd.forecast
    if fail_above is not None and f is not None and f.loss > fail_above:
        return EXIT_ABOVE
    if once and f is not None and f.off_track is not None:
        return EXIT_OFF_TRACK
    return 0


def _line(upd) -> str:
    from rich.markup import escape

    return escape(upd.summary_line())


def _text(upd) -> str:
    """The update as a few lines of rich markup (user text escaped)."""
    from rich.markup import escape

    f = upd.forecast
    step = "-" if upd.last_step is None else f"{upd.last_step:,}"
    head = (f"[bold]{escape(upd.path)}[/]: {upd.n_points} points, step {step} of "
            f"{upd.total_steps:,}" + (f", last loss {upd.last_loss:.4f}"
                                      if upd.last_loss is not None else ""))
    lines = [head]
    if f is None:
        lines.append(f"  {escape(upd.message or 'no forecast yet')}")
    else:
        pct = round(100 * f.level)
        lines.append(f"  final loss at step {f.final_step:,}: [bold]{f.loss:.4f}[/] "
                     f"[{f.lo:.4f}, {f.hi:.4f}] ({pct}%)")
        sc = ", ".join(f"{k} {100 * v:.3f}%" for k, v in f.scores.items())
        lines.append(f"  law {f.law} (recent-past error: {sc})")
        if f.off_track is not None:
            lines.append(f"  [bold red]OFF TRACK[/]: {escape(f.off_track.describe())}")
        else:
            lines.append("  [green]on track[/]: the last points are inside the band")
    for ev in upd.events[-3:]:
        if f is None or f.off_track is None or ev["step"] != f.off_track.step:
            lines.append(f"  earlier: {ev['kind']} from step {ev['step']}")
    for n in upd.notes:
        lines.append(f"  note: {escape(n)}")
    if upd.done:
        lines.append("  the log reached the schedule's end")
    lines.append(f"  [dim]updated {time.strftime('%H:%M:%S', time.localtime(upd.time))}"
                 f"{'' if upd.refitted else ' (no new points: last forecast kept)'}[/]")
    return "\n".join(lines)


class _live:
    """A rich Live panel on a terminal; one summary line per update elsewhere."""

    def __init__(self, out):
        self.out = out
        self.live = None
        if out.is_terminal:
            from rich.live import Live

            self.live = Live("", console=out, auto_refresh=False)

    def __enter__(self):
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)
        return False

    def show(self, upd) -> None:
        if self.live is not None:
            from rich.text import Text

            self.live.update(Text.from_markup(_text(upd)), refresh=True)
        elif upd.refitted or upd.forecast is None:
            self.out.print(_line(upd), highlight=False)
