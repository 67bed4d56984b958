"""Store: the tidy runs + points tables, in memory or in a folder of parquet files.

On disk a store is a folder (a local path or any fsspec URL) holding snapshot files
``runs-<version>.parquet`` and ``points-<version>.parquet`` and a ``manifest.json`` that names the
current version. A write puts both new files in place first and then swaps the manifest by a
rename, so a reader (or a process killed mid-write) sees either the old or the new state, never a
mix. Writers on a local disk hold a lock file so two processes ingesting at once lose nothing.

Ingesting the same data twice changes nothing (not even the files). A run ingested again with
overlapping steps keeps the later values, as a resumed run should.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from filelock import FileLock

from scalefit.errors import StoreError
from scalefit.schema import (
    POINT_COLUMNS,
    POINT_KEY,
    RUN_COLUMNS,
    empty_points,
    empty_runs,
    validate_points,
    validate_runs,
)

MANIFEST = "manifest.json"
_VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,99}")  # names files: no path parts
FORMAT_VERSION = 1


@dataclass
class LogData:
    """What a reader returns: runs and points of one source, in the store schema."""

    runs: pd.DataFrame
    points: pd.DataFrame
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def validated(self) -> LogData:
        return LogData(
            validate_runs(self.runs, where=self.source or None),
            validate_points(self.points, where=self.source or None),
            self.source,
            list(self.notes),
        )


@dataclass
class IngestReport:
    runs_added: list[str] = field(default_factory=list)
    runs_updated: list[str] = field(default_factory=list)
    points_added: int = 0
    points_replaced: int = 0
    changed: bool = False


_MEMORY_LOCK = threading.RLock()


class Store:
    """Runs and points of many training runs.

    Parameters
    ----------
    path : str or Path or None
        A folder (local path or fsspec URL such as ``memory://exp`` or ``s3://bucket/exp``).
        ``None`` keeps the store in this process's memory only.
    create : bool
        Create the folder if it does not exist (default). With ``False`` a missing store is an error.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True):
        self.path = None if path is None else str(path)
        self._runs = empty_runs()
        self._points = empty_points()
        self._version: str | None = None
        if self.path is not None:
            self._fs, self._root = fsspec.core.url_to_fs(self.path)
            self._local = "file" in _protocols(self._fs)
            if not self._fs.exists(self._root):
                if not create:
                    raise StoreError("no store here", where=self.path,
                                     hint="ingest logs first with `scalefit ingest PATH --store DIR`")
                self._fs.makedirs(self._root, exist_ok=True)
            elif not self._fs.isdir(self._root):
                raise StoreError("exists and is not a folder", where=self.path,
                                 hint="give a folder path for --store")
            self._load()

    # ------------------------------------------------------------------ reading
    @property
    def runs(self) -> pd.DataFrame:
        """One row per run (a copy)."""
        return self._runs.copy()

    @property
    def points(self) -> pd.DataFrame:
        """One row per (run, metric, step) (a copy)."""
        return self._points.copy()

    def __len__(self) -> int:
        return len(self._runs)

    def __repr__(self) -> str:
        where = self.path or "memory"
        return f"Store({where!r}: {len(self._runs)} runs, {len(self._points)} points)"

    def _repr_html_(self) -> str:
        # run names and metrics come from user files: escaped by the one HTML path
        from scalefit.html import esc, table

        runs = self._runs["run"].tolist()
        head = (f"<div class='scalefit-store'><b>Store</b> {esc(self.path or 'memory')}: "
                f"{len(runs)} runs, {len(self._points)} points; metrics: "
                f"{esc(', '.join(self.metrics()) or 'none')}")
        return head + table(["run"], [[r] for r in runs[:50]]) + (
            f"<p>… and {len(runs) - 50} more runs</p>" if len(runs) > 50 else "") + "</div>"

    def run_names(self) -> list[str]:
        return self._runs["run"].tolist()

    def metrics(self) -> list[str]:
        return sorted(self._points["metric"].dropna().unique().tolist())

    def summary(self) -> pd.DataFrame:
        """The runs table with ``n_points`` and ``metrics`` (a sorted list) per run."""
        runs = self.runs
        if len(self._points):
            g = self._points.groupby("run", sort=False)
            counts = g.size().to_dict()
            mets = {r: sorted(m.dropna().unique().tolist()) for r, m in g["metric"]}
            runs["n_points"] = [int(counts.get(r, 0)) for r in runs["run"]]
            runs["metrics"] = [mets.get(r, []) for r in runs["run"]]
        else:
            runs["n_points"] = 0
            runs["metrics"] = [[] for _ in range(len(runs))]
        return runs

    def select(self, runs: Iterable[str] | None = None, metric: str | None = None) -> pd.DataFrame:
        pts = self._points
        if runs is not None:
            pts = pts[pts["run"].isin(list(runs))]
        if metric is not None:
            pts = pts[pts["metric"] == metric]
        return pts.copy()

    # ------------------------------------------------------------------ writing
    def ingest(self, data: LogData | Iterable[LogData]) -> IngestReport:
        """Merge logs into the store; write to disk only if something changed."""
        batches = [data] if isinstance(data, LogData) else list(data)
        batches = [b.validated() for b in batches]
        with self._lock():
            if self.path is not None:
                self._load()  # another process may have written since we opened
            runs, points = self._runs, self._points
            report = IngestReport()
            runs, points = _merge(runs, points, batches, report)
            if report.changed:
                self._write(runs, points)
                self._runs, self._points = runs, points
        return report

    def add(self, runs: pd.DataFrame | None = None, points: pd.DataFrame | None = None,
            source: str = "") -> IngestReport:
        """Ingest frames built by hand (or by the ladder trainer)."""
        points = empty_points() if points is None else points
        if runs is None:
            runs = pd.DataFrame({"run": pd.unique(points["run"])})
        return self.ingest(LogData(runs, points, source))

    def remove(self, runs: Iterable[str]) -> None:
        names = set(runs)
        with self._lock():
            if self.path is not None:
                self._load()
            unknown = names - set(self._runs["run"])
            if unknown:
                raise StoreError(f"no run named {sorted(unknown)[0]!r} in the store",
                                 where=self.path, hint="list runs with `scalefit runs --store DIR`")
            r = self._runs[~self._runs["run"].isin(names)].reset_index(drop=True)
            p = self._points[~self._points["run"].isin(names)].reset_index(drop=True)
            self._write(r, p)
            self._runs, self._points = r, p

    # ------------------------------------------------------------------ disk
    def _lock(self):
        if self.path is not None and self._local:
            return FileLock(os.path.join(self._root, ".lock"), timeout=600)
        return _MEMORY_LOCK

    def _join(self, name: str) -> str:
        return self._root.rstrip("/") + "/" + name

    def _load(self, retries: int = 3) -> None:
        mpath = self._join(MANIFEST)
        if not self._fs.exists(mpath):
            self._runs, self._points, self._version = empty_runs(), empty_points(), None
            return
        try:
            with self._fs.open(mpath, "r") as f:
                manifest = json.load(f)
            version = manifest["version"] if isinstance(manifest, dict) else None
            if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
                raise ValueError(f"the manifest names no valid version ({MANIFEST}: "
                                 f"{str(manifest)[:80]!r})")
            if version == self._version:
                return
            runs = _read_parquet(self._fs, self._join(f"runs-{version}.parquet"), RUN_COLUMNS)
            points = _read_parquet(self._fs, self._join(f"points-{version}.parquet"), POINT_COLUMNS)
        except FileNotFoundError:
            if retries > 0:  # a writer replaced the snapshot between our two reads
                return self._load(retries - 1)
            raise StoreError("the store's manifest names files that are missing", where=self.path,
                             hint="the folder was changed by hand or is damaged") from None
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            raise StoreError(f"cannot read the store: {' '.join(str(exc).split())}", where=self.path,
                             hint="the folder is not a scalefit store or is damaged") from None
        self._runs, self._points, self._version = runs, points, version

    def _write(self, runs: pd.DataFrame, points: pd.DataFrame) -> None:
        if self.path is None:
            return
        version = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:8]
        new_files = [self._join(f"runs-{version}.parquet"), self._join(f"points-{version}.parquet")]
        try:
            _write_parquet(self._fs, runs, new_files[0], RUN_COLUMNS)
            _write_parquet(self._fs, points, new_files[1], POINT_COLUMNS)
            manifest = {"format": FORMAT_VERSION, "version": version,
                        "n_runs": len(runs), "n_points": len(points)}
            _atomic_write_bytes(self._fs, self._join(MANIFEST), json.dumps(manifest).encode())
        except (OSError, pa.ArrowException) as exc:
            for p in new_files:
                _silent_rm(self._fs, p)
            raise StoreError(f"cannot write the store: {exc}", where=self.path,
                             hint="nothing was changed; check free space and permissions") from None
        self._version = version
        # under the lock: drop older snapshots and temporary files of writers that were killed
        keep = {f"runs-{version}.parquet", f"points-{version}.parquet", MANIFEST}
        try:
            names = [p.rstrip("/").rsplit("/", 1)[-1] for p in self._fs.ls(self._root, detail=False)]
        except OSError:
            names = []
        for name in names:
            stale = name.startswith(("runs-", "points-")) or ".tmp-" in name
            if stale and name not in keep:
                _silent_rm(self._fs, self._join(name))


