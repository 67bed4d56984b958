"""Reading speed and memory of big logs against pyarrow.csv and pandas.read_csv.

    python benchmarks/ingest.py [--max-rows 1e6] [--repeat 3] [--shapes wide,long,jsonl]
    python benchmarks/ingest.py --max-rows 1e7          # the 1e7-row files too (minutes)
    python benchmarks/ingest.py --olmo [--repeat 11]    # read+ingest of the OLMo ladder exports

Generated logs of 1e4 .. max rows, in three shapes: ``wide`` CSV (step, train/loss, lr,
throughput/total_tokens: one point per row), ``long`` CSV (run, step, metric, value: five runs,
two metrics) and ``jsonl`` (the wide log as JSON Lines, against ``pandas.read_json(lines=True)``
and ``pyarrow.json``). Each reader reads each file in a fresh subprocess that first imports all three
libraries and reads a small file of the same shape, so that imports and warm-up count for none;
the subprocess reports its best time of ``--repeat`` reads and its peak resident memory
(VmHWM, reset after warm-up: ``ru_maxrss`` would start at the parent's peak), both in all and
above the level after warm-up. Prints, per file, the ratios
scalefit / pandas.read_csv and scalefit / pyarrow.csv for time and peak memory (target: 1.5x
or less), and how each grows with file size (log-log slope of time and memory against rows
between consecutive sizes: 1 is linear). Then one JSON Lines line with 1e4 .. 2e5 keys, whose
read time should grow linearly too.

The OLMo mode (``--olmo``) times read + ingest of every OLMo ladder W&B export into an
in-memory Store against a plain ``pandas.read_csv`` of the same files, in turns.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit import Store
from scalefit.io import read_logs

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TARGET = 0.5  # OLMo mode: scalefit speed at least half of the bare read
BIG_TARGET = 1.5  # generated files: time and peak memory at most 1.5x the reference


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


def olmo(args) -> None:
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


# ----------------------------------------------------------------------------- generated logs
def write_log(path: Path, rows: int, shape: str) -> None:
    """A CSV log of ``rows`` data rows, written in blocks (1e7 rows never sit in memory)."""
    rng = np.random.default_rng(0)
    block = 1_000_000
    with open(path, "w") as f:
        if shape == "jsonl":  # the wide log as JSON Lines, one object per step
            for lo in range(0, rows, block):
                step = np.arange(lo + 1, min(rows, lo + block) + 1)
                loss = 2 + 8 / np.sqrt(step) + rng.normal(0, 0.01, len(step))
                lr = 3e-4 * np.minimum(1.0, step / 1000)
                pd.DataFrame({"step": step, "train/loss": loss.round(6), "lr": lr,
                              "throughput/total_tokens": step * 4096}).to_json(
                    f, orient="records", lines=True)
        elif shape == "wide":
            f.write("step,train/loss,lr,throughput/total_tokens\n")
            for lo in range(0, rows, block):
                step = np.arange(lo + 1, min(rows, lo + block) + 1)
                loss = 2 + 8 / np.sqrt(step) + rng.normal(0, 0.01, len(step))
                lr = 3e-4 * np.minimum(1.0, step / 1000)
                pd.DataFrame({"s": step, "l": loss.round(6), "r": lr, "t": step * 4096}).to_csv(
                    f, header=False, index=False)
        else:
            f.write("run,step,metric,value\n")
            runs = ["20M-1xC", "60M-1xC", "150M-1xC", "300M-1xC", "530M-1xC"]
            per_run = -(-rows // len(runs))
            written = 0
            for run in runs:
                for lo in range(0, per_run, block):
                    n = min(per_run - lo, block, rows - written)
                    if n <= 0:
                        break
                    i = np.arange(lo, lo + n)
                    pd.DataFrame({"r": run, "s": i // 2 + 1,
                                  "m": np.where(i % 2 == 0, "train/loss", "eval/loss"),
                                  "v": (2 + rng.random(n)).round(5)}).to_csv(
                        f, header=False, index=False)
                    written += n


def write_wide_jsonl(path: Path, keys: int) -> None:
    rec = {"step": 1, **{f"metric/{k}": 1.0 + k * 1e-6 for k in range(keys)}}
    path.write_text(json.dumps(rec) + "\n")


def _reset_peak() -> bool:
    """Reset this process's peak resident memory to its current level (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status("VmHWM") > 0
    except OSError:
        return False


