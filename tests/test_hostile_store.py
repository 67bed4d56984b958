"""The store under faults: a killed ingest, two writers at once, a full disk, a damaged folder.

Each leaves a store that opens and holds either its state before or its state after the
operation; a write that cannot finish raises a StoreError that names the folder.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import fsspec.implementations.local as fs_local
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _hostile_log import hostile_summary, record_check, record_fault  # noqa: F401

from scalefit import cli
from scalefit import store as store_mod
from scalefit.errors import StoreError
from scalefit.io import read_logs
from scalefit.store import Store

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def _digest(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in sorted(os.listdir(folder)) if not n.startswith(".lock")}


def _state(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a store holds, without the ingest times (they differ between two equal ingests)."""
    s = Store(path, create=False)
    return s.runs.drop(columns="ingested_at"), s.points


def _same(a, b) -> bool:
    try:
        pd.testing.assert_frame_equal(a[0], b[0])
        pd.testing.assert_frame_equal(a[1], b[1])
    except AssertionError:
        return False
    return True


def _big_csv(path: Path, n: int = 150_000) -> Path:
    step = np.arange(n)
    loss = 4 - np.log1p(step) / 10
    with open(path, "w") as f:
        f.write("step,loss,val_loss,lr\n")
        np.savetxt(f, np.column_stack([step, loss, loss + 0.1, np.full(n, 1e-3)]),
                   fmt=["%d", "%.6f", "%.6f", "%.3g"], delimiter=",")
    return path


@pytest.fixture()
def base_store(tmp_path):
    s = tmp_path / "base"
    assert cli.run(["ingest", str(SAMPLES / "wide.csv"), "--store", str(s)]) == 0
    return s


# ----------------------------------------------------------------------------- SIGKILL
def _kill_when(proc: subprocess.Popen, folder: Path, when: str, timeout: float = 60) -> str:
    """SIGKILL ``proc`` at a moment of its ingest; returns what was seen when it was killed."""
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < timeout:
        names = os.listdir(folder)
        seen = (when == "early" and time.monotonic() - t0 > 0.4
                or when == "parquet" and any(".parquet.tmp-" in n for n in names)
                or when == "points" and sum(n.startswith("points-") and n.endswith(".parquet")
                                            for n in names) > 1
                or when == "manifest" and any(n.startswith("manifest.json.tmp-") for n in names))
        if seen:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            return when
        time.sleep(0.0005)
    proc.wait(timeout=30)
    return "finished first"


@pytest.mark.slow
def test_sigkill_during_cli_ingest_leaves_state_before_or_after(tmp_path, base_store):
    big = _big_csv(tmp_path / "big.csv")
    before = _state(base_store)
    ref = tmp_path / "ref"
    shutil.copytree(base_store, ref)
    assert cli.run(["ingest", str(big), "--store", str(ref)]) == 0
    after = _state(ref)
    assert len(after[1]) == len(before[1]) + 300_000
    seen = []
    for when in ("early", "parquet", "points", "manifest"):
        s = tmp_path / f"s-{when}"
        shutil.copytree(base_store, s)
        proc = subprocess.Popen([sys.executable, "-m", "scalefit", "ingest", str(big),
                                 "--store", str(s)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        seen.append(_kill_when(proc, s, when))
        record_fault(f"SIGKILL during ingest ({seen[-1]})")
        now = _state(s)  # opens without error
        ok = _same(now, before) or _same(now, after)
        record_check("store equals its state before or after a killed ingest", ok, when)
        assert ok, f"killed at {when}: the store is neither the old nor the new state"
    # the next ingest completes and cleans what the killed one left
    assert cli.run(["ingest", str(big), "--store", str(s)]) == 0
    assert _same(_state(s), after)
    assert not any(".tmp-" in n for n in os.listdir(s))
    assert "parquet" in seen or "points" in seen or "manifest" in seen, seen


# ----------------------------------------------------------------------------- two writers
_WRITER = textwrap.dedent("""
    import sys
    from scalefit import cli
    store, files = sys.argv[1], sys.argv[2:]
    for f in files:
        assert cli.run(["ingest", f, "--store", store]) == 0
""")


@pytest.mark.slow
def test_two_cli_processes_ingesting_at_once_lose_no_rows(tmp_path, base_store):
    files = {p: [] for p in "ab"}
    n_points = 0
    for p in "ab":
        for i in range(4):
            f = tmp_path / f"{p}{i}-run.csv"
            steps = np.arange(1, 201 + 10 * i)
            pd.DataFrame({"step": steps, "loss": 4 - np.log(steps) / 5,
                          "val_loss": 4.1 - np.log(steps) / 5}).to_csv(f, index=False)
            files[p].append(str(f))
            n_points += 2 * len(steps)
    before = Store(base_store).points
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(base_store), *files[p]])
             for p in "ab"]
    for p in procs:
        assert p.wait(timeout=120) == 0
    record_fault("two processes ingesting into one store", 8)
    s = Store(base_store)
    names = set(s.runs["run"])
    ok = {f"{p}{i}-run" for p in "ab" for i in range(4)} <= names
    ok &= len(s.points) == len(before) + n_points
    record_check("no rows lost by two concurrent writers", ok)
    assert ok, (sorted(names), len(s.points), len(before) + n_points)