# ---------------------------------------------------------------------- helpers
def _protocols(fs) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def _silent_rm(fs, path: str) -> None:
    try:
        if fs.exists(path):
            fs.rm(path)
    except OSError:
        pass


def _schema(columns: dict[str, str]) -> pa.Schema:
    types = {"string": pa.string(), "float64": pa.float64(), "Int64": pa.int64()}
    return pa.schema([(c, types[t]) for c, t in columns.items()])


def _write_parquet(fs, df: pd.DataFrame, path: str, columns: dict[str, str]) -> None:
    table = pa.Table.from_pandas(df[list(columns)], schema=_schema(columns), preserve_index=False)
    tmp = path + f".tmp-{uuid.uuid4().hex[:8]}"
    try:
        with fs.open(tmp, "wb") as f:
            pq.write_table(table, f, compression="zstd")
        fs.mv(tmp, path)
    except BaseException:  # a full disk, say: leave no partial file behind
        _silent_rm(fs, tmp)
        raise


def _read_parquet(fs, path: str, columns: dict[str, str]) -> pd.DataFrame:
    with fs.open(path, "rb") as f:
        table = pq.read_table(f)
    df = table.to_pandas()
    return pd.DataFrame({c: df[c].astype(t) for c, t in columns.items()})


def _atomic_write_bytes(fs, path: str, data: bytes) -> None:
    tmp = path + f".tmp-{uuid.uuid4().hex[:8]}"
    try:
        with fs.open(tmp, "wb") as f:
            f.write(data)
        if "file" in _protocols(fs):
            os.replace(tmp, path)  # atomic on POSIX, even when path exists
        else:
            fs.mv(tmp, path)
    except BaseException:
        _silent_rm(fs, tmp)
        raise


