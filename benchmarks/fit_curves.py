"""Loss-curve benchmark: O(T) multi-power evaluation against the direct O(T^2) double sum at
T = 24,000, the three-curve fit, a 100,000-step prediction, and the PredE/WorstE table of both
curve laws on the multi-power data (fit cosine_24000, constant_24000, wsdcon_9; predict six).

    python benchmarks/fit_curves.py            # everything (a few minutes)
    python benchmarks/fit_curves.py --quick    # timings only, 400M
    python benchmarks/fit_curves.py --two-run  # two-run forecasts of final losses (~2 min)

``--two-run``: fit cosine_24000 and constant_24000 only, predict the final loss (last logged
step) of five other schedules; mean/max relative error and 95% coverage per size and method
(the default, each law, the naive guess: the cosine run's final loss), and the prior term of
the default's band recalibrated with each size left out (the errors that the two laws' spread
does not explain, root mean square over the other two sizes).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from scalefit.curves import fit_curves, multipower_curves
from scalefit.laws.curve_kernels import mpl_loss_drop, mpl_loss_drop_quadratic
from scalefit.schedules import parse_schedule

DATA = Path(__file__).resolve().parents[1] / "data" / "multipower"
TRAIN = ["cosine_24000", "constant_24000", "wsdcon_9"]
TEST = ["constant_72000", "cosine_72000", "wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3",
        "wsdcon_18"]
PUBLISHED = {"25M": (0.110, 0.409), "100M": (0.142, 0.583), "400M": (0.168, 0.995)}
SIZES = {"25M": 25e6, "100M": 100e6, "400M": 400e6}


def best_of(f, k=3):
    ts = []
    for _ in range(k):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return min(ts), out


def speed():
    eta = parse_schedule("cosine:peak=3e-4,warmup=2160,steps=24000,final=3e-5").lr()
    th = (2.0246, 0.5935, 0.6347)
    every = np.arange(1, eta.size)
    t_fast, fast = best_of(lambda: mpl_loss_drop(eta, every, *th))
    t_slow, slow = best_of(lambda: mpl_loss_drop_quadratic(eta, *th), k=1)
    err = np.abs(fast - slow[1:]).max()
    print(f"multi_power loss drop at all T = {eta.size} steps of a cosine schedule:")
    print(f"  O(T) sum of exponentials {t_fast * 1e3:8.1f} ms")
    print(f"  direct O(T^2)            {t_slow * 1e3:8.1f} ms   ratio {t_slow / t_fast:.0f}x, "
          f"max |difference| {err:.1e} (largest value {np.abs(slow).max():.1e})")
    for T in (25_000, 50_000, 100_000):
        e = parse_schedule(f"cosine:peak=3e-4,warmup=2160,steps={T},final=3e-5").lr()
        t, _ = best_of(lambda e=e: mpl_loss_drop(e, np.arange(1, e.size), *th), k=1)
        print(f"  O(T) at T = {T:>7,}: {t * 1e3:7.1f} ms ({t / T * 1e6:.2f} us/step)")
    tr = multipower_curves(DATA / "400M", TRAIN)
    for method in ("paper", "lbfgs"):
        t, res = best_of(lambda m=method: fit_curves(tr, "multi_power", method=m), k=1)
        print(f"three-curve multi_power fit (400M, method={method}): {t:.1f} s, "
              f"objective {res.objective:.4g}")


def table():
    print("\nPredE / WorstE (%, mean over the six test curves) against the published multi_power")
    rows = []
    for law, method in (("multi_power", "paper"), ("multi_power", "lbfgs"),
                        ("lr_annealing", "lbfgs")):
        for size in SIZES:
            res = fit_curves(multipower_curves(DATA / size, TRAIN), law, method=method)
            errs = [res.errors(c) for c in multipower_curves(DATA / size, TEST)]
            pe = 100 * np.mean([e["mean_rel"] for e in errs])
            we = 100 * np.mean([e["max_rel"] for e in errs])
            pub = PUBLISHED[size]
            rows.append((law, method, size, pe, we))
            print(f"  {law:<13} {method:<6} {size:>5}: {pe:.3f} / {we:.3f}   "
                  f"(published multi_power {pub[0]:.3f} / {pub[1]:.3f})", flush=True)
    # joint law: 25M and 100M together, predict every 400M curve
    train = [c for s in ("25M", "100M")
             for c in multipower_curves(DATA / s, TRAIN, N=SIZES[s])]
    t = time.perf_counter()
    res = fit_curves(train, "joint_multi_power")
    dt = time.perf_counter() - t
    test = multipower_curves(DATA / "400M", TRAIN + TEST, N=SIZES["400M"])
    errs = {c.name: res.errors(c) for c in test}
    pe = 100 * np.mean([errs[n]["mean_rel"] for n in TEST])
    we = 100 * np.mean([errs[n]["max_rel"] for n in TEST])
    pe_all = 100 * np.mean([e["mean_rel"] for e in errs.values()])
    print(f"\njoint multi_power fitted on 25M+100M ({dt:.1f} s), predicting 400M: "
          f"six test curves {pe:.3f} / {we:.3f}, all nine curves mean {pe_all:.3f}%")
    print("  params:", {k: round(v, 4) for k, v in res.params.items()})
    return rows


TWO_TRAIN = ["cosine_24000", "constant_24000"]
TWO_TEST = ["wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_9", "wsdcon_18"]


def two_run(methods=("default", "multi_power", "lr_annealing", "naive")):
    """Final-loss forecasts from two runs; returns {size: {method: rows}}."""
    out = {}
    for size in SIZES:
        tr = multipower_curves(DATA / size, TWO_TRAIN)
        te = multipower_curves(DATA / size, TWO_TEST)
        out[size] = {}
        for m in methods:
            rows = []
            if m == "naive":
                for c in te:
                    rows.append({"err": (tr[0].loss[-1] - c.loss[-1]) / c.loss[-1]})
                out[size][m] = {"rows": rows, "seconds": 0.0}
                continue
            t = time.perf_counter()
            res = fit_curves(tr, *(() if m == "default" else (m,)), intervals=True)
            dt = time.perf_counter() - t
            for c in te:
                df = res.predict(c, steps=[c.steps[-1]]).iloc[0]
                y, p = c.loss[-1], df["loss_pred"]
                row = {"err": (p - y) / y}
                if "loss_lo" in df:
                    row["inside"] = bool(df["loss_lo"] <= y <= df["loss_hi"])
                    row["half"] = (df["loss_hi"] - p) / p
                if res.law == "ensemble":
                    mem = res.law_obj.member_predictions(c, res.params, [c.steps[-1]])[:, 0]
                    row["spread"] = float(np.ptp(mem) / 2 / p)
                rows.append(row)
            out[size][m] = {"rows": rows, "seconds": dt, "law": res.law}
    return out


def two_run_table():
    from scalefit.fitting.curves import TWO_CURVE_PRIOR_REL

    print("\nfit cosine_24000 + constant_24000, predict the final loss of "
          + ", ".join(TWO_TEST))
    print(f"  {'size':>5} {'method':<13} {'mean err':>9} {'max err':>8} {'95% cover':>10} "
          f"{'half-width':>10} {'fit s':>6}")
    out = two_run()
    pooled: dict = {}
    for size, per in out.items():
        for m, d in per.items():
            e = np.abs([r["err"] for r in d["rows"]])
            ins = [r["inside"] for r in d["rows"] if "inside" in r]
            cov = f"{sum(ins)}/{len(ins)}" if ins else "-"
            hw = (f"{100 * np.mean([r['half'] for r in d['rows']]):.2f}%" if ins else "-")
            pooled.setdefault(m, []).append((e, ins))
            print(f"  {size:>5} {m:<13} {100 * e.mean():8.3f}% {100 * e.max():7.3f}% "
                  f"{cov:>10} {hw:>10} {d['seconds']:6.1f}", flush=True)
    for m, items in pooled.items():
        e = np.concatenate([x for x, _ in items])
        ins = [v for _, i in items for v in i]
        cov = f"{sum(ins)}/{len(ins)} = {100 * np.mean(ins):.0f}%" if ins else "-"
        print(f"  pooled {m:<13} mean {100 * e.mean():.3f}%, max {100 * e.max():.3f}%, "
              f"coverage {cov}")
    # the prior term of the default's band, calibrated leaving each size out
    print(f"\nprior term of the two-run band (the shipped value is {TWO_CURVE_PRIOR_REL:.4f}):")
    unexplained = {s: [max(r["err"] ** 2 - r["spread"] ** 2, 0.0)
                       for r in per["default"]["rows"]] for s, per in out.items()}
    allv = [v for vs in unexplained.values() for v in vs]
    print(f"  all sizes: root mean square of the unexplained error {np.sqrt(np.mean(allv)):.4f}")
    for s in out:
        cal = np.sqrt(np.mean([v for t, vs in unexplained.items() if t != s for v in vs]))
        inside = [abs(r["err"]) <= 1.96 * np.hypot(r["spread"], cal)
                  for r in out[s]["default"]["rows"]]
        print(f"  calibrated without {s}: {cal:.4f}; its coverage on {s}: "
              f"{sum(inside)}/{len(inside)}")
    return out


if __name__ == "__main__":
    if "--two-run" in sys.argv:
        two_run_table()
        sys.exit(0)
    speed()
    if "--quick" not in sys.argv:
        table()