# ----------------------------------------------------------------------------- full disk
class _DiskFull:
    """Fail the ``n``-th write (1-based) to any local file with ENOSPC."""

    def __init__(self, n: int):
        self.n, self.calls, self.fired = n, 0, False
        self._orig = fs_local.LocalFileOpener.write

    def __call__(self, opener, data):
        self.calls += 1
        if self.calls == self.n:
            self.fired = True
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._orig(opener, data)


def _patch_write(monkeypatch, hook: _DiskFull) -> None:
    monkeypatch.setattr(fs_local.LocalFileOpener, "write", lambda f, data: hook(f, data))


def test_full_disk_at_every_write_gives_store_error_and_old_state(tmp_path, base_store,
                                                                 monkeypatch, capsys):
    from scalefit.io import read_logs

    new = SAMPLES / "long.csv"
    data = read_logs(new)
    before_digest = _digest(base_store)
    before = _state(base_store)
    # count the writes of a successful ingest, on a copy
    counter = _DiskFull(0)
    _patch_write(monkeypatch, counter)
    shutil.copytree(base_store, tmp_path / "copy")
    Store(tmp_path / "copy").ingest(data)
    monkeypatch.undo()
    assert counter.calls >= 3  # runs file, points file, manifest
    # every write is one chunk of a parquet file or the manifest: hit a spread of them, the last
    # (the manifest) included
    hits = sorted({1, 2, 3, *np.linspace(1, counter.calls, 12, dtype=int).tolist()})
    for n in hits:
        st = Store(base_store)
        _patch_write(monkeypatch, _DiskFull(n))
        with pytest.raises(StoreError) as exc:
            st.ingest(data)
        monkeypatch.undo()
        record_fault("ENOSPC on a store write")
        assert str(base_store) in str(exc.value) and "No space left" in str(exc.value)
        same = _digest(base_store) == before_digest
        record_check("store unchanged after a full disk", same)
        assert same, f"write {n}: the store changed"
        assert _same(_state(base_store), before)
        assert len(st.points) == len(before[1])  # the open store object is unchanged too

    # through the CLI: one line, exit 2, store unchanged
    _patch_write(monkeypatch, _DiskFull(1))
    capsys.readouterr()
    assert cli.run(["ingest", str(new), "--store", str(base_store)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and str(base_store) in err
    assert _digest(base_store) == before_digest


@pytest.mark.parametrize("target", ["mv", "replace"])
def test_failing_rename_gives_store_error_and_old_state(base_store, monkeypatch, target):
    before_digest = _digest(base_store)

    def fail(*a, **k):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    if target == "mv":
        monkeypatch.setattr(fs_local.LocalFileSystem, "mv", fail)
    else:
        monkeypatch.setattr(store_mod.os, "replace", fail)
    from scalefit.io import read_logs

    with pytest.raises(StoreError) as exc:
        Store(base_store).ingest(read_logs(SAMPLES / "long.csv"))
    monkeypatch.undo()
    assert str(base_store) in str(exc.value)
    assert _digest(base_store) == before_digest
    record_fault(f"EIO on {target}")


# ----------------------------------------------------------------------------- damaged folder
def _parquet_of(folder: Path, kind: str) -> Path:
    return folder / f"{kind}-{json.loads((folder / 'manifest.json').read_text())['version']}.parquet"


DAMAGE = {
    "manifest garbage": lambda s: (s / "manifest.json").write_bytes(b"\x00\xff garbage"),
    "manifest empty": lambda s: (s / "manifest.json").write_bytes(b""),
    "manifest truncated": lambda s: (s / "manifest.json").write_bytes(
        (s / "manifest.json").read_bytes()[:20]),
    "manifest a list": lambda s: (s / "manifest.json").write_text("[1, 2]"),
    "manifest no version": lambda s: (s / "manifest.json").write_text('{"format": 1}'),
    "manifest version a number": lambda s: (s / "manifest.json").write_text('{"version": 5}'),
    "manifest version a path": lambda s: (s / "manifest.json").write_text(
        '{"version": "../../elsewhere"}'),
    "manifest names missing files": lambda s: (s / "manifest.json").write_text(
        '{"format": 1, "version": "20990101T000000000000-deadbeef"}'),
    "points parquet truncated": lambda s: _parquet_of(s, "points").write_bytes(
        _parquet_of(s, "points").read_bytes()[:300]),
    "points parquet random": lambda s: _parquet_of(s, "points").write_bytes(
        np.random.default_rng(0).bytes(2000)),
    "runs parquet wrong columns": lambda s: pd.DataFrame({"x": [1]}).to_parquet(
        _parquet_of(s, "runs")),
    "points parquet wrong types": lambda s: pd.DataFrame(
        {c: ["text"] for c in ("run", "step", "tokens", "flops", "lr", "metric", "value")}
    ).to_parquet(_parquet_of(s, "points")),
    "points parquet deleted": lambda s: _parquet_of(s, "points").unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_store_gives_store_error_naming_the_folder(base_store, damage, capsys):
    DAMAGE[damage](base_store)
    record_fault(f"damaged store: {damage}")
    before = _digest(base_store)
    with pytest.raises(StoreError) as exc:
        Store(base_store)
    assert str(base_store) in str(exc.value)
    for argv in (["runs", "--store", str(base_store)],
                 ["ingest", str(SAMPLES / "long.csv"), "--store", str(base_store)]):
        capsys.readouterr()
        assert cli.run(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and str(base_store) in err
    same = _digest(base_store) == before
    record_check("damaged store left as it was (not overwritten)", same, damage)
    assert same


def test_store_path_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "not-a-folder"
    f.write_text("x")
    with pytest.raises(StoreError) as exc:
        Store(f)
    assert str(f) in str(exc.value)
    assert cli.run(["ingest", str(SAMPLES / "wide.csv"), "--store", str(f)]) == 2
    assert f.read_text() == "x"
    record_fault("store path is a file")


# ----------------------------------------------------------------------------- forged folder
def _tree(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` as it is on disk (links not followed, the lock file left out)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            elif not p.is_file():
                out[rel] = ("special", p.lstat().st_mode)
            elif rel != ".lock":
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _set_manifest(folder: Path, **fields) -> None:
    (folder / "manifest.json").write_text(json.dumps({**_manifest(folder), **fields}))


def _rewrite(folder: Path, kind: str, edit, count: bool = True) -> None:
    """Replace a snapshot table by ``edit(table)``, written like the store writes it."""
    path = _parquet_of(folder, kind)
    df = edit(pd.read_parquet(path))
    columns = store_mod.POINT_COLUMNS if kind == "points" else store_mod.RUN_COLUMNS
    df.to_parquet(path, schema=store_mod._schema(columns), index=False)
    if count:
        _set_manifest(folder, **{f"n_{kind}": len(df)})


def _symlink_outside(folder: Path, name: str) -> None:
    target = folder.parent / f"outside-{name}"
    shutil.copy(folder / name, target)
    (folder / name).unlink()
    (folder / name).symlink_to(target)


def _symlink_snapshot(kind: str):
    def forge(s: Path) -> str:
        name = _parquet_of(s, kind).name
        _symlink_outside(s, name)
        return name
    return forge


def _lock_link(s: Path) -> str:
    target = s.parent / "precious.txt"
    target.write_text("keep me")
    if (s / ".lock").exists() or (s / ".lock").is_symlink():
        (s / ".lock").unlink()
    (s / ".lock").symlink_to(target)
    return ".lock"


def _lock_dir(s: Path) -> str:
    if (s / ".lock").exists():
        (s / ".lock").unlink()
    (s / ".lock").mkdir()
    return ".lock"


def _fifo(s: Path) -> str:
    path = _parquet_of(s, "points")
    path.unlink()
    os.mkfifo(path)  # reading it would wait for a writer forever
    return path.name


def _forge(kind: str, edit, count: bool = True):
    def forge(s: Path) -> str:
        _rewrite(s, kind, edit, count)
        return _parquet_of(s, kind).name
    return forge


def _dup_first(df: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df, df.iloc[:1]], ignore_index=True)


def _run_twice(df: pd.DataFrame) -> pd.DataFrame:
    twice = df.iloc[:1].assign(params=-5.0)
    return pd.concat([df, twice], ignore_index=True)


def _manifest_link(s: Path) -> str:
    _symlink_outside(s, "manifest.json")
    return "manifest.json"


def _count_off(kind: str):
    def forge(s: Path) -> str:
        _set_manifest(s, **{f"n_{kind}": _manifest(s)[f"n_{kind}"] + 1})
        return _parquet_of(s, kind).name
    return forge


def _no_counts(s: Path) -> str:
    m = _manifest(s)
    (s / "manifest.json").write_text(json.dumps({"format": 1, "version": m["version"]}))
    return "manifest.json"


FORGED = {
    "points file a symlink outside the folder": _symlink_snapshot("points"),
    "runs file a symlink outside the folder": _symlink_snapshot("runs"),
    "manifest a symlink outside the folder": _manifest_link,
    "points file a FIFO": _fifo,
    ".lock a symlink": _lock_link,
    ".lock a folder": _lock_dir,
    "duplicate (run, metric, step) keys": _forge("points", _dup_first),
    "duplicate keys, manifest count unchanged": _forge("points", _dup_first, count=False),
    "a run listed twice with params -5": _forge("runs", _run_twice),
    "points of a run the runs table lacks": _forge(
        "points", lambda df: pd.concat([df, df.iloc[:1].assign(run="ghost")], ignore_index=True)),
    "points row count differs from the manifest": _count_off("points"),
    "runs row count differs from the manifest": _count_off("runs"),
    "manifest without row counts": _no_counts,
    "points without a metric name": _forge("points", lambda df: df.assign(metric=None)),
    "step stored as float": lambda s: (pd.read_parquet(_parquet_of(s, "points")).astype(
        {"step": "float64"}).to_parquet(_parquet_of(s, "points")), _parquet_of(s, "points").name)[1],
    "an extra column": lambda s: (pd.read_parquet(_parquet_of(s, "runs")).assign(x=1).to_parquet(
        _parquet_of(s, "runs")), _parquet_of(s, "runs").name)[1],
}


@pytest.mark.parametrize("forgery", list(FORGED))
def test_forged_store_is_refused_naming_the_file_and_left_as_it_is(tmp_path, base_store,
                                                                   forgery, capsys):
    name = FORGED[forgery](base_store)
    record_fault(f"forged store: {forgery}")
    before = _tree(base_store)
    outside = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(StoreError) as exc:
        st = Store(base_store)
        st.ingest(read_logs(SAMPLES / "long.csv"))
    msg = str(exc.value)
    lock = name == ".lock"  # only writers take the lock: reading needs none
    assert str(base_store / name) in msg, msg
    assert exc.value.hint and ("remove it" if lock else "restore") in exc.value.hint, msg
    for argv, rc in ((["runs", "--store", str(base_store)], 0 if lock else 2),
                     (["ingest", str(SAMPLES / "long.csv"), "--store", str(base_store)], 2)):
        capsys.readouterr()
        assert cli.run(argv) == rc
        if rc == 0:
            continue
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and name in err, err
    same = _tree(base_store) == before and outside == {
        p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    record_check("forged store left as it was", same, forgery)
    assert same


def test_foreign_folders_and_files_in_a_store_are_left_alone(tmp_path, base_store, capsys):
    foreign = ["points-x", "runs-y", "points-1.parquet", "a.tmp-1", "manifest.json.tmp-deadbeef"]
    for d in foreign:
        (base_store / d).mkdir()
        (base_store / d / "inside.txt").write_text(d)
    (base_store / "points-notes.csv").write_text("mine")
    (base_store / "README").write_text("mine too")
    (tmp_path / "elsewhere.parquet").write_bytes(b"not the store's")
    (base_store / "runs-old.parquet").symlink_to(tmp_path / "elsewhere.parquet")
    theirs = {k: v for k, v in _tree(base_store).items()
              if not k.startswith(("manifest.json", "points-2", "runs-2")) or "/" in k
              or k.endswith("tmp-deadbeef")}
    want = len(Store(base_store).points)
    for f in ("long.csv", "wide.tsv"):
        capsys.readouterr()
        assert cli.run(["ingest", str(SAMPLES / f), "--store", str(base_store)]) == 0, \
            capsys.readouterr().err
        want += len(read_logs(SAMPLES / f).points)
    now = _tree(base_store)
    assert {k: now.get(k) for k in theirs} == theirs
    assert now["runs-old.parquet"][0] == "link"
    assert (tmp_path / "elsewhere.parquet").read_bytes() == b"not the store's"
    s = Store(base_store)
    assert len(s.points) == want
    snapshots = [n for n in os.listdir(base_store)
                 if (base_store / n).is_file() and not (base_store / n).is_symlink()
                 and n.endswith(".parquet")]
    assert sorted(snapshots) == sorted([_parquet_of(base_store, "points").name,
                                        _parquet_of(base_store, "runs").name])
    record_check("foreign files in a store left alone", True)


_BOMB = textwrap.dedent("""
    import json, resource, sys
    import pyarrow as pa, pyarrow.parquet as pq
    from scalefit import store as store_mod
    from scalefit.errors import StoreError
    folder, n_chunks, cap = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if cap != "-":
        store_mod.MAX_ROWS = int(cap)
    man = json.load(open(folder + "/manifest.json"))
    sch = store_mod._schema(store_mod.POINT_COLUMNS)
    n = 1_000_000
    idx = pa.array([0] * n, pa.int32())
    chunk = pa.table({"run": pa.array(["x"]).take(idx), "step": pa.nulls(n, pa.int64()),
                      "tokens": pa.nulls(n, pa.float64()), "flops": pa.nulls(n, pa.float64()),
                      "lr": pa.nulls(n, pa.float64()), "metric": pa.array(["loss"]).take(idx),
                      "value": pa.nulls(n, pa.float64())}, schema=sch)
    path = f"{folder}/points-{man['version']}.parquet"
    with pq.ParquetWriter(path, sch, compression="zstd") as w:
        for _ in range(n_chunks):
            w.write_table(chunk)
    del chunk, idx
    if cap != "-":
        man["n_points"] = n_chunks * n
        json.dump(man, open(folder + "/manifest.json", "w"))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        store_mod.Store(folder)
    except StoreError as exc:
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
        print(json.dumps({"error": str(exc), "grew_mb": grew / 1024}))
""")


@pytest.mark.slow
@pytest.mark.parametrize("cap", ["-", "5000000"])
def test_parquet_bomb_is_refused_before_it_is_read(base_store, cap):
    """20 million rows in a few MB: refused from the file's footer, with no memory spent."""
    proc = subprocess.run([sys.executable, "-c", _BOMB, str(base_store), "20", cap],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "points-" in out["error"] and "20,000,000" in out["error"], out
    assert out["grew_mb"] < 100, out  # reading it would take more than 1 GB
    record_fault("parquet bomb")


def test_text_that_decodes_to_more_than_the_cap_is_refused(base_store, monkeypatch):
    """A long run name on every row: a few kB on disk, many times that once decoded."""
    monkeypatch.setattr(store_mod, "MAX_BYTES", 10_000_000)
    n = 20_000
    name = "r" * 1000
    sch = store_mod._schema(store_mod.POINT_COLUMNS)
    table = pa.table({"run": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, "int32")),
                                                            pa.array([name])),
                      "step": pa.array(np.arange(n)), "tokens": pa.nulls(n, pa.float64()),
                      "flops": pa.nulls(n, pa.float64()), "lr": pa.nulls(n, pa.float64()),
                      "metric": pa.array(["loss"] * n), "value": pa.array(np.ones(n))})
    path = _parquet_of(base_store, "points")
    pq.write_table(table.cast(pa.schema([sch.field(i).with_type(table.schema.field(i).type)
                                         for i in range(len(sch))])), path, compression="zstd")
    _set_manifest(base_store, n_points=n)
    assert path.stat().st_size < 200_000
    before = _tree(base_store)
    with pytest.raises(StoreError, match=f"{n * (len(name) + len('loss')):,} bytes of text") as exc:
        Store(base_store)
    assert path.name in str(exc.value) and "MAX_BYTES" in str(exc.value)
    assert _tree(base_store) == before
    record_fault("text bomb")