def _merge(runs: pd.DataFrame, points: pd.DataFrame, batches: list[LogData],
           report: IngestReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merge validated batches into (runs, points); later batches and later rows win."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")

    # ---- runs: one row per run name; a later non-missing value wins, others are kept
    parts = []
    for b in batches:
        r = b.runs
        named = set(r["run"])
        extra = [x for x in _unique(b.points["run"]) if x not in named]
        if extra:
            r = pd.concat([r, pd.DataFrame({"run": pd.array(extra, dtype="string")})],
                          ignore_index=True)
        if b.source:
            r = r.assign(source=r["source"].fillna(b.source))
        parts.append(r)
    incoming = pd.concat(parts, ignore_index=True) if parts else empty_runs()
    out_runs = runs
    if len(incoming):
        # combine duplicates within the incoming rows: last non-missing value per column
        incoming = incoming.groupby("run", sort=False, dropna=False).last().reset_index()
        existing = runs.set_index("run")
        rows = []
        for d in incoming.to_dict("records"):
            name = d["run"]
            if name in existing.index:
                old = existing.loc[name].to_dict()
                upd = {k: (old.get(k) if _missing(v) else v) for k, v in d.items() if k != "run"}
                upd["ingested_at"] = old.get("ingested_at")
                if any(not _same(upd[k], old.get(k)) for k in upd):
                    upd["ingested_at"] = now
                    report.runs_updated.append(name)
                rows.append({"run": name, **upd})
            else:
                d["ingested_at"] = now
                rows.append(d)
                report.runs_added.append(name)
        touched = set(incoming["run"])
        out_runs = validate_runs(pd.concat(
            [runs[~runs["run"].isin(touched)], pd.DataFrame(rows)], ignore_index=True))

    # ---- points: the later value of a (run, metric, step) wins
    if len(batches) == 1:
        newp = batches[0].points
    else:
        newp = (pd.concat([b.points for b in batches], ignore_index=True) if batches
                else empty_points())
    points = _merge_points(points, newp, report)
    if report.runs_added or report.runs_updated:
        report.changed = True
    return out_runs, points


