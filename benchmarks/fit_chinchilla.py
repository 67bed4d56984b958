"""Chinchilla fit speed: the published recipe as usually written against ``scalefit.fit``.

    python benchmarks/fit_chinchilla.py [--ref-starts 4500] [--boot 1000] [--repeat 3]

Data: data/chinchilla.csv with the 5 highest losses dropped (240 points), as in Besiroglu et al.
2024. The reference is their recipe: log L̂ = LSE(a - alpha log N, b - beta log D, e), objective
sum(scipy.special.huber(1e-3, log L - log L̂)), one ``scipy.optimize.minimize(method="L-BFGS-B")``
call (finite-difference gradients) per start, in a Python loop over Hoffmann's 4,500-point grid.
Its finite-difference gradients stop about 1e-8 (relative) above the minimum, so to check that both
reach the same minimum the reference's best point is then polished (untimed) with exact gradients.
Both sides run with one BLAS thread (threads only contend on these small problems).

Prints both times, the objectives (which must agree to 1e-9 relative, or scalefit's must be
lower), the speed ratio (target >= 20x) and the time of a 1,000-resample bootstrap (target
< 20 s on 2 cores). ``--ref-starts K`` times only the first K starts of the grid and
extrapolates the reference time (said so in the output).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import huber, logsumexp

import scalefit
from scalefit.fitting.api import fit_dataset
from scalefit.fitting.bootstrap import bootstrap
from scalefit.fitting.dataset import build_dataset
from scalefit.fitting.objective import make_objective
from scalefit.fitting.optimize import Problem, blas_threads, make_parameters
from scalefit.laws import get_law

CSV = Path(__file__).resolve().parents[1] / "data" / "chinchilla.csv"


def epoch_table() -> pd.DataFrame:
    df = pd.read_csv(CSV)
    df = df.assign(N=df["Model Size"], D=df["Training FLOP"] / (6 * df["Model Size"]))
    return df.sort_values("loss", kind="stable").iloc[:-5][["N", "D", "loss"]].reset_index(drop=True)


def reference(df: pd.DataFrame, n_starts: int | None = None) -> tuple[float, np.ndarray, int]:
    """The recipe as published: one L-BFGS-B per grid start, numerical gradients."""
    logN, logD = np.log(df["N"].to_numpy()), np.log(df["D"].to_numpy())
    logL = np.log(df["loss"].to_numpy())

    def objective(p):
        a, b, e, alpha, beta = p
        pred = logsumexp([a - alpha * logN, b - beta * logD, np.full_like(logN, e)], axis=0)
        return np.sum(huber(1e-3, logL - pred))

    grid = list(itertools.product(np.arange(0, 30, 5), np.arange(0, 30, 5),
                                  np.arange(-1, 1.5, 0.5), np.arange(0, 2.5, 0.5),
                                  np.arange(0, 2.5, 0.5)))
    assert len(grid) == 4500
    best = None
    for p in grid[:n_starts]:
        res = minimize(objective, np.array(p, float), method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    return float(best.fun), best.x, len(grid[:n_starts])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref-starts", type=int, default=4500,
                    help="starts of the reference loop to time (extrapolated to 4,500)")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--repeat", type=int, default=3, help="repeats of the scalefit fit (best)")
    args = ap.parse_args()

    df = epoch_table()
    law = get_law("chinchilla")
    print(f"data: {len(df)} points (data/chinchilla.csv, 5 highest losses dropped)")

    # scalefit: the whole point fit as a user calls it
    times = []
    res = None
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        res = scalefit.fit(df, "chinchilla")
        times.append(time.perf_counter() - t)
    t_sf = min(times)
    print(f"scalefit.fit: {t_sf:.3f} s (best of {len(times)}), objective {res.objective_:.12e}, "
          f"{res.settings['n_starts']} starts, {res.settings['keep']} refined")

    with blas_threads(1):
        t = time.perf_counter()
        f_ref, x_ref, n_done = reference(df, args.ref_starts)
        t_ref = time.perf_counter() - t
    extrap = n_done < 4500
    t_ref_full = t_ref * 4500 / n_done
    print(f"published recipe: {t_ref:.1f} s for {n_done} starts"
          + (f" -> {t_ref_full:.1f} s extrapolated to 4,500" if extrap else "")
          + f", objective {f_ref:.12e}")
    print(f"  reference parameters: E={np.exp(x_ref[2]):.4f} A={np.exp(x_ref[0]):.1f} "
          f"B={np.exp(x_ref[1]):.1f} alpha={x_ref[3]:.4f} beta={x_ref[4]:.4f}")
    p = res.params_
    print(f"  scalefit parameters:  E={p['E']:.4f} A={p['A']:.1f} B={p['B']:.1f} "
          f"alpha={p['alpha']:.4f} beta={p['beta']:.4f}")
    rel = (f_ref - res.objective_) / res.objective_
    print(f"objective difference (reference - scalefit)/scalefit: {rel:.3e}"
          + (" (the reference's finite-difference L-BFGS-B stops short)" if rel > 1e-9 else ""))
    # same minimum? polish the reference's best point with exact gradients (untimed)
    ds = build_dataset(df, law)
    pr = Problem(law, ds.X, ds.y, make_objective(), make_parameters(law))
    u0 = np.array([x_ref[2], x_ref[0], x_ref[1], x_ref[3], x_ref[4]])  # (e, a, b) -> E, A, B

    def fg(v):
        f, g = pr.value_grad(v[None])
        return float(f[0]), g[0]

    pol = minimize(fg, u0, jac=True, method="L-BFGS-B", bounds=pr.scipy_bounds(),
                   options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000})
    rel_pol = abs(pol.fun - res.objective_) / res.objective_
    print(f"reference's best point polished with exact gradients: {pol.fun:.12e}; "
          f"relative difference {rel_pol:.2e} -> "
          + ("same minimum (1e-9)" if rel_pol <= 1e-9 else "DIFFERENT MINIMA"))
    print(f"speed ratio: {t_ref_full / t_sf:.0f}x (target >= 20x)")

    # bootstrap: 1,000 run resamples refitted from the point estimate
    core = fit_dataset(ds, law)
    with blas_threads(1):
        t = time.perf_counter()
        boot = bootstrap(core["problem"], core["opt"].v, ds.groups, args.boot, seed=0)
        t_boot = time.perf_counter() - t
    lo, hi = np.percentile(boot.samples, [2.5, 97.5], axis=0)
    ivs = ", ".join(f"{k} [{a:.4g}, {b:.4g}]" for k, a, b in zip(law.param_names, lo, hi,
                                                                  strict=True))
    print(f"bootstrap: {args.boot} resamples in {t_boot:.2f} s (target < 20 s), "
          f"{100 * boot.converged.mean():.1f}% converged; {ivs}")


if __name__ == "__main__":
    main()
