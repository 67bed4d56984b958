"""Store: the tidy runs + points tables, in memory or in a folder of parquet files.

On disk a store is a folder (a local path or any fsspec URL) holding snapshot files
``runs-<version>.parquet`` and ``points-<version>.parquet`` and a ``manifest.json`` that names the
current version. A write puts both new files in place first and then swaps the manifest by a
rename, so a reader (or a process killed mid-write) sees either the old or the new state, never a
mix. Writers on a local disk hold a lock file so two processes ingesting at once lose nothing.

Ingesting the same data twice changes nothing (not even the files). A run ingested again with
overlapping steps keeps the later values, as a resumed run should. Every int64 step is its own
point: keys are compared exactly, never through float or wrapping integer arithmetic.

A store folder is untrusted input. Opening one reads the manifest, then each table's parquet
footer, and refuses (with a :class:`StoreError` naming the file) a symbolic link or any file that
is not a regular one, columns or types other than the schema's, a row count other than the
manifest's or above :data:`MAX_ROWS`, data above :data:`MAX_BYTES`, all before reading the data;
then rows the schema refuses, a run listed twice, a (run, metric, step) held twice and points of
a run the runs table lacks. Files in the folder that this module did not name are left alone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scalefit.errors import SchemaError, StoreError
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
_LOCK = ".lock"
# what this module writes and may therefore delete: old snapshots and temporary files
_STALE_RE = re.compile(rf"(?:(?:runs|points)-{_VERSION_RE.pattern}\.parquet|{MANIFEST})"
                       r"(?:\.tmp-[0-9a-f]{8})?")
_MANIFEST_MAX = 1 << 16
# open a store file itself, never what a link names, and never wait on a FIFO
_O_NOFOLLOW, _O_NONBLOCK, _O_BINARY = (getattr(os, f, 0) for f in ("O_NOFOLLOW", "O_NONBLOCK",
                                                                  "O_BINARY"))
_RESTORE = ("the folder was changed outside scalefit; restore it from a backup, or ingest the "
            "logs again into a new store")

#: a snapshot table with more rows is refused from its footer, before any of it is read
MAX_ROWS = 100_000_000
#: a snapshot table with more data (uncompressed, or its text once decoded) is refused
MAX_BYTES = 16 * 2**30


@dataclass
class LogData:
    """What a reader returns: runs and points of one source, in the store schema."""

    runs: pd.DataFrame
    points: pd.DataFrame
    source: str = ""
    notes: list[str] = field(default_factory=list)
    #: (path, format) of every file or run folder read
    files: list[tuple[str, str]] = field(default_factory=list)
    #: (path, reason) of every file a folder walk left out
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def validated(self) -> LogData:
        """A copy with runs and points coerced to the store schema; a SchemaError names
        ``source``."""
        return LogData(
            validate_runs(self.runs, where=self.source or None),
            validate_points(self.points, where=self.source or None),
            self.source,
            list(self.notes),
            list(self.files),
            list(self.skipped),
        )

    def read_summary(self, limit: int = 8) -> str:
        """``read 14 files (9 formats), skipped 2: a.txt (unknown format), ...``."""
        n, k = len(self.files), len({f for _, f in self.files})
        text = f"read {n} file{'s' * (n != 1)} ({k} format{'s' * (k != 1)})"
        if self.skipped:
            shown = ", ".join(f"{p} ({why})" for p, why in self.skipped[:limit])
            more = f", and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
            text += f", skipped {len(self.skipped)}: {shown}{more}"
        return text


@dataclass
class IngestReport:
    """What :meth:`Store.ingest` changed: the runs added and those whose values changed (by
    name), the points added and those whose values changed, and whether anything did."""

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
            import fsspec  # only a store on disk needs it (fits of log files do not)

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
        """Run names, in the runs table's order."""
        return self._runs["run"].tolist()

    def metrics(self) -> list[str]:
        """Names of the metrics that have points, sorted."""
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
        """The points of ``runs`` and of ``metric`` (None: all), as a copy; unknown names
        select nothing."""
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
        """Delete runs and their points (on disk too, for a store in a folder); a name not in
        the store is a StoreError and nothing is removed."""
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
    @contextlib.contextmanager
    def _lock(self):
        if self.path is None or not self._local:
            with _MEMORY_LOCK:
                yield
            return
        st = self._lstat(_LOCK)
        if st is not None and not stat.S_ISREG(st.st_mode):
            what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            raise StoreError(f"is {what}; the store's lock must be a plain file",
                             where=self._where(_LOCK),
                             hint="remove it and run the command again; scalefit keeps "
                                  "nothing in it")
        from filelock import FileLock, Timeout

        lock = FileLock(os.path.join(self._root, _LOCK), timeout=600)
        try:
            lock.acquire()
        except Timeout:
            raise StoreError("another process has held the store's lock for 10 minutes",
                             where=self._where(_LOCK),
                             hint="wait for it to finish; remove the file only if no scalefit "
                                  "process is running") from None
        except OSError as exc:
            raise StoreError(f"cannot take the store's lock: {exc.strerror or exc}",
                             where=self._where(_LOCK),
                             hint="remove it if it is not a plain file, and check "
                                  "permissions") from None
        try:
            yield
        finally:
            lock.release()

    def _join(self, name: str) -> str:
        return self._root.rstrip("/") + "/" + name

    def _where(self, name: str) -> str:
        return self.path.rstrip("/") + "/" + name

    def _damaged(self, name: str, message: str) -> StoreError:
        return StoreError(message, where=self._where(name), hint=_RESTORE)

    def _lstat(self, name: str) -> os.stat_result | None:
        """The entry itself (a link is not followed) in a local store; None if there is none."""
        try:
            return os.lstat(os.path.join(self._root, name))
        except FileNotFoundError:
            return None

    def _exists(self, name: str) -> bool:
        if self._local:
            return self._lstat(name) is not None
        return self._fs.exists(self._join(name))

    def _open(self, name: str):
        """Open a store file for reading: in a local store only a regular file inside the folder
        (no symbolic link, FIFO or device), checked on the opened file itself."""
        if not self._local:
            return self._fs.open(self._join(name), "rb")
        path = os.path.join(self._root, name)
        link = self._damaged(name, "is a symbolic link; a store reads only files inside its "
                                   "folder")
        st = self._lstat(name)  # where O_NOFOLLOW is missing (Windows), this check alone
        if st is not None and stat.S_ISLNK(st.st_mode):
            with contextlib.suppress(OSError):
                link = self._damaged(name, f"is a symbolic link (to {os.readlink(path)!r}); a "
                                           "store reads only files inside its folder")
            raise link
        try:
            fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # swapped for a link since the check above
                raise link from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._damaged(name, "is not a regular file")
        return os.fdopen(fd, "rb")

    def _load(self, retries: int = 3) -> None:
        if not self._exists(MANIFEST):
            self._runs, self._points, self._version = empty_runs(), empty_points(), None
            return
        try:
            with self._open(MANIFEST) as f:
                raw = f.read(_MANIFEST_MAX + 1)
            if len(raw) > _MANIFEST_MAX:
                raise ValueError(f"{MANIFEST} is larger than {_MANIFEST_MAX} bytes")
            manifest = json.loads(raw)
            version = manifest["version"] if isinstance(manifest, dict) else None
            if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
                raise ValueError(f"the manifest names no valid version ({MANIFEST}: "
                                 f"{str(manifest)[:80]!r})")
            if version == self._version:
                return
            if manifest.get("format", FORMAT_VERSION) != FORMAT_VERSION:
                raise self._damaged(MANIFEST, f"format {manifest.get('format')!r} is not "
                                              f"{FORMAT_VERSION}, the one this scalefit reads")
            counts = {k: manifest.get(f"n_{k}") for k in ("runs", "points")}
            for k, n in counts.items():
                if type(n) is not int or n < 0:
                    raise self._damaged(MANIFEST, f"gives no row count n_{k} (found {n!r})")
            runs = self._read_table(f"runs-{version}.parquet", RUN_COLUMNS, counts["runs"])
            points = self._read_table(f"points-{version}.parquet", POINT_COLUMNS,
                                      counts["points"])
        except FileNotFoundError:
            if retries > 0:  # a writer replaced the snapshot between our two reads
                return self._load(retries - 1)
            raise StoreError("the store's manifest names files that are missing", where=self.path,
                             hint="the folder was changed by hand or is damaged") from None
        except StoreError:
            raise
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            raise StoreError(f"cannot read the store: {' '.join(str(exc).split())}", where=self.path,
                             hint="the folder is not a scalefit store or is damaged") from None
        self._check_tables(runs, points, version)
        self._runs, self._points, self._version = runs, points, version

    def _read_table(self, name: str, columns: dict[str, str], n_rows: int) -> pd.DataFrame:
        """One snapshot table, refused from its footer (before any data is read) when its
        columns, types or row count are not the ones the manifest and the schema promise."""
        with self._open(name) as f:
            pf = pq.ParquetFile(f, read_dictionary=[c for c, t in columns.items()
                                                    if t == "string"])
            meta = pf.metadata
            have = meta.num_rows
            if sum(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) != have:
                raise self._damaged(name, "has row groups that do not add up to its row count")
            if have > MAX_ROWS:
                raise StoreError(f"holds {have:,} rows, more than a store table may hold "
                                 f"(scalefit.store.MAX_ROWS = {MAX_ROWS:,})", where=self._where(name),
                                 hint=_RESTORE + "; if the folder is genuine, raise "
                                 "scalefit.store.MAX_ROWS")
            if have != n_rows:
                raise self._damaged(name, f"holds {have:,} row(s) where {MANIFEST} says {n_rows:,}")
            _check_schema(pf.schema_arrow, columns, lambda m: self._damaged(name, m))
            size = sum(meta.row_group(i).column(j).total_uncompressed_size
                       for i in range(meta.num_row_groups) for j in range(meta.num_columns))
            if size > MAX_BYTES:
                raise self._damaged(name, f"holds {size:,} bytes of data, more than a store reads "
                                          f"(scalefit.store.MAX_BYTES = {MAX_BYTES:,})")
            table = pf.read(columns=list(columns))
        if table.num_rows != have:
            raise self._damaged(name, f"holds {table.num_rows:,} rows where its footer says {have:,}")
        return _to_frame(table, columns, lambda m: self._damaged(name, m))

    def _check_tables(self, runs: pd.DataFrame, points: pd.DataFrame, version: str) -> None:
        """What every write keeps true: valid rows, one row per run and per (run, metric, step),
        and no point of a run the runs table lacks."""
        rname, pname = f"runs-{version}.parquet", f"points-{version}.parquet"
        try:
            validate_runs(runs)
        except SchemaError as exc:
            raise self._damaged(rname, exc.message) from None
        try:
            validate_points(points)
        except SchemaError as exc:
            raise self._damaged(pname, exc.message) from None
        dup = _first_duplicate(points)
        if dup is not None:
            run, metric, step = (points[c].iloc[dup] for c in POINT_KEY)
            raise self._damaged(pname, f"holds run {run!r}, metric {metric!r}, step "
                                       f"{'none' if pd.isna(step) else int(step)} more than once")
        ghosts = pd.Index(_unique(points["run"])).difference(pd.Index(runs["run"]))
        if len(ghosts):
            raise self._damaged(pname, f"holds points of run {ghosts[0]!r}, which {rname} lacks")

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
        # under the lock: drop older snapshots and temporary files of writers that were killed;
        # only regular files named as this module names them (anything else is not ours)
        keep = {f"runs-{version}.parquet", f"points-{version}.parquet", MANIFEST}
        try:
            entries = self._fs.ls(self._root, detail=True)
        except OSError:
            entries = []
        for e in entries:
            name = e["name"].rstrip("/").rsplit("/", 1)[-1]
            if name in keep or not _STALE_RE.fullmatch(name):
                continue
            st = self._lstat(name) if self._local else None
            regular = stat.S_ISREG(st.st_mode) if st is not None else (
                not self._local and e.get("type") == "file")
            if regular:
                _silent_rm(self._fs, self._join(name))


