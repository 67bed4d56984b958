"""Ingest speed: read + ingest every OLMo ladder W&B export into an in-memory Store, against a
plain ``pandas.read_csv`` of the same files in the same process.

    python benchmarks/ingest.py [--repeat 11] [--data ../shared/data]

The two are timed in turns, round after round, so that a busy machine slows both alike. Prints
rows per second (CSV data rows) and points per second (the long points those rows hold) for
both, the ratio of their best times and the median of the per-round ratios, the target
(scalefit at least 0.5x the speed of the bare read) and the load average while it ran.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import time
from pathlib import Path

import pandas as pd

from scalefit import Store
from scalefit.io import read_logs

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TARGET = 0.5


def bare(files: list[str]) -> int:
    return sum(len(pd.read_csv(f)) for f in files)


def scalefit_ingest(files: list[str]) -> tuple[int, int]:
    data = read_logs(files)
    store = Store()
    store.ingest(data)
    return len(store.points), len(data.runs)


def interleaved(fns: list, repeat: int) -> tuple[list[list[float]], list]:
    """Times of each function per round, run in turns, and each one's last result."""
    times: list[list[float]] = [[] for _ in fns]
    outs: list = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            outs[i] = fn()
            times[i].append(time.perf_counter() - t)
    return times, outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=11)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    files = sorted(glob.glob(str(args.data / "olmo_ladder" / "ladder-runs" / "*.csv")))
    if not files:
        raise SystemExit(f"no OLMo ladder exports under {args.data}")
    scalefit_ingest(files[:2])  # warm imports and caches for both paths
    bare(files[:2])
    data = read_logs(files)
    load0 = os.getloadavg()
    times, outs = interleaved(
        [lambda: bare(files), lambda: scalefit_ingest(files), lambda: read_logs(files),
         lambda: Store().ingest(data)], args.repeat)
    load1 = os.getloadavg()
    (t_bare, t_sf, t_read, t_store) = (min(t) for t in times)
    rows, (points, runs) = outs[0], outs[1]
    ratios = [b / s for b, s in zip(times[0], times[1], strict=True)]
    best, median = t_bare / t_sf, statistics.median(ratios)
    mb = sum(Path(f).stat().st_size for f in files) / 1e6

    print(f"OLMo ladder exports: {len(files)} files, {mb:.1f} MB, {rows:,} rows -> {runs} runs, "
          f"{points:,} points; best of {args.repeat} interleaved rounds")
    print(f"{'':22}{'best ms':>9}{'median ms':>11}{'rows/s':>12}{'points/s':>13}")
    for label, t in (("pandas.read_csv", times[0]), ("scalefit read+ingest", times[1])):
        b = min(t)
        print(f"{label:22}{b * 1e3:9.1f}{statistics.median(t) * 1e3:11.1f}"
              f"{rows / b:12,.0f}{points / b:13,.0f}")
    print(f"{'  read_logs':22}{t_read * 1e3:9.1f}{statistics.median(times[2]) * 1e3:11.1f}")
    print(f"{'  Store.ingest':22}{t_store * 1e3:9.1f}{statistics.median(times[3]) * 1e3:11.1f}")
    print(f"ratio scalefit/pandas speed: best {best:.2f}x, median of rounds {median:.2f}x "
          f"(min {min(ratios):.2f}x); target >= {TARGET}x: "
          f"{'met' if min(best, median) >= TARGET else 'NOT met'}")
    print("load average (1/5/15 min): "
          f"before {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
          f"after {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}, on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
