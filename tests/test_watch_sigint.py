"""`scalefit watch` in its own process, stopped with Ctrl-C (SIGINT) as a user stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from test_watch import SPEC, _run, _write_csv


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_sigint_stops_watch_cleanly_with_its_last_forecast(tmp_path):
    log = _write_csv(tmp_path / "run.csv", *_run(3000))
    before = log.read_bytes()
    out = tmp_path / "w.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "scalefit", "watch", str(log), "--schedule",
                             SPEC, "--interval", "2", "--json", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = ""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # the first forecast, then the wait for new lines
            first = proc.stdout.readline()
            if first.startswith("step ") or not first:
                break
        assert first.startswith("step 2960/6000"), first
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = (first + rest).strip().splitlines()
    assert lines[-1].startswith("step 2960/6000: final loss at step 5999"), lines[-3:]
    # the log is only read, and the record written is whole
    assert log.read_bytes() == before
    assert '"forecast"' in out.read_text()
