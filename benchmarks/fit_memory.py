"""Memory and time of a final-loss fit against the number of points.

    python benchmarks/fit_memory.py [--sizes 1e3,1e4,1e5,1e6] [--noise 0.02]

Each size runs in its own subprocess (so peak RSS is that fit's alone): build a synthetic
Chinchilla table of n runs (Epoch's parameters, rounded, with log-normal noise), then time
``scalefit.fit(table, "chinchilla")`` (no bootstrap). Peak RSS is the process high-water mark
(VmHWM from /proc/self/status, else ``resource.getrusage``), so it includes the interpreter,
the imports and the table itself; ``base`` is the high-water mark just before the fit.

Prints one row per size, then the growth slopes between consecutive sizes: d log(time) /
d log(n) (1 = linear) and the extra peak RSS per extra point in bytes.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time


def peak_rss_mb() -> float:
    """The process's peak resident set size in MB."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)


def synthetic_table(n: int, noise: float, seed: int = 0):
    """n runs of the Chinchilla law at Epoch's (rounded) parameters with log-normal noise."""
    import numpy as np
    import pandas as pd

    from scalefit.laws import get_law

    truth = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(4e7), np.log(1.6e10), n))
    D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n))
    L = get_law("chinchilla").predict({"N": N, "D": D}, truth) * np.exp(rng.normal(0, noise, n))
    return pd.DataFrame({"N": N, "D": D, "loss": L})


def child(n: int, noise: float) -> dict:
    import scalefit

    table = synthetic_table(n, noise)
    base = peak_rss_mb()
    t0 = time.perf_counter()
    res = scalefit.fit(table, "chinchilla")
    wall = time.perf_counter() - t0
    return {"n": n, "wall_s": wall, "peak_mb": peak_rss_mb(), "base_mb": base,
            "objective": res.objective_, "params": res.params_}


def run_size(n: int, noise: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(n), "--noise", str(noise)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"n": n, "error": (out.stderr.strip().splitlines() or ["?"])[-1]
                or f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e3,1e4,1e5,1e6",
                    help="comma-separated numbers of points (default 1e3,1e4,1e5,1e6)")
    ap.add_argument("--noise", type=float, default=0.02, help="log-normal noise of the losses")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    a = ap.parse_args(argv)
    if a.child is not None:
        print(json.dumps(child(a.child, a.noise)))
        return
    sizes = [int(float(s)) for s in a.sizes.split(",") if s.strip()]
    rows = []
    print(f"{'points':>9} {'wall s':>8} {'peak MB':>8} {'base MB':>8} {'fit MB':>8}  objective"
          "      E       A        B       alpha   beta")
    for n in sizes:
        r = run_size(n, a.noise)
        rows.append(r)
        if "error" in r:
            print(f"{n:>9} failed: {r['error']}")
            continue
        p = r["params"]
        print(f"{n:>9} {r['wall_s']:>8.2f} {r['peak_mb']:>8.1f} {r['base_mb']:>8.1f} "
              f"{r['peak_mb'] - r['base_mb']:>8.1f}  {r['objective']:.5e}  {p['E']:.4f} "
              f"{p['A']:8.2f} {p['B']:8.1f} {p['alpha']:.4f} {p['beta']:.4f}", flush=True)
    ok = [r for r in rows if "error" not in r]
    if len(ok) > 1:
        print("\ngrowth between consecutive sizes:")
        for r0, r1 in zip(ok, ok[1:], strict=False):
            dn = r1["n"] - r0["n"]
            slope = math.log(r1["wall_s"] / r0["wall_s"]) / math.log(r1["n"] / r0["n"])
            per_pt = (r1["peak_mb"] - r0["peak_mb"]) * 1024 * 1024 / dn
            print(f"  {r0['n']:>8} -> {r1['n']:>8}: time slope {slope:5.2f} (log-log), "
                  f"peak RSS {per_pt:8.1f} bytes per extra point")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
