"""The files a call reads: paths and globs expanded, run names from file names, and the config
file beside a log."""

from __future__ import annotations

import glob
import itertools
import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.formats import FORMATS
from scalefit.io.gz import inner_name
from scalefit.io.runinfo import RunInfo


@dataclass
class Job:
    """One file or run folder to read, and its format. ``walked``: found by walking a folder
    (a file that then fails to read is listed as skipped, not an error)."""

    path: Path
    format: str
    walked: bool = False


#: entries a folder walk looks at before it stops with an error (a home folder, not a log dir)
MAX_WALK = 20_000
#: folders deeper than this below the one named are not walked
MAX_DEPTH = 32

# formats whose folder layout is one run (or one store of runs) read whole; TensorBoard is
# told apart by where its event files are
_RUN_FOLDERS = ("mlflow", "wandb-run", "hf", "lightning")


def expand(paths: str | os.PathLike | Iterable[str | os.PathLike], format: str | None
           ) -> tuple[list[Job], list[tuple[str, str]]]:
    """The files and run folders ``paths`` name (globs expanded), each with its format, and the
    files left out with the reason.

    A file named directly is sniffed (an unknown format is an error). A folder in a known run
    layout (W&B run, TensorBoard run dir, HF Trainer output, Lightning version dir, MLflow
    store) is read whole; any other folder is walked recursively: every file in it is read or
    listed as skipped with the reason (unknown format, not a log, a config read with its log).
    Hidden files and folders (``.git``) are not walked.
    """
    from scalefit.io.formats import sniff

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
            raise InputError("no such file or folder", where=s, hint=_missing_hint(s))
        else:
            out.append(Path(s))
    jobs: list[Job] = []
    skipped: list[tuple[str, str]] = []
    for p in out:
        if not p.is_dir():
            jobs.append(Job(p, format or sniff(p)))
        elif format and FORMATS[format].folder:
            jobs.append(Job(p, format))
        else:
            n = len(jobs)
            _walk(p, format, jobs, skipped, [0])
            if len(jobs) == n:
                why = "; ".join(f"{Path(f).name} ({r})" for f, r in skipped[-5:])
                raise InputError("the folder holds no log file that scalefit reads", where=str(p),
                                 hint=(f"skipped: {why}; " if why else "")
                                 + "name a file with --format, or give --regex for a text log")
    if not jobs:
        raise InputError("no input files given")
    return jobs, skipped


def _missing_hint(s: str) -> str:
    """What to do about a path that does not exist: the close names beside it, if any."""
    import difflib

    p = Path(s)
    parent = p.parent
    try:  # a bounded look at the folder: it may be huge or unreadable
        with os.scandir(parent) as it:
            names = [e.name for e in itertools.islice(it, MAX_WALK)]
    except OSError:
        names = []
    close = difflib.get_close_matches(p.name, names, n=3, cutoff=0.75)
    if close:
        return "did you mean " + " or ".join(str(parent / c) for c in close) + "?"
    return (f"check the path; relative paths start from the current folder {os.getcwd()}"
            if not p.is_absolute() else "check the path")


def _run_folder(d: Path) -> str | None:
    """The format that reads folder ``d`` as one run (or store of runs), else None."""
    from scalefit.io.head import Head

    head = Head(d)
    for name in _RUN_FOLDERS:
        if FORMATS[name].sniff_layout(d, head):
            return name
    try:
        direct = any("tfevents" in f.name for f in d.iterdir() if f.is_file())
    except OSError:
        return None
    return "tensorboard" if direct else None


def _only_events(d: Path, count: list[int]) -> bool:
    """Every file below ``d`` (hidden ones aside) is a TensorBoard event file, and there is
    one: a log dir read whole, its runs named by their sub-folders as TensorBoard does."""
    found = False
    for _root, dirs, files in os.walk(d):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for f in files:
            count[0] += 1
            if count[0] > MAX_WALK:
                return False
            if f.startswith("."):
                continue
            if "tfevents" not in f:
                return False
            found = True
    return found