# ---------------------------------------------------------------------- helpers
def _protocols(fs) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def _silent_rm(fs, path: str) -> None:
    try:
        if fs.exists(path):
            fs.rm(path)
    except (OSError, ValueError):
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


def _check_schema(schema: pa.Schema, columns: dict[str, str], fail) -> None:
    names = list(schema.names)
    extra = [n for n in names if n not in columns]
    missing = [c for c in columns if c not in names]
    if extra:
        raise fail(f"has column(s) {extra[:5]} that a store table does not; it has exactly "
                   f"{list(columns)}")
    if missing:
        raise fail(f"lacks column(s) {missing}; a store table has exactly {list(columns)}")
    if len(set(names)) != len(names):
        raise fail("names a column more than once")
    for c, t in columns.items():
        typ = schema.field(c).type
        if pa.types.is_dictionary(typ):
            typ = typ.value_type
        ok = {"string": pa.types.is_string(typ) or pa.types.is_large_string(typ),
              "Int64": typ == pa.int64(), "float64": typ == pa.float64()}[t]
        if not ok:
            raise fail(f"column {c!r} is {typ}, not {t.lower()}")


def _to_frame(table: pa.Table, columns: dict[str, str], fail) -> pd.DataFrame:
    """Text columns are read dictionary-encoded: their decoded size is checked before they are
    decoded, so a short value repeated on many rows cannot fill the memory."""
    text = 0
    for c, t in columns.items():
        if t != "string":
            continue
        for chunk in table.column(c).chunks:
            if pa.types.is_dictionary(chunk.type):
                lengths = pc.binary_length(chunk.dictionary)
                text += (pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0) if len(chunk) else 0
    if text > MAX_BYTES:
        raise fail(f"holds {text:,} bytes of text, more than a store reads "
                   f"(scalefit.store.MAX_BYTES = {MAX_BYTES:,})")
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
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
    the change test are integer work (see :func:`_point_keys`); string columns are re-taken only
    when the order changes (string ``take`` is the expensive step).
    """
    if not len(newp):
        return points
    n_old = len(points)
    # into an empty store, the validated batch is the table as it is (no copy)
    allp = newp.reset_index(drop=True) if n_old == 0 else pd.concat([points, newp],
                                                                     ignore_index=True)
    keys = _point_keys(allp)
    if _increasing(keys):  # already sorted and unique: the usual first ingest
        win = oldest = np.arange(len(allp))
    else:
        order, brk = _sorted_groups(keys)  # ties keep row order, so later rows come last
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


def _point_keys(p: pd.DataFrame) -> list[np.ndarray]:
    """Integer keys that order points exactly by (run, metric, step), NA steps last; the most
    significant key comes last (``np.lexsort`` order).

    One int64 key where (run, metric, step rank) packs into it without overflow (checked in
    Python integers), else the columns' codes and the steps themselves: every int64 step stays
    distinct (float arithmetic would merge steps beyond 2**53, packing would wrap around).
    """
    rc, run_names = _factorize(p["run"])
    mc, metric_names = _factorize(p["metric"])
    step = p["step"]
    na = step.isna().to_numpy()
    sv = step.to_numpy(dtype="int64", na_value=0)
    fin = ~na
    lo, hi = (int(sv[fin].min()), int(sv[fin].max())) if fin.any() else (0, 0)
    span = hi - lo + 2  # the last slot is for a missing step
    if len(run_names) * len(metric_names) * span <= np.iinfo(np.int64).max:
        if na.any():
            sv = np.where(na, lo, sv)
        srank = np.where(na, span - 1, sv - lo)  # exact: 0 <= sv - lo <= hi - lo < 2**63
        return [(rc.astype(np.int64) * len(metric_names) + mc) * span + srank]
    return [sv, na, mc, rc]


def _increasing(keys: list[np.ndarray]) -> bool:
    """Whether the rows are in strictly increasing key order (sorted, no key twice)."""
    if len(keys) == 1:
        return bool(np.all(keys[0][1:] > keys[0][:-1]))
    gt = np.zeros(max(len(keys[0]) - 1, 0), dtype=bool)
    eq = ~gt
    for k in reversed(keys):
        a, b = k[:-1], k[1:]
        gt |= eq & (b > a)
        eq &= b == a
    return bool(gt.all())


def _sorted_groups(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The rows in key order (equal keys in row order) and where the key changes between
    neighbours of that order."""
    if len(keys) == 1:
        order = np.argsort(keys[0], kind="stable")
    else:
        order = np.lexsort([np.arange(len(keys[0])), *keys])
    brk = np.zeros(max(len(order) - 1, 0), dtype=bool)
    for k in keys:
        ks = k[order]
        brk |= ks[1:] != ks[:-1]
    return order, brk


