"""The files a call reads: paths and globs expanded, run names from file names, and the config
file beside a log."""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.formats import FORMATS, folder_format
from scalefit.io.gz import inner_name
from scalefit.io.runinfo import RunInfo


def expand(paths, format: str | None) -> list[Path]:
    """The files and folders ``paths`` name (globs expanded); a plain folder of logs (one no
    format reads whole) gives the log files in it."""
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
        if p.is_dir() and not (format and FORMATS[format].folder) and folder_format(p) is None:
            # a plain folder of logs: take the files that look like logs, skip READMEs and images
            inner = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                           and (Path(inner_name(f)).suffix.lower() in LOG_SUFFIXES
                                or "tfevents" in f.name))
            if not inner:
                raise InputError("the folder holds no log files", where=str(p))
            res.extend(inner)
        else:
            res.append(p)
    if not res:
        raise InputError("no input files given")
    return res




LOG_SUFFIXES = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".json", ".log", ".txt", ".out"}


def default_names(paths: list[Path], run: str | None) -> list[str]:
    """Run names: ``run`` for all, else each file's stem (``parent/stem`` where stems repeat)."""
    if run is not None:
        return [run] * len(paths)
    names = [stem(p) for p in paths]
    counts = Counter(names)
    return [f"{stem(p.parent)}/{n}" if counts[n] > 1 and stem(p.parent) else n
            for p, n in zip(paths, names, strict=True)]


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

