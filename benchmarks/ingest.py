"""Ingest speed: read + ingest every OLMo ladder W&B export into an in-memory Store, against a
plain ``pandas.read_csv`` of the same files in the same process.

    python benchmarks/ingest.py [--repeat 5] [--data ../shared/data]

Prints rows per second (CSV data rows) for both, points per second for scalefit, and the ratio
(target: scalefit at least 0.5x the bare read).
"""

from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

import pandas as pd

from scalefit import Store
from scalefit.io import read_logs

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def bare(files: list[str]) -> int:
    return sum(len(pd.read_csv(f)) for f in files)


def scalefit_ingest(files: list[str]) -> tuple[int, int]:
    data = read_logs(files)
    store = Store()
    store.ingest(data)
    return len(store.points), len(data.runs)


def best_of_interleaved(fns: list, repeat: int) -> list[tuple[float, object]]:
    """Best time of each function, run in turns so that a busy machine slows all alike."""
    best = [float("inf")] * len(fns)
    outs: list = [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            outs[i] = fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return list(zip(best, outs, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    files = sorted(glob.glob(str(args.data / "olmo_ladder" / "ladder-runs" / "*.csv")))
    if not files:
        raise SystemExit(f"no OLMo ladder exports under {args.data}")
    scalefit_ingest(files[:2])  # warm imports and caches for both paths
    bare(files[:2])
    data = read_logs(files)
    (t_bare, rows), (t_sf, (points, runs)), (t_read, _), (t_store, _) = best_of_interleaved(
        [lambda: bare(files), lambda: scalefit_ingest(files), lambda: read_logs(files),
         lambda: Store().ingest(data)], args.repeat)
    mb = sum(Path(f).stat().st_size for f in files) / 1e6
    print(f"OLMo ladder exports: {len(files)} files, {mb:.1f} MB, {rows} rows -> {runs} runs, "
          f"{points} points (best of {args.repeat})")
    print(f"pandas.read_csv      : {t_bare * 1e3:8.1f} ms  {rows / t_bare:12,.0f} rows/s")
    print(f"scalefit read+ingest : {t_sf * 1e3:8.1f} ms  {rows / t_sf:12,.0f} rows/s  "
          f"({points / t_sf:,.0f} points/s)")
    print(f"  of which read_logs : {t_read * 1e3:8.1f} ms  ({t_bare / t_read:.2f}x the bare read)")
    print(f"  of which Store.ingest: {t_store * 1e3:6.1f} ms")
    print(f"ratio scalefit/pandas: {t_bare / t_sf:.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
