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

import csv
import glob
import importlib
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit.errors import InputError, ScalefitError, UsageError
from scalefit.io._common import (
    Chunk,
    Options,
    Parsed,
    RunInfo,
    file_hash,
    frame_from_chunks,
    resolve_restarts,
)
from scalefit.schema import (
    POINT_COLUMNS,
    RUN_COLUMNS,
    empty_points,
    validate_points,
    validate_runs,
)
from scalefit.store import LogData


@dataclass(frozen=True)
class Format:
    """One log format: where its reader lives and what it reads."""

    name: str
    module: str
    func: str
    description: str
    suffixes: tuple[str, ...] = ()
    folder: bool = False  # reads a folder (or a file inside one)

    @property
    def reader(self) -> Callable[[Path, Options, str], Parsed]:
        return getattr(importlib.import_module(f"scalefit.io.{self.module}"), self.func)


FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("csv", "tables", "read_csv",
           "CSV/TSV: wide (a step column plus metric columns), long (run, step, metric, value) "
           "or a final-loss table, told apart by the header", (".csv", ".tsv", ".tab")),
    Format("final", "tables", "read_final",
           "final-loss table: one row per run with N, D and/or C and the loss", (".csv",)),
    Format("wandb", "tables", "read_wandb_history",
           "W&B run-history CSV export (_step plus metric columns), one run per file", (".csv",)),
    Format("wandb-panel", "wandb", "read_panel",
           "W&B panel CSV export (Step, '<run> - <metric>' columns)", (".csv",)),
    Format("wandb-run", "wandb", "read_run_folder",
           "W&B run folder (wandb-summary.json, config.yaml)", (".json",), folder=True),
    Format("jsonl", "jsonl", "read_jsonl", "JSON Lines, one object per logged step",
           (".jsonl", ".ndjson", ".json")),
    Format("tensorboard", "tensorboard", "read_events",
           "TensorBoard event files (scalars and scalar tensors)", (), folder=True),
    Format("hf", "hf", "read_trainer_state", "Hugging Face Trainer trainer_state.json",
           (".json",), folder=True),
    Format("lightning", "lightning", "read_lightning",
           "PyTorch Lightning CSVLogger metrics.csv (+ hparams.yaml)", (".csv",), folder=True),
    Format("mlflow", "mlflow", "read_mlflow", "MLflow file store (mlruns/<exp>/<run>/metrics)",
           (), folder=True),
    Format("nanogpt", "stdout", "read_nanogpt", "nanoGPT stdout ('iter 100: loss 3.2100, ...')",
           (".log", ".txt", ".out")),
    Format("megatron", "stdout", "read_megatron",
           "Megatron-LM stdout ('iteration 100/ 1000 | ... lm loss: 3.210E+00 |')",
           (".log", ".txt", ".out")),
    Format("regex", "stdout", "read_regex",
           "any text log, with a regex whose named groups are step and metric names (regex=)",
           (".log", ".txt", ".out")),
]}

_OPTION_NAMES = {f.name for f in fields(Options)}


def read_logs(paths: str | os.PathLike | Iterable[str | os.PathLike], *, format: str | None = None,
              run: str | None = None, params: float | None = None, **options) -> LogData:
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

    files = _expand(paths, format)
    jobs = [(p, format or sniff(p)) for p in files]
    names = _default_names([p for p, _ in jobs], opts.run)

    infos: dict[str, RunInfo] = {}
    listings: dict[Path, set[str]] = {}
    frames: list[pd.DataFrame] = []
    notes: list[str] = []
    for (path, fmt), name in zip(jobs, names, strict=True):
        parsed = _read_one(path, fmt, opts, name)
        digest = file_hash(path) if parsed.digest is None else parsed.digest.result()
        if fmt in _CONFIG_BESIDE and len(parsed.infos) == 1:
            _config_beside(path, parsed.infos[0], listings)
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

    points = _combine(frames, infos, notes)
    for info in infos.values():
        if opts.params is not None:
            info.set("params", opts.params, "option params")
        if opts.tokens is not None:
            info.set("tokens_total", opts.tokens, "option tokens")
        if opts.flops is not None:
            info.set("flops_total", opts.flops, "option flops")
        info.derive()
    source = str(files[0]) if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"
    runs = validate_runs(_runs_frame(infos.values()), where=source)
    if any(str(points[c].dtype) != t for c, t in POINT_COLUMNS.items()):
        points = validate_points(points, where=source)
    return LogData(runs, points, source, notes)


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