def _status(key: str) -> int:
    """A memory figure of this process from /proc/self/status, in bytes (0 if absent)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def child(reader: str, path: str, warm: str, repeat: int) -> None:
    """In a fresh process: warm up, then time ``repeat`` reads; print JSON."""
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson

    from scalefit.io import read_logs

    if path.endswith(".jsonl"):
        fns = {"pandas": lambda f: len(pd.read_json(f, lines=True)),
               "pyarrow": lambda f: pajson.read_json(f).num_rows,
               "scalefit": lambda f: len(read_logs(f).points)}
    else:
        fns = {"pandas": lambda f: len(pd.read_csv(f)),
               "pyarrow": lambda f: pacsv.read_csv(f).num_rows,
               "scalefit": lambda f: len(read_logs(f).points)}
    fn = fns[reader]
    fn(warm)
    # ru_maxrss survives exec: it starts at the parent's peak (the file writer's), so the
    # peak is reset where Linux allows it and read from /proc
    reset = _reset_peak()
    base = _status("VmRSS") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    best, out = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(path)
        best = min(best, time.perf_counter() - t)
    peak = _status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": best, "peak": peak, "base": base, "n": out}))


def measure(reader: str, path: Path, warm: Path, repeat: int) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", reader, str(path), str(warm),
                          str(repeat)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{reader} on {path} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def slope(x0: float, y0: float, x1: float, y1: float) -> float:
    return math.log(y1 / y0) / math.log(x1 / x0)


def big_files(args) -> None:
    sizes = [10 ** k for k in range(4, int(round(math.log10(args.max_rows))) + 1)]
    readers = ["pandas", "pyarrow", "scalefit"]
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="scalefit-bench-") as tmp:
        folder = Path(tmp)
        for shape in args.shapes.split(","):
            ext = "jsonl" if shape == "jsonl" else "csv"
            warm = folder / f"warm-{shape}.{ext}"
            write_log(warm, 1000, shape)
            kind = "JSON Lines logs (wide records)" if shape == "jsonl" else "CSV logs"
            print(f"\n{shape} {kind}: best of {args.repeat} reads per process; "
                  "memory = peak RSS (above the level after warm-up)")
            print(f"{'rows':>10}{'MB':>7} | {'time s':>24} | {'peak MB':>30} | "
                  f"{'sf/pandas':>15}{'sf/pyarrow':>15}")
            print(f"{'':>17} | {'pandas':>8}{'pyarrow':>8}{'sf':>8} | {'pandas':>10}{'pyarrow':>10}"
                  f"{'sf':>10} | {'time':>7}{'mem':>8}{'time':>7}{'mem':>8}")
            prev = None
            for n in sizes:
                f = folder / f"{shape}-{n}.{ext}"
                write_log(f, n, shape)
                m = {r: measure(r, f, warm, args.repeat) for r in readers}
                t = {r: m[r]["seconds"] for r in readers}
                pk = {r: m[r]["peak"] / 1e6 for r in readers}
                up = {r: max(m[r]["peak"] - m[r]["base"], 1) / 1e6 for r in readers}
                rt = {r: t["scalefit"] / t[r] for r in ("pandas", "pyarrow")}
                rm = {r: pk["scalefit"] / pk[r] for r in ("pandas", "pyarrow")}
                print(f"{n:>10.0e}{f.stat().st_size / 1e6:>7.0f} | "
                      + "".join(f"{t[r]:>8.3f}" for r in readers) + " | "
                      + "".join(f"{pk[r]:>6.0f}({up[r]:>3.0f})" for r in readers) + " | "
                      + f"{rt['pandas']:>7.2f}{rm['pandas']:>8.2f}{rt['pyarrow']:>7.2f}"
                      + f"{rm['pyarrow']:>8.2f}")
                if n >= 100_000:
                    verdicts.append((shape, n, rt, rm))
                if prev is not None:
                    n0, t0, u0 = prev
                    print(f"{'':>17}   growth {n0:.0e}->{n:.0e}: time slope "
                          + " ".join(f"{r} {slope(n0, t0[r], n, t[r]):.2f}" for r in readers)
                          + "; memory slope "
                          + " ".join(f"{r} {slope(n0, u0[r], n, up[r]):.2f}" for r in readers))
                prev = (n, t, up)
                f.unlink()
        if "jsonl" not in args.skip:
            print("\none JSON Lines line with many keys (scalefit read_logs)")
            prev = None
            for k in [10_000, 50_000, 200_000]:
                f = folder / f"wide-{k}.jsonl"
                write_wide_jsonl(f, k)
                warm = folder / "warm.jsonl"
                write_wide_jsonl(warm, 100)
                m = measure("scalefit", f, warm, 1)
                line = (f"{k:>8} keys: {m['seconds']:.2f} s, peak {m['peak'] / 1e6:.0f} MB "
                        f"({(m['peak'] - m['base']) / 1e6:.0f} above warm-up)")
                if prev is not None:
                    line += f"; time slope {slope(prev[0], prev[1], k, m['seconds']):.2f}"
                print(line)
                prev = (k, m["seconds"])
    print("\ntarget: scalefit time and peak memory <= "
          f"{BIG_TARGET}x pandas' and pyarrow's readers on files of 1e5 rows and more")
    for shape, n, rt, rm in verdicts:
        for ref in ("pandas", "pyarrow"):
            ok = rt[ref] <= BIG_TARGET and rm[ref] <= BIG_TARGET
            print(f"  {shape} {n:.0e} vs {ref}: time {rt[ref]:.2f}x, memory {rm[ref]:.2f}x: "
                  f"{'met' if ok else 'NOT met'}")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--olmo", action="store_true", help="the OLMo ladder read+ingest benchmark")
    ap.add_argument("--repeat", type=int, default=None,
                    help="reads per process (default 3; OLMo mode 11 rounds)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--max-rows", type=float, default=1e6,
                    help="largest generated file, in rows (a power of ten; 1e7 takes minutes)")
    ap.add_argument("--shapes", default="wide,long,jsonl",
                    help="wide, long and/or jsonl (the wide log as JSON Lines)")
    ap.add_argument("--skip", default="", help="'jsonl' to skip the many-keys JSON line")
    args = ap.parse_args()
    if args.olmo:
        args.repeat = args.repeat or 11
        olmo(args)
    else:
        args.repeat = args.repeat or 3
        big_files(args)


if __name__ == "__main__":
    main()
