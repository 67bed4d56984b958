"""The data a command reads: log files, folders and globs with the reader options, or a store,
and the runs picked from it; shared by `scalefit fit` (final-loss and curve laws) and
`scalefit compare`, so that every command names its data the same way."""

from __future__ import annotations

from typing import Annotated

import typer

from scalefit.errors import UsageError

__all__ = ["BestLROption", "FormatOption", "LossColOption", "RegexOption", "RunsOption",
           "keep_best_lr", "load_data", "parse_runs", "read_options", "select_runs"]

# the options that name a command's data, declared once for every command that reads logs
RunsOption = Annotated[list[str] | None, typer.Option(
    "--runs", help="Use only these runs (names as `scalefit runs` lists them; comma-separated "
                   "or repeated).")]
FormatOption = Annotated[str | None, typer.Option(
    "--format", "-f", help="Log format (default: sniffed per file).")]
RegexOption = Annotated[str | None, typer.Option(
    "--regex", help="Line regex with named groups (step, lr, metric names) for a text log.")]
LossColOption = Annotated[str | None, typer.Option("--loss-col",
                                                   help="Loss column of the logs.")]
BestLROption = Annotated[bool, typer.Option(
    "--best-lr", help="Runs that differ only in their peak LR (an LR sweep per size): use each "
                      "size's best LR, the one with the lowest seed-mean final loss.")]


def read_options(format: str | None = None, regex: str | None = None,
                 loss_col: str | None = None, step_col: str | None = None,
                 lr_col: str | None = None) -> dict:
    """The reader options `scalefit fit` shares with `scalefit ingest`, those given."""
    opts = dict(format=format, regex=regex, loss_col=loss_col, step_col=step_col, lr_col=lr_col)
    return {k: v for k, v in opts.items() if v is not None}


def parse_runs(runs: list[str] | None) -> list[str] | None:
    """``--runs a,b --runs c`` -> ["a", "b", "c"] (None: every run)."""
    out = [r.strip() for item in runs or [] for r in str(item).split(",") if r.strip()]
    return out or None


def load_data(inputs: list[str] | None, store: str | None, **read_opts):
    """The data a command fits: log files, folders and globs (as paths for the fit to read,
    so that its artefact records them; read here with :func:`scalefit.io.read_logs` when
    ``read_opts`` are given: format, regex, loss_col, ...), or a store (with logs given too,
    they are ingested into it first). Every command and kind of law reads its data here."""
    if store:
        from scalefit.store import Store

        st = Store(store, create=bool(inputs))
        if inputs:
            from scalefit.io import read_logs

            st.ingest(read_logs(inputs, **read_opts))
        return st
    if not inputs:
        raise UsageError("give log files to fit, or a store with --store DIR", where="INPUT")
    if read_opts:
        from scalefit.io import read_logs

        return read_logs(list(inputs), **read_opts)
    return list(inputs) if len(inputs) > 1 else inputs[0]


def select_runs(data, runs: list[str] | None):
    """``data`` (a store, logs read, or paths, which are read) as LogData with only ``runs``
    (all when None), each run checked to be there."""
    from scalefit.store import LogData, Store

    data = _read(data)
    if runs is None:
        return data
    where = data.path if isinstance(data, Store) else data.source
    names = data.runs["run"].tolist()
    unknown = [r for r in runs if r not in names]
    if unknown:
        raise UsageError(f"no run {unknown[0]!r} in {where}", where="--runs",
                         hint=f"runs there: {', '.join(names[:12])}"
                              + (" ..." if len(names) > 12 else "")
                              + " (`scalefit runs --store DIR` lists a store's)")
    keep = set(runs)
    r, p = data.runs, data.points
    return LogData(r[r["run"].isin(keep)].reset_index(drop=True),
                   p[p["run"].isin(keep)].reset_index(drop=True), str(where),
                   list(getattr(data, "notes", [])), list(getattr(data, "files", [])),
                   list(getattr(data, "skipped", [])))


def keep_best_lr(data, metric: str | None):
    """(``data`` read, the names of its runs at each rung's best LR; see
    :func:`scalefit.lr_sweeps.best_lr_runs`), with a line per swept rung on the console. The
    fit takes the names as ``runs=``, so that a saved fit records them beside its data."""
    from scalefit.lr_sweeps import best_lr_runs

    data = _read(data)
    names, swept = best_lr_runs(data, metric)
    what = "LRs or beta2s" if any(b is not None for s in swept for b in s["beta2s"]) else "LRs"
    typer.echo(f"--best-lr: {len(swept)} sizes trained at several {what}; each fitted at its best "
               f"({len(names)} of {len(data.runs)} runs):")
    for s in swept:
        tagged = any(b is not None for b in s["beta2s"])
        labels = [_setting(lr, b2, tagged) for lr, b2 in zip(s["lrs"], s["beta2s"], strict=True)]
        chosen = _setting(s["best_lr"], s["best_beta2"], tagged)
        others = ", ".join(f"{label}: {v:.4g}" for label, v in zip(labels, s["losses"], strict=True)
                           if label != chosen)
        best = s["losses"][labels.index(chosen)]
        typer.echo(f"  {s['runs'][0]}: LR {chosen} ({best:.4g}; {others})")
    return data, names


def _setting(lr: float, beta2: float | None, tagged: bool) -> str:
    """An (LR, beta2) setting as the --best-lr lines print it; ``tagged``: some setting of the
    rung records a beta2, so one that does not is the trainer's default."""
    if not tagged:
        return f"{lr:.3g}"
    return f"{lr:.3g} beta2 {'default' if beta2 is None else f'{beta2:g}'}"


def _read(data):
    """``data`` as a Store or LogData: paths are read with :func:`scalefit.io.read_logs`."""
    from scalefit.store import LogData, Store

    if isinstance(data, (Store, LogData)):
        return data
    from scalefit.io import read_logs

    return read_logs(data)