def _combine(frames: list, infos: dict[str, RunInfo], notes: list[str]) -> pd.DataFrame:
    """Join the readers' points (chunks and frames); resolve repeated steps where needed.

    A chunk whose steps strictly increase per metric needs no work, and most logs are like
    that: checking it per chunk is cheap, grouping 10^5-10^6 rows is not.
    """
    if not frames:
        return empty_points()
    seen: dict[str, int] = {}
    runs_of = []
    for f in frames:
        if isinstance(f, Chunk):
            rs, ok = [f.run], f.monotone
        else:
            rs, ok = [str(r) for r in pd.unique(f["run"])], _monotone(f)
        runs_of.append((rs, ok))
        for r in rs:
            seen[r] = seen.get(r, 0) + 1
            if r not in infos:
                infos[r] = RunInfo(r)
    simple, rest = [], []
    for f, (rs, ok) in zip(frames, runs_of, strict=True):
        (simple if ok and all(seen[r] == 1 for r in rs) else rest).append(f)

    def join(parts):
        chunks = [p for p in parts if isinstance(p, Chunk)]
        dfs = [p for p in parts if not isinstance(p, Chunk)]
        if chunks:
            dfs.insert(0, frame_from_chunks(chunks))
        return dfs

    out = join(simple)
    if rest:
        out += [resolve_restarts(pd.concat(join(rest), ignore_index=True), infos, notes)]
    return out[0] if len(out) == 1 else pd.concat(out, ignore_index=True)


def _monotone(f: pd.DataFrame) -> bool:
    """Steps strictly increase within each contiguous (run, metric) block, and no block repeats."""
    if len(f) < 2:
        return True
    st = f["step"].to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(st).any():
        return False
    run, met = f["run"].array, f["metric"].array
    new_block = np.ones(len(f), bool)
    new_block[1:] = (run[1:] != run[:-1]) | (met[1:] != met[:-1])
    if not np.all((np.diff(st) > 0) | new_block[1:]):
        return False
    starts = np.flatnonzero(new_block)
    keys = pd.MultiIndex.from_arrays([run.take(starts), met.take(starts)])
    return not keys.duplicated().any()


_CONFIG_BESIDE = {"csv", "wandb", "jsonl", "nanogpt", "megatron", "regex"}


def _config_beside(path: Path, info: RunInfo,
                   listings: dict[Path, set[str]] | None = None) -> None:
    """Sizes from ``<stem>.yaml|yml|json`` or ``config.yaml|json`` next to a one-run log.

    Config values replace guesses from the run name but not columns of the log or options.
    ``listings`` caches the names in each folder, so that many logs in one folder cost one
    listing rather than five lookups each.
    """
    import yaml

    stem = _stem(path)
    names = None
    if listings is not None:
        names = listings.get(path.parent)
        if names is None:
            try:
                names = listings[path.parent] = {n.lower() for n in os.listdir(path.parent)}
            except OSError:
                names = None
    for cand in [path.with_name(stem + s) for s in (".yaml", ".yml", ".json")] + [
            path.with_name("config.yaml"), path.with_name("config.json")]:
        if (cand == path or (names is not None and cand.name.lower() not in names)
                or not cand.is_file()):
            continue
        try:
            text = cand.read_text(encoding="utf-8-sig")
            cfg = json.loads(text) if cand.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the config beside {path.name}: "
                             f"{str(exc).splitlines()[0]}", where=str(cand)) from None
        if isinstance(cfg, dict):
            info.from_config(cfg, cand.name, overwrite="weak")
            info.meta.setdefault("config_files", []).append(str(cand))
        return


def _read_one(path: Path, fmt: str, opts: Options, name: str) -> Parsed:
    if not is_gzip(path):
        return _read_plain(path, fmt, opts, name)
    with tempfile.TemporaryDirectory(prefix="scalefit-gz-") as tmp:
        inner = gunzip(path, Path(tmp))
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


