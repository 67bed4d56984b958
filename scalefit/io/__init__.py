"""Readers for the training logs people already have, into the store's two tables.

``read_logs(paths)`` picks a reader per file by looking at its content and its name (or takes
``format=``), and returns one :class:`~scalefit.store.LogData` for all of them, so that a caller can
read everything first and ingest once: a bad file then leaves the store untouched.

Every failure to read is an :class:`~scalefit.errors.InputError` that names the file.

Conventions:

- Run names: a file's stem (``190M-5xC.csv`` -> ``190M-5xC``); if two files in one call share a
  stem, ``parent/stem``. ``run=`` names the run instead; several files given with one ``run=``
  are parts of one run (a resumed run), read in the order given.
- Sizes in a run name are read: ``190M-5xC`` gives params = 1.9e8 and tokens_total =
  5 x 20 x N (Chinchilla-optimal tokens, marked as derived), ``nlayers12_nembd768`` gives
  12*L*d^2 non-embedding params. A tokens column (``throughput/total_tokens``), a config file
  beside the log and options (``params=``, ``tokens=``, ``flops=``) take precedence, in that
  order of increasing priority. ``meta["sources"]`` of each run says where each value came from.
- Duplicated and decreasing steps: the later row wins, per (run, metric). A step logged again
  replaces the earlier value; a step that goes back (a restart from a checkpoint) replaces all
  earlier points at or after it. The counts are kept in ``meta`` (``restarts``,
  ``superseded_points``, ``duplicate_steps``) and in ``LogData.notes``. The store applies the
  same rule when a later ingest overlaps an earlier one.
- An empty cell means "not logged at this step" and gives no point; a logged NaN or inf is kept
  (``scalefit.clean`` counts and drops it when a law's data set is built). ``true``/``false`` is
  never a number (a flag column is skipped, a boolean among numbers refused); a numeric JSON
  string reads as the same text in a CSV cell would.
- A table in strictly descending step order (an export sorted newest first) is read in
  ascending order with a note, not as restarts.
- Damaged TensorBoard records: a record whose data CRC fails is skipped and the rest of the
  file read; one whose length CRC fails ends the file there. Both give a note naming the file,
  the record's byte offset and the points kept (``scalefit ingest`` prints it), so that one bad
  step does not cost the run. A file cut inside its last record is an error.
- gzip-compressed logs (``.csv.gz``, ``.jsonl.gz``, ``.log.gz`` ...) are decompressed to a
  temporary file, at most :data:`MAX_DECOMPRESSED` bytes, and sniffed by their content.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scalefit.errors import InputError, ScalefitError, UsageError
from scalefit.io.files import Job, config_beside, default_names, expand
from scalefit.io.formats import FORMATS, Format, sniff
from scalefit.io.gz import MAX_DECOMPRESSED, gunzip, is_gzip
from scalefit.io.hashing import file_hash
from scalefit.io.jsonfile import load_json as load_json  # re-exported: readers took it from here
from scalefit.io.reader import Options, Parsed
from scalefit.io.restarts import combine_points
from scalefit.io.runinfo import RunInfo
from scalefit.schema import POINT_COLUMNS, RUN_COLUMNS, validate_points, validate_runs
from scalefit.store import LogData

_OPTION_NAMES = {f.name for f in fields(Options)}


def read_logs(paths: str | os.PathLike | Iterable[str | os.PathLike], *, format: str | None = None,
              run: str | None = None, params: float | None = None,
              **options: Any) -> LogData:
    """Read training logs into the store schema.

    Parameters
    ----------
    paths : path, glob, or a list of them
        Files or folders (a TensorBoard log dir, an ``mlruns`` folder, a W&B run folder, ...).
    format : str, optional
        A name from :data:`FORMATS`; by default each file's format is sniffed.
    run : str, optional
        Run name (default: the file stem). Several files with one name are parts of one run.
    params : float, optional
        Non-embedding parameter count for every run read.
    **options
        ``tokens``, ``flops``, ``step_col``, ``loss_col``, ``tokens_col``, ``lr_col``,
        ``flops_col``, ``params_col``, ``run_col``, ``metric_col``, ``value_col``, ``metrics``,
        ``regex``, ``preset`` (``nanogpt`` or ``megatron``), ``delimiter``.

    Returns
    -------
    LogData
        ``runs`` (one row per run, ``meta`` JSON with the source of each value) and ``points``.
    """
    opts, format = _options(format, run, params, options)
    jobs, skipped = expand(paths, format)
    names = default_names([j.path for j in jobs], opts.run)
    infos, frames, notes, read = _read_all(jobs, names, opts, skipped)
    if not read:
        why = "; ".join(f"{Path(p).name} ({r})" for p, r in skipped[:5])
        raise InputError("no log could be read", where=str(jobs[0].path),
                         hint=f"skipped: {why}" if why else None)
    points = combine_points(frames, infos, notes)
    for info in infos.values():
        _apply_options(info, opts)
    source = read[0][0] if len(read) == 1 else f"{read[0][0]} (+{len(read) - 1} more)"
    runs = validate_runs(_runs_frame(infos.values()), where=source)
    if any(str(points[c].dtype) != t for c, t in POINT_COLUMNS.items()):
        points = validate_points(points, where=source)
    return LogData(runs, points, source, notes, read, skipped)


def _options(format: str | None, run: str | None, params: float | None,
             options: dict) -> tuple[Options, str | None]:
    """The reader options, checked, and the format they imply (a preset or a regex)."""
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise UsageError(f"unknown read option {unknown[0]!r}",
                         hint=f"known options: {sorted(_OPTION_NAMES)}")
    opts = Options(run=run, params=params, **options)
    if opts.preset is not None:
        if opts.preset not in ("nanogpt", "megatron"):
            raise UsageError(f"unknown preset {opts.preset!r}", where="--preset",
                             hint="use nanogpt or megatron, or give --regex")
        format = format or opts.preset
    if format is not None and format not in FORMATS:
        raise UsageError(f"unknown format {format!r}", where="--format",
                         hint=f"one of {', '.join(FORMATS)}")
    if opts.regex is not None and format is None:
        format = "regex"
    return opts, format


def _read_all(jobs: list[Job], names: list[str], opts: Options,
              skipped: list[tuple[str, str]]
              ) -> tuple[dict[str, RunInfo], list, list[str], list[tuple[str, str]]]:
    """Every file read: the runs (parts of one run merged), the points, the notes and the
    (path, format) of each file read. A file found by walking a folder that fails to read is
    added to ``skipped`` with the reason; a file named directly is an error."""
    infos: dict[str, RunInfo] = {}
    listings: dict[Path, set[str]] = {}
    frames: list[pd.DataFrame] = []
    notes: list[str] = []
    read: list[tuple[str, str]] = []
    for job, name in zip(jobs, names, strict=True):
        path, fmt = job.path, job.format
        try:
            parsed = _read_one(path, fmt, opts, name)
        except InputError as exc:
            if not job.walked:
                raise
            # keep the hint: for a missing optional reader it is the install line
            hint = f"; {exc.hint}" if exc.hint else ""
            skipped.append((str(path), f"not read as {fmt}: {exc.message}{hint}"))
            continue
        digest = file_hash(path) if parsed.digest is None else parsed.digest.result()
        if FORMATS[fmt].config_beside and len(parsed.infos) == 1:
            config_beside(path, parsed.infos[0], listings)
        for info in parsed.infos:
            info.source = info.source or str(path)
            info.source_hash = info.source_hash or digest
            info.meta.setdefault("files", [str(path)])
            if info.name in infos:
                infos[info.name].merge(info)
            else:
                infos[info.name] = info
        frames.extend(f for f in parsed.points if len(f))
        notes.extend(parsed.notes)
        read.append((str(path), fmt))
    return infos, frames, notes, read


def _apply_options(info: RunInfo, opts: Options) -> None:
    """Sizes given as options, which take precedence over all others, then derived ones."""
    if opts.params is not None:
        info.set("params", opts.params, "option params")
    if opts.tokens is not None:
        info.set("tokens_total", opts.tokens, "option tokens")
    if opts.flops is not None:
        info.set("flops_total", opts.flops, "option flops")
    info.derive()


def _runs_frame(infos: Iterable[RunInfo]) -> pd.DataFrame:
    """The runs table, each column built in its schema dtype: coercing a frame of Python
    objects column by column costs more than reading a small log."""
    rows = [i.row() for i in infos]
    cols = {}
    for c, t in RUN_COLUMNS.items():
        vals = [r.get(c) for r in rows]
        if t == "float64" and all(isinstance(v, float) or v is None for v in vals):
            cols[c] = np.array([np.nan if v is None else v for v in vals], dtype="float64")
        elif t == "string" and all(isinstance(v, str) or v is None for v in vals):
            cols[c] = pd.array(vals, dtype="string")
        else:  # anything else is coerced, or refused, by validate_runs
            cols[c] = pd.Series(vals, dtype=object)
    return pd.DataFrame(cols)


def _read_one(path: Path, fmt: str, opts: Options, name: str) -> Parsed:
    if not is_gzip(path):
        return _read_plain(path, fmt, opts, name)
    with tempfile.TemporaryDirectory(prefix="scalefit-gz-") as tmp:
        # the package's limit, so that setting scalefit.io.MAX_DECOMPRESSED takes effect
        inner = gunzip(path, Path(tmp), MAX_DECOMPRESSED)
        try:
            parsed = _read_plain(inner, fmt, opts, name)
        except ScalefitError as exc:
            exc.where = str(path) if exc.where == str(inner) else exc.where
            exc.message = _renamed(exc.message, inner, path)
            exc.args = (exc._format(),)
            raise
    parsed.notes = [_renamed(n, inner, path) for n in parsed.notes]
    parsed.digest = None  # the hash is of the compressed file
    for info in parsed.infos:
        if info.source == str(inner):
            info.source = str(path)
    return parsed


def _renamed(text: str, inner: Path, path: Path) -> str:
    """A message about the decompressed copy, told of the user's file instead."""
    text = text.replace(str(inner), str(path))
    return f"{path.name}:{text[len(inner.name) + 1:]}" if text.startswith(
        f"{inner.name}:") else text


def _read_plain(path: Path, fmt: str, opts: Options, name: str) -> Parsed:
    try:
        return FORMATS[fmt].reader(path, opts, name)
    except ScalefitError:
        raise
    except (OSError, UnicodeError) as exc:
        raise InputError(f"cannot read as {fmt}: {exc}", where=str(path)) from None
    except Exception as exc:  # a reader bug or a file shape no reader foresaw: still name the file
        raise InputError(f"cannot read as {fmt}: {type(exc).__name__}: {exc}",
                         where=str(path)) from None


__all__ = ["FORMATS", "Format", "read_logs", "sniff"]
