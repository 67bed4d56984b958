"""Store under faults: concurrent writers lose nothing; a killed writer leaves a readable store."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from scalefit import Store

_WRITER = textwrap.dedent("""
    import sys, numpy as np, pandas as pd
    from scalefit import Store, LogData
    path, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(n):
        run = f"{prefix}-{i}"
        pts = pd.DataFrame({"run": run, "step": np.arange(50), "metric": "loss",
                            "value": np.linspace(4, 3, 50)})
        Store(path).ingest(LogData(pd.DataFrame({"run": [run]}), pts, f"{run}.csv"))
""")


@pytest.mark.slow
def test_two_processes_ingesting_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "s")
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, path, p, "8"]) for p in ("a", "b")]
    for p in procs:
        assert p.wait(timeout=120) == 0
    s = Store(path)
    assert len(s.runs) == 16
    assert len(s.points) == 16 * 50


_BIG = textwrap.dedent("""
    import sys, numpy as np, pandas as pd
    from scalefit import Store, LogData
    path = sys.argv[1]
    n = 3_000_000
    pts = pd.DataFrame({"run": "big", "step": np.arange(n), "metric": "loss",
                        "value": np.random.default_rng(0).random(n)})
    print("ready", flush=True)
    Store(path).ingest(LogData(pd.DataFrame({"run": ["big"]}), pts, "big.csv"))
    print("done", flush=True)
""")


@pytest.mark.slow
def test_sigkill_during_ingest_leaves_old_or_new_state(tmp_path):
    path = str(tmp_path / "s")
    base = pd.DataFrame({"run": "small", "step": range(10), "metric": "loss",
                         "value": [float(i) for i in range(10)]})
    Store(path).add(points=base)
    outcomes = set()
    for delay in (0.3, 0.8, 1.5):
        p = subprocess.Popen([sys.executable, "-c", _BIG, path], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        s = Store(path)  # opens without error
        runs = set(s.runs["run"])
        assert runs in ({"small"}, {"small", "big"})
        n_small = int((s.points["run"] == "small").sum())
        assert n_small == 10
        outcomes.add("new" if "big" in runs else "old")
        # stray temporary files never become part of the store
        assert len(s.points) in (10, 10 + 3_000_000)
    print(f"SIGKILL outcomes seen: {sorted(outcomes)}")


def test_stray_temporary_files_are_cleaned_by_next_write(tmp_path):
    s = Store(tmp_path / "s")
    s.add(points=pd.DataFrame({"run": "a", "step": [1], "metric": "loss", "value": [1.0]}))
    (tmp_path / "s" / "points-x.parquet.tmp-deadbeef").write_bytes(b"partial")
    s.add(points=pd.DataFrame({"run": "b", "step": [1], "metric": "loss", "value": [1.0]}))
    names = sorted(p.name for p in (tmp_path / "s").iterdir() if not p.name.startswith(".lock"))
    assert len(names) == 3 and names[0] == "manifest.json"
    assert not any(".tmp-" in n for n in names)