# ----------------------------------------------------------------------------- paths
def _expand(paths, format: str | None) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        s = os.fspath(p)
        if not os.path.exists(s) and any(ch in s for ch in "*?["):
            hits = sorted(glob.glob(s))
            if not hits:
                raise InputError("no file matches this pattern", where=s)
            out.extend(Path(h) for h in hits)
        elif not os.path.exists(s):
            raise InputError("no such file or folder", where=s)
        else:
            out.append(Path(s))
    res: list[Path] = []
    for p in out:
        if p.is_dir() and not (format and FORMATS[format].folder) and _sniff_dir(p) is None:
            # a plain folder of logs: take the files that look like logs, skip READMEs and images
            inner = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                           and (Path(_inner_name(f)).suffix.lower() in _LOG_SUFFIXES
                                or "tfevents" in f.name))
            if not inner:
                raise InputError("the folder holds no log files", where=str(p))
            res.extend(inner)
        else:
            res.append(p)
    if not res:
        raise InputError("no input files given")
    return res


_LOG_SUFFIXES = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".log", ".txt", ".out"}


def _default_names(paths: list[Path], run: str | None) -> list[str]:
    if run is not None:
        return [run] * len(paths)
    names = [_stem(p) for p in paths]
    counts = Counter(names)
    return [f"{_stem(p.parent)}/{n}" if counts[n] > 1 and _stem(p.parent) else n
            for p, n in zip(paths, names, strict=True)]