def _first_duplicate(points: pd.DataFrame) -> int | None:
    """Row of a (run, metric, step) that some other row also holds, or None."""
    if len(points) < 2:
        return None
    keys = _point_keys(points)
    if _increasing(keys):  # what a store writes
        return None
    order, brk = _sorted_groups(keys)
    same = np.flatnonzero(~brk)
    return int(order[same[0]]) if len(same) else None


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
    """``Store(path, create=create)``: a folder or fsspec URL, or None for memory only."""
    return Store(path, create=create)


__all__ = ["Store", "LogData", "IngestReport", "open_store"]


_SIZE_WORDS = {"params": "params N", "tokens_total": "tokens D", "flops_total": "FLOPs C"}


def sizes_from_names(runs: pd.DataFrame) -> list[str]:
    """One line per run whose model size or token count comes from its name (``190M`` ->
    1.9e8) rather than from its data or a config, as ``meta["sources"]`` records it; a
    number read from a name is a guess the user should see."""
    out = []
    for run, meta in zip(runs["run"], runs["meta"], strict=True):
        try:
            src = (json.loads(meta) if isinstance(meta, str) else {}).get("sources") or {}
        except ValueError:
            continue
        guessed = [f"{_SIZE_WORDS[k]} = {runs.loc[runs['run'] == run, k].iloc[0]:.3g}"
                   for k, s in src.items()
                   if k in _SIZE_WORDS and "run name" in str(s) and k in runs.columns]
        if guessed:
            out.append(f"{run}: {', '.join(guessed)} read from the run's name (no config or "
                       "column gives it; put a config beside the log or pass --params/--tokens)")
    return out
