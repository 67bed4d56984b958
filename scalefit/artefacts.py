"""Reading saved fits: the JSON artefact, and the data it was fitted to, again.

A fit artefact records where its data can be read (``settings.data``: a store or log paths)
and how that data became points (``settings.data_options``), so figures and reports of a saved
fit find its points without being told.
"""

from __future__ import annotations

import json
from pathlib import Path

from scalefit.errors import InputError, UsageError

__all__ = ["attach_data", "load_artefact", "read_artefact", "recorded_data", "recorded_paths"]


def read_artefact(source: str | Path) -> dict:
    """The JSON object of a fit artefact (final-loss or loss-curve), from a path or JSON text."""
    text = str(source)
    if not text.lstrip().startswith("{"):
        p = Path(source)
        if not p.exists():
            raise InputError("no such fit file", where=str(p),
                             hint="write one with `scalefit fit ... --json FIT.json`")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the fit artefact: {exc}", where=str(p)) from None
        where = str(p)
    else:
        where = "JSON text"
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", where=where) from None
    if not isinstance(d, dict):
        raise InputError("not a scalefit fit artefact (expected a JSON object)", where=where)
    return d


def load_artefact(source: str | Path):
    """A :class:`FitResult`, or a ``CurveFitResult`` for a loss-curve artefact."""
    from scalefit.result import FitResult

    d = read_artefact(source)
    if d.get("kind") == "curve":
        from scalefit.curves.result import CurveFitResult

        return CurveFitResult.from_dict(d)
    return FitResult.from_dict(d)


def recorded_data(result):
    """The data a fit artefact says it was made from (``settings.data``), ready to read.

    Raises a UsageError when the artefact does not say, an InputError when it is gone.
    """
    src = (result.settings or {}).get("data")
    if not src:
        raise UsageError("this fit artefact does not record where its data is (the fit was made "
                         "on data in memory)", where="--data",
                         hint="pass the logs with --data FILE or the store with --store DIR")
    if "store" in src:
        from scalefit.store import Store

        where = src["store"]
        if "://" not in where and not Path(where).is_dir():
            raise InputError("the store this fit was made from is not there any more",
                             where=where, hint="pass the store with --store DIR")
        return Store(where, create=False)
    paths = recorded_paths(result)
    return paths if len(paths) > 1 else paths[0]


def recorded_paths(result) -> list[str]:
    paths = list(((result.settings or {}).get("data") or {}).get("paths") or [])
    missing = [p for p in paths if not any(ch in p for ch in "*?[") and not Path(p).exists()]
    if missing or not paths:
        raise InputError("the logs this fit was made from are not there any more",
                         where=", ".join(missing) or "settings.data",
                         hint="pass the logs with --data FILE or the store with --store DIR")
    return paths


def attach_data(result, data=None, *, strict: bool = False) -> list[str]:
    """Give a fit read from JSON its data again (for the points on the figures).

    ``data``: logs or a store; by default the data the artefact records it was made from.
    Returns notes; with ``strict`` a data set that differs from the fitted one is an error.
    """
    from scalefit.fitting.dataset import build_dataset

    if data is None:
        data = recorded_data(result)
    opts = dict((result.settings or {}).get("data_options") or {})
    ds = build_dataset(data, result.law_, metric=result.metric,
                       checkpoints=bool(result.settings.get("checkpoints", False)),
                       include_excluded=bool(opts.get("include_excluded", False)),
                       runs=opts.get("runs"), inputs=opts.get("inputs"),
                       warmup_frac=float(opts.get("warmup_frac", 0.1)))
    notes = []
    if result.data_hash and ds.hash() != result.data_hash:
        msg = (f"the data given ({ds.n} points of {ds.metric!r}) differs from the data this fit "
               f"was made on ({result.n_points} points)")
        if strict:
            raise InputError(msg, where="--data", hint="pass the logs or store the fit came from")
        notes.append(msg)
    result.dataset = ds
    return notes