def _walk(d: Path, format: str | None, jobs: list[Job], skipped: list[tuple[str, str]],
          count: list[int]) -> None:
    from scalefit.io.formats import sniff

    if (d / "manifest.json").is_file() and any(d.glob("runs-*.parquet")):
        skipped.append((str(d), "a scalefit store: fit or list it with --store"))
        return
    fmt = _run_folder(d)
    if fmt is not None and (format is None or format == fmt):
        jobs.append(Job(d, fmt, walked=True))
        return
    if format is None and _only_events(d, [0]):
        jobs.append(Job(d, "tensorboard", walked=True))
        return
    try:
        entries = sorted(d.iterdir(), key=lambda e: e.name)
    except OSError as exc:
        skipped.append((str(d), f"cannot list: {exc.strerror or exc}"))
        return
    logs = {stem(e).lower() for e in entries if Path(inner_name(e)).suffix.lower() in _DATA}
    for e in entries:
        count[0] += 1
        if count[0] > MAX_WALK:
            raise InputError(f"more than {MAX_WALK} files and folders below this folder",
                             where=str(d), hint="point at the folder of the logs, or a glob")
        if e.name.startswith("."):
            continue
        if e.is_symlink():
            skipped.append((str(e), "symbolic link (name its target instead)"))
        elif e.is_dir():
            if len(count) > MAX_DEPTH:
                skipped.append((str(e), f"more than {MAX_DEPTH} folders deep"))
                continue
            count.append(0)  # one entry per level: the depth
            try:
                _walk(e, format, jobs, skipped, count)
            finally:
                count.pop()
        elif not e.is_file():
            skipped.append((str(e), "not a regular file"))
        else:
            why = _not_a_log(e, logs, format)
            if why:
                skipped.append((str(e), why))
                continue
            try:
                jobs.append(Job(e, format or sniff(e), walked=True))
            except InputError as exc:
                skipped.append((str(e), f"unknown format: {exc.message}"))


# suffixes of files that hold a log's data (not its config)
_DATA = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".log", ".txt", ".out"}


def _not_a_log(f: Path, logs: set[str], format: str | None) -> str | None:
    """Why a file met in a folder walk is not read as a log, or None."""
    name = inner_name(f)
    suffix = Path(name).suffix.lower()
    low = name.lower()
    if suffix in (".yaml", ".yml", ".json") and (
            low.startswith("config.") or stem(f).lower() in logs
            or Path(low).stem in logs):
        return "config, read with its log"
    if format is not None:
        if suffix not in FORMATS[format].suffixes and "tfevents" not in low:
            return f"not a {format} file"
        return None
    if suffix in LOG_SUFFIXES or "tfevents" in low:
        return None
    return f"not a log ({suffix or 'no suffix'})"


LOG_SUFFIXES = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".log", ".txt", ".out"}


def default_names(paths: list[Path], run: str | None) -> list[str]:
    """Run names: ``run`` for all, else each file's stem; where stems repeat, as many parent
    folders as tell them apart (``a/x/loss`` and ``b/x/loss`` give ``a/x/loss``, ``b/x/loss``),
    then the whole file name (``wide.csv``, ``wide.tsv``). Two different files never share a
    name by accident: that would read them as parts of one run."""
    if run is not None:
        return [run] * len(paths)
    names = [stem(p) for p in paths]
    counts = Counter(names)
    out = []
    for p, n in zip(paths, names, strict=True):
        if counts[n] == 1:
            out.append(n)
            continue
        twins = [q for q, m in zip(paths, names, strict=True) if m == n and q != p]
        out.append(_distinct(p, n, twins))
    return out


def _distinct(p: Path, n: str, twins: list[Path]) -> str:
    """The shortest ``parent/.../stem`` (or file name) of ``p`` that none of ``twins`` has."""
    def label(q: Path, k: int, full: bool) -> str:
        parts = [stem(x) for x in list(q.parents)[:k]][::-1]
        return "/".join([x for x in parts if x] + [q.name if full else stem(q)])

    depth = max(len(q.parents) for q in [p, *twins])
    for full in (False, True):
        for k in range(0 if full else 1, depth + 1):
            mine = label(p, k, full)
            if all(label(q, k, full) != mine for q in twins):
                return mine
    return str(p)


def stem(p: Path) -> str:
    """A log's name without its log suffix (and ``.gz``)."""
    name = inner_name(p)
    for suf in (".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".log", ".txt", ".out"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name



def config_beside(path: Path, info: RunInfo,
                  listings: dict[Path, set[str]] | None = None) -> None:
    """Sizes from ``<stem>.yaml|yml|json`` or ``config.yaml|json`` next to a one-run log.

    Config values replace guesses from the run name but not columns of the log or options.
    ``listings`` caches the names in each folder, so that many logs in one folder cost one
    listing rather than five lookups each.
    """
    import yaml

    base = stem(path)
    names = None
    if listings is not None:
        names = listings.get(path.parent)
        if names is None:
            try:
                names = listings[path.parent] = {n.lower() for n in os.listdir(path.parent)}
            except OSError:
                names = None
    for cand in [path.with_name(base + s) for s in (".yaml", ".yml", ".json")] + [
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

