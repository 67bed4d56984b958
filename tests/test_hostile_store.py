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
import pytest
from _hostile_log import hostile_summary, record_check, record_fault  # noqa: F401

from scalefit import cli
from scalefit import store as store_mod
from scalefit.errors import StoreError
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