def _stem(p: Path) -> str:
    name = _inner_name(p)
    for suf in (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".log", ".txt", ".out"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name


# ----------------------------------------------------------------------------- gzip
#: most bytes a gzip-compressed log may inflate to; past it the file is refused (a
#: decompression bomb fills memory or disk long before it would finish)
MAX_DECOMPRESSED = 4 << 30


def is_gzip(path: Path) -> bool:
    """A gzip-compressed log (by its magic bytes); TensorBoard files are read as they are."""
    if path.is_dir() or "tfevents" in path.name.lower():
        return False
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _inner_name(path: Path) -> str:
    name = path.name
    return name[:-3] if name.lower().endswith(".gz") and len(name) > 3 else name


def _gunzip_errors():
    import gzip
    import zlib

    return (gzip.BadGzipFile, EOFError, zlib.error)


def gunzip(path: Path, folder: Path, limit: int | None = None) -> Path:
    """Decompress ``path`` into ``folder`` (named without ``.gz``), at most ``limit`` bytes."""
    import gzip

    limit = MAX_DECOMPRESSED if limit is None else limit
    out = folder / _inner_name(path)
    total = 0
    try:
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            while True:
                block = src.read(min(1 << 20, limit + 1 - total))
                if not block:
                    break
                total += len(block)
                if total > limit:
                    raise InputError(
                        f"decompresses to more than {_size(limit)}: a decompression bomb, or a "
                        "log too large to read compressed", where=str(path),
                        hint="decompress it yourself (gunzip -k) and give the plain file")
                dst.write(block)
    except _gunzip_errors() as exc:
        raise InputError(f"corrupt or truncated gzip file ({exc})", where=str(path),
                         hint="check it with gzip -t; re-copy or re-export it") from None
    return out


def _gunzip_head(path: Path, n: int = 65536) -> bytes:
    import gzip

    try:
        with gzip.open(path, "rb") as f:
            return f.read(n)
    except _gunzip_errors() as exc:
        raise InputError(f"corrupt or truncated gzip file ({exc})", where=str(path),
                         hint="check it with gzip -t; re-copy or re-export it") from None


def _size(n: int) -> str:
    for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= k:
            return f"{n / k:g} {unit}"
    return f"{n} bytes"


# ----------------------------------------------------------------------------- sniffing
_MEGATRON = re.compile(r"iteration\s+\d+\s*/\s*\d+\s*\|.*loss", re.I)
_NANOGPT = re.compile(r"^(iter \d+: loss [-+0-9.eEnaif]+|step \d+: train loss)", re.M)


def sniff(path: Path) -> str:
    """The format of one file or folder, from its content and name."""
    where = str(path)
    if path.is_dir():
        fmt = _sniff_dir(path)
        if fmt is None:
            raise InputError("no known log layout in this folder", where=where)
        return fmt
    gz = is_gzip(path)
    name = _inner_name(path).lower() if gz else path.name.lower()
    suffix = Path(name).suffix
    if "tfevents" in name:
        return "tensorboard"
    if name == "trainer_state.json":
        return "hf"
    if name == "wandb-summary.json" or (
            name == "config.yaml" and (path.parent / "wandb-summary.json").exists()):
        return "wandb-run"
    if name == "hparams.yaml" and (path.parent / "metrics.csv").exists():
        return "lightning"
    if name == "meta.yaml" and (path.parent / "metrics").is_dir():
        return "mlflow"
    if name == "metrics.csv" and (path.parent / "hparams.yaml").exists():
        return "lightning"
    try:
        if gz:  # the content decides, after decompression
            head = _gunzip_head(path)
        else:
            with open(path, "rb") as f:
                head = f.read(65536)
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", where=where) from None
    if not head.strip():
        raise InputError("the file is empty", where=where)
    if b"brain.Event" in head[:200]:
        return "tensorboard"
    wide = _wide_encoding(head)
    if wide:
        raise InputError(f"{wide} text; scalefit reads UTF-8", where=where,
                         hint=f"convert it, e.g. iconv -f {wide} -t UTF-8")
    text = _decode_head(head)
    if text is None:
        raise InputError("binary content that is not a known log format", where=where,
                         hint="give a CSV, JSON Lines, TensorBoard, W&B, HF, Lightning, MLflow "
                              "or stdout log, or pick --format")
    first = _first_line(text)
    if first.startswith("{") or first.startswith("["):
        if "log_history" in text:
            return "hf"
        return "jsonl"
    from scalefit.io.tables import classify

    delim = "\t" if first.count("\t") > first.count(",") else ","
    try:
        header = next(csv.reader([first], delimiter=delim))
    except csv.Error:
        header = []
    kind = classify([h.strip() for h in header]) if len(header) > 1 else None
    if kind in ("wandb", "wandb-panel", "final"):
        return kind
    if kind in ("wide", "long"):
        return "csv"
    if _MEGATRON.search(text):
        return "megatron"
    if _NANOGPT.search(text):
        return "nanogpt"
    if suffix in (".csv", ".tsv", ".tab"):
        return "csv"
    raise InputError("not a known log format", where=where,
                     hint=f"pick one with --format ({', '.join(FORMATS)}) or give --regex")


def _first_line(text: str) -> str:
    """The first non-blank line, stripped (without splitting all of a 64 KiB head)."""
    rest = text.lstrip()  # every line boundary is whitespace
    end = rest.find("\n")
    line = rest if end < 0 else rest[:end]
    return line.splitlines()[0].strip() if line else ""


def _wide_encoding(head: bytes) -> str | None:
    """UTF-16/32 text (Windows shells write logs so), by its byte-order mark."""
    for bom, name in ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                      (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16")):
        if head.startswith(bom):
            return name
    return None


def _decode_head(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the 64 KiB window
            text = head[: exc.start].decode("utf-8")
        else:
            return None
    return text.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Excel, PowerShell)


def _sniff_dir(path: Path) -> str | None:
    if (path / "meta.yaml").exists() and (path / "metrics").is_dir():
        return "mlflow"
    try:
        children = [c for c in path.iterdir() if c.is_dir()]
    except OSError:
        return None
    for c in children:
        if (c / "meta.yaml").exists() and ((c / "metrics").is_dir() or any(
                (g / "metrics").is_dir() for g in c.iterdir() if g.is_dir())):
            return "mlflow"
    if (path / "wandb-summary.json").exists() or (path / "files" / "wandb-summary.json").exists():
        return "wandb-run"
    if (path / "trainer_state.json").exists():
        return "hf"
    if (path / "metrics.csv").exists():
        return "lightning"
    if next(iter(path.rglob("*tfevents*")), None) is not None:
        return "tensorboard"
    return None


def load_json(path: Path):
    """JSON from a file; an error names it."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", where=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg} at line {exc.lineno}", where=str(path)) from None


__all__ = ["FORMATS", "Format", "read_logs", "sniff"]