_VALUE_COLUMNS = [c for c in POINT_COLUMNS if c not in POINT_KEY]


def _merge_points(points: pd.DataFrame, newp: pd.DataFrame, report: IngestReport) -> pd.DataFrame:
    """Later rows win per (run, metric, step); the result is sorted by run, metric, step (NA last).

    run and metric are factorized once into sorted integer codes, so de-duplication, ordering and
    the change test are integer work on one int64 key; string columns are re-taken only when the
    order changes (string ``take`` is the expensive step).
    """
    if not len(newp):
        return points
    n_old = len(points)
    # into an empty store, the validated batch is the table as it is (no copy)
    allp = newp.reset_index(drop=True) if n_old == 0 else pd.concat([points, newp],
                                                                     ignore_index=True)
    rc, run_names = _factorize(allp["run"])
    mc, metric_names = _factorize(allp["metric"])
    step = allp["step"].to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(step)
    smin = np.min(step[finite]) if finite.any() else 0.0
    top = (np.max(step[finite]) - smin + 1) if finite.any() else 0.0
    srank = np.where(finite, step - smin, top).astype(np.int64)  # a missing step sorts last
    span = int(srank.max()) + 1
    key = (rc.astype(np.int64) * len(metric_names) + mc) * span + srank
    if np.all(key[1:] > key[:-1]):  # already sorted and unique: the usual first ingest
        win = oldest = np.arange(len(allp))
    else:
        order = np.argsort(key, kind="stable")  # ties keep row order, so later rows come last
        k = key[order]
        brk = k[1:] != k[:-1]
        win = order[np.append(brk, True)]
        oldest = order[np.insert(brk, 0, True)]
    from_new = win >= n_old
    has_old = oldest < n_old
    is_new = from_new & ~has_old
    cand = from_new & has_old
    differs = np.zeros(len(win), dtype=bool)
    if cand.any():
        for c in _VALUE_COLUMNS:
            v = allp[c].to_numpy(dtype="float64", na_value=np.nan)
            x, o = v[win[cand]], v[oldest[cand]]
            differs[cand] |= ~((x == o) | (np.isnan(x) & np.isnan(o)))
    replaced = cand & differs
    if not (is_new.any() or replaced.any()):
        return points
    report.points_added += int(is_new.sum())
    report.points_replaced += int(replaced.sum())
    report.changed = True
    if len(win) == len(allp) and np.all(win[1:] > win[:-1]):
        return allp  # order unchanged: no string take
    return allp.take(win).reset_index(drop=True)


def _blocks(s: pd.Series) -> np.ndarray | None:
    """Start of each run of equal values in a string column without missing values, or None
    where that is not cheap to find (a column not backed by Arrow, or one with NA)."""
    dt = s.dtype
    if not (isinstance(dt, pd.StringDtype) and dt.storage == "pyarrow") or len(s) < 2:
        return None
    arr = pa.array(s.array)
    if arr.null_count:
        return None
    differs = pc.not_equal(arr.slice(0, len(arr) - 1), arr.slice(1))
    return np.flatnonzero(np.concatenate(([True], np.asarray(differs, dtype=bool))))


def _factorize(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(s, sort=True)``, hashing one string per run of equal values.

    Points come grouped by run and metric, so a 10^5-10^6 row column holds a few thousand
    runs of equal values: finding them is a cheap comparison of neighbours.
    """
    starts = _blocks(s)
    if starts is None or len(starts) * 4 > len(s):
        return pd.factorize(s, sort=True)
    codes, names = pd.factorize(s.take(starts), sort=True)
    return np.repeat(codes, np.diff(np.append(starts, len(s)))), names


def _unique(s: pd.Series):
    """``pd.unique(s)`` (order of appearance) from the first row of each run of equal values."""
    starts = _blocks(s)
    return pd.unique(s) if starts is None else pd.unique(s.take(starts))


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))


def _same(a, b) -> bool:
    if _missing(a) and _missing(b):
        return True
    if _missing(a) or _missing(b):
        return False
    return a == b


def open_store(path: str | os.PathLike | None, *, create: bool = True) -> Store:
    return Store(path, create=create)


__all__ = ["Store", "LogData", "IngestReport", "open_store"]
