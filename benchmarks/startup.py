"""CPU time of a short `scalefit fit` against importing numpy, scipy and pandas alone.

    python benchmarks/startup.py [--repeat 5] [--backtest] [--no-bootstrap] [--importtime 15]

Runs each command in a fresh process, interleaved, ``--repeat`` times, and keeps the best
user + system CPU time of each (from ``os.wait4``, so only that process counts). The
reference is ``python -c 'import numpy, scipy, pandas'``, the floor of any command that reads
a table and fits it; the ratio is measured in the same run. Target: ``fit --holdout none`` at
most 1.5x the reference (``fit --law chinchilla --holdout none``). ``--backtest`` also times
the default ``fit`` (law auto: the candidates' backtests, then the fit),
``--no-bootstrap`` the fit without its 200-resample bootstrap; ``--importtime K`` prints the K
modules with the largest cumulative import time of one ``python -X importtime`` run of the fit. ``--root DIR`` times the scalefit of another checkout
(``git archive REV | tar -x -C DIR``): ``python -m`` finds the package in the working directory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "chinchilla.csv"

REFERENCE = [sys.executable, "-c", "import numpy, scipy, pandas"]
# one law, no backtest: the shortest fit (the default, law auto, backtests its candidates)
FIT = [sys.executable, "-m", "scalefit", "fit", str(DATA), "--law", "chinchilla", "--no-plot",
       "--holdout", "none"]
FIT_DEFAULT = [sys.executable, "-m", "scalefit", "fit", str(DATA), "--no-plot"]
FIT_NO_BOOT = [*FIT, "--bootstrap", "0"]


def cpu_seconds(cmd: list[str], cwd: Path = ROOT) -> tuple[float, float, float]:
    """(user, system, user + system) CPU seconds of one run of ``cmd`` in a fresh process."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with status {proc.returncode}")
    return ru.ru_utime, ru.ru_stime, ru.ru_utime + ru.ru_stime


def importtime_top(cmd: list[str], k: int, cwd: Path = ROOT) -> list[tuple[int, int, str]]:
    """The k imports with the largest cumulative time: (cumulative us, self us, module)."""
    out = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True,
                         text=True, cwd=cwd)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        try:
            rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
        except ValueError:  # the header line
            continue
    return sorted(rows, reverse=True)[:k]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each command (best kept)")
    ap.add_argument("--backtest", action="store_true",
                    help="also time the default `scalefit fit` (with its backtest)")
    ap.add_argument("--no-bootstrap", action="store_true",
                    help="also time `fit --holdout none --bootstrap 0` (imports and one fit)")
    ap.add_argument("--importtime", type=int, default=0, metavar="K",
                    help="print the K slowest imports (cumulative) of the fit")
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="checkout whose scalefit is timed (default: this one)")
    a = ap.parse_args(argv)
    cmds = {"import numpy, scipy, pandas": REFERENCE, "fit -l chinchilla --holdout none": FIT}
    if a.backtest:
        cmds["fit (default: auto)"] = FIT_DEFAULT
    if a.no_bootstrap:
        cmds["fit -l chinchilla --holdout none -b 0"] = FIT_NO_BOOT
    best: dict[str, tuple[float, float, float]] = {}
    for _ in range(a.repeat):
        for name, cmd in cmds.items():  # interleaved, so load changes hit all alike
            t = cpu_seconds(cmd, a.root)
            if name not in best or t[2] < best[name][2]:
                best[name] = t
    ref = best["import numpy, scipy, pandas"][2]
    print(f"scalefit from {a.root}; best of {a.repeat}, CPU seconds (user + system):")
    for name, (u, s, tot) in best.items():
        print(f"  {name:<38} {tot:6.3f}  (user {u:.3f}, sys {s:.3f})  {tot / ref:5.2f}x")
    if a.importtime:
        print("\nslowest imports of `fit -l chinchilla --holdout none` (cumulative / self, ms):")
        for cum, own, mod in importtime_top(FIT, a.importtime, a.root):
            print(f"  {cum / 1000:8.1f} {own / 1000:8.1f}  {mod}")


if __name__ == "__main__":
    main()
