"""Forecasts of a run's final loss from its prefix (what `scalefit watch` shows as a run trains).

    python benchmarks/watch_prefix.py                 # the six 72,000-step runs (~5 min)
    python benchmarks/watch_prefix.py --sizes 25M --runs constant_72000

For each 72,000-step run of the multi-power data (cosine and constant schedules of the 25M,
100M and 400M models), the points logged before 10%, 25%, 50% and 75% of the run are given to
:func:`scalefit.watch.forecast_prefix` with the run's schedule; the table gives the relative
error of the forecast of the last logged loss (step 71,936), the law chosen, the 95% band's
half-width and whether the band holds the final loss. The last lines summarise per prefix,
with the error of the naive guess (the last logged loss) beside it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from scalefit.curves import multipower_curves
from scalefit.watch import forecast_prefix

DATA = Path(__file__).resolve().parents[1] / "data" / "multipower"
SIZES = ("25M", "100M", "400M")
RUNS = ("cosine_72000", "constant_72000")
PREFIXES = (0.10, 0.25, 0.50, 0.75)


def prefix_forecasts(sizes=SIZES, runs=RUNS, prefixes=PREFIXES) -> list[dict]:
    """One row per (size, run, prefix): the forecast of the final loss and its error."""
    rows = []
    for size in sizes:
        for c in multipower_curves(DATA / size, list(runs)):
            T = c.schedule.total_steps
            final_step, final_loss = int(c.steps[-1]), float(c.loss[-1])
            for frac in prefixes:
                m = c.steps < frac * T
                t0 = time.perf_counter()
                f = forecast_prefix((c.steps[m], c.loss[m]), c.schedule, final_step=final_step)
                rows.append({"size": size, "run": c.name, "prefix": frac,
                             "last_step": f.last_step, "law": f.law, "forecast": f.loss,
                             "final": final_loss, "err": f.loss / final_loss - 1,
                             "half_width": (f.hi - f.lo) / 2 / f.loss,
                             "holds": f.holds(final_loss), "seconds": time.perf_counter() - t0,
                             "naive_err": float(c.loss[m][-1]) / final_loss - 1})
    return rows


def table(rows: list[dict]) -> str:
    out = ["| size | run | prefix | last step | law | forecast | final | error | 95% band +- | "
           "holds | s |", "|---|---|--:|--:|---|--:|--:|--:|--:|:-:|--:|"]
    for r in rows:
        out.append(f"| {r['size']} | {r['run']} | {100 * r['prefix']:.0f}% | {r['last_step']:,} "
                   f"| {r['law']} | {r['forecast']:.4f} | {r['final']:.4f} "
                   f"| {100 * r['err']:+.2f}% | {100 * r['half_width']:.2f}% "
                   f"| {'yes' if r['holds'] else 'NO'} | {r['seconds']:.1f} |")
    out += ["", "| prefix | mean abs error | max abs error | band holds | mean band +- "
            "| naive: last loss |", "|--:|--:|--:|--:|--:|--:|"]
    for p in sorted({r["prefix"] for r in rows}):
        rs = [r for r in rows if r["prefix"] == p]
        e = np.abs([r["err"] for r in rs])
        out.append(f"| {100 * p:.0f}% | {100 * e.mean():.2f}% | {100 * e.max():.2f}% "
                   f"| {sum(r['holds'] for r in rs)}/{len(rs)} "
                   f"| {100 * np.mean([r['half_width'] for r in rs]):.2f}% "
                   f"| {100 * np.mean([abs(r['naive_err']) for r in rs]):.2f}% |")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(SIZES))
    ap.add_argument("--runs", default=",".join(RUNS))
    a = ap.parse_args(argv)
    rows = prefix_forecasts(a.sizes.split(","), a.runs.split(","))
    print(table(rows))


if __name__ == "__main__":
    main()
