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
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
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
            for b in batches:
                runs, points = _merge(runs, points, b, report)
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

    def _load(self) -> None:
        mpath = self._join(MANIFEST)
        if not self._fs.exists(mpath):
            self._runs, self._points, self._version = empty_runs(), empty_points(), None
            return
        try:
            with self._fs.open(mpath, "r") as f:
                manifest = json.load(f)
            version = manifest["version"]
            if version == self._version:
                return
            runs = _read_parquet(self._fs, self._join(f"runs-{version}.parquet"), RUN_COLUMNS)
            points = _read_parquet(self._fs, self._join(f"points-{version}.parquet"), POINT_COLUMNS)
        except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
            raise StoreError(f"cannot read the store: {exc}", where=self.path,
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
        except OSError as exc:
            for p in new_files:
                _silent_rm(self._fs, p)
            raise StoreError(f"cannot write the store: {exc}", where=self.path,
                             hint="nothing was changed; check free space and permissions") from None
        old = self._version
        self._version = version
        if old is not None:
            for name in (f"runs-{old}.parquet", f"points-{old}.parquet"):
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
    with fs.open(tmp, "wb") as f:
        pq.write_table(table, f, compression="zstd")
    fs.mv(tmp, path)


def _read_parquet(fs, path: str, columns: dict[str, str]) -> pd.DataFrame:
    with fs.open(path, "rb") as f:
        table = pq.read_table(f)
    df = table.to_pandas()
    return pd.DataFrame({c: df[c].astype(t) for c, t in columns.items()})


def _atomic_write_bytes(fs, path: str, data: bytes) -> None:
    tmp = path + f".tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(tmp, "wb") as f:
        f.write(data)
    if "file" in _protocols(fs):
        os.replace(tmp, path)  # atomic on POSIX, even when path exists
    else:
        fs.mv(tmp, path)


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if len(a) != len(b):
        return False
    try:
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                      check_dtype=False)
        return True
    except AssertionError:
        return False


def _merge(runs: pd.DataFrame, points: pd.DataFrame, batch: LogData,
           report: IngestReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    new_runs = batch.runs.copy()
    if batch.source:
        new_runs["source"] = new_runs["source"].fillna(batch.source)
    # runs named only in points get a row too
    extra = sorted(set(batch.points["run"].unique()) - set(new_runs["run"]))
    if extra:
        new_runs = validate_runs(pd.concat([new_runs, pd.DataFrame({"run": extra})],
                                           ignore_index=True))
        new_runs["source"] = new_runs["source"].fillna(batch.source or pd.NA)

    # ---- runs: new non-missing values win, other fields are kept
    existing = runs.set_index("run")
    merged_rows = []
    for row in new_runs.itertuples(index=False):
        d = row._asdict()
        name = d["run"]
        if name in existing.index:
            old = existing.loc[name].to_dict()
            upd = {k: (v if not _missing(v) else old.get(k)) for k, v in d.items() if k != "run"}
            upd["ingested_at"] = old.get("ingested_at")
            changed = any(not _same(upd[k], old.get(k)) for k in upd)
            if changed:
                upd["ingested_at"] = now
                report.runs_updated.append(name)
            upd["run"] = name
            merged_rows.append(upd)
        else:
            d["ingested_at"] = now
            merged_rows.append(d)
            report.runs_added.append(name)
    touched = {r["run"] for r in merged_rows}
    out_runs = pd.concat(
        [runs[~runs["run"].isin(touched)], validate_runs(pd.DataFrame(merged_rows))],
        ignore_index=True,
    ) if merged_rows else runs
    out_runs = validate_runs(out_runs)

    # ---- points: the later value of a (run, metric, step) wins
    newp = batch.points
    if len(newp):
        old_sel = points[points["run"].isin(newp["run"].unique())]
        both = pd.concat([points, newp], ignore_index=True)
        before = len(points)
        both = both.drop_duplicates(POINT_KEY, keep="last")
        both = both.sort_values(["run", "metric", "step"], kind="stable", na_position="last")
        both = both.reset_index(drop=True)
        added = len(both) - before
        # compare only the touched runs to decide whether anything changed
        new_sel = both[both["run"].isin(newp["run"].unique())]
        if not _frames_equal(_canon(old_sel), _canon(new_sel)):
            report.changed = True
            report.points_added += max(added, 0)
            report.points_replaced += len(newp) - max(added, 0)
            points = both
    if report.runs_added or report.runs_updated:
        report.changed = True
    return out_runs, points


def _canon(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["run", "metric", "step"], kind="stable", na_position="last")


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
