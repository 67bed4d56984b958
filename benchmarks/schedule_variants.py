"""Variants of the forecast benchmark's schedule cases: fit cosine_24000 + constant_24000 of the
multi-power curves, predict the final loss of five other schedules (wsd_20000_24000,
wsdld_20000_24000, wsdcon_3, wsdcon_9, wsdcon_18), at 25M, 100M and 400M.

    python benchmarks/schedule_variants.py [--only joint,window,lam,transfer,gap] [--json FILE]

Per variant and size: the mean relative error over the five targets, over the two runs as long
as the fitted ones (the WSD runs, 24,000 steps) and each signed error (prediction - target) in
percent. The sections:

- ``joint``: one fit of the cosine and constant runs of all three sizes with a joint law
  (``scalefit.laws.curve.JointLaw``): the annealing shape shared, L0 and the amplitudes (and
  alpha where named) power laws of N; predictions at each size.
- ``window``: each law fitted per size from a later step on (the fit's default starts where
  the warmup ends, step 2,160).
- ``lam``: lr_annealing per size with its time scale ``lam`` held at each of a grid of values:
  how far any single time scale gets, not a recipe (the grid is not chosen on the targets).
- ``transfer``: each law per size with its annealing shape (lr_annealing: ``lam``;
  multi_power: ``C``, ``beta``, ``gamma``) held at the other sizes' values (400M: the mean of
  25M and 100M; 25M and 100M: each other's), fitted there on all seven 24,000- and 16,000-step
  runs: what the best-informed prior from other sizes could give.
- ``gap``: read off the data alone, the WSD run's final loss against the cosine run's, split as
  the curve laws split it: the power-law gain of WSD's larger LR area (the constant run's loss
  at the two areas) and the part of the annealing drop WSD realises in its 4,000-step decay
  against the cosine run's (``f``).

The per-size default, each law and the naive guess are in ``benchmarks/forecast.py --cases
multipower``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from scalefit.lawspec import Param

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _forecast_cases import DATA, MULTIPOWER_TEST, MULTIPOWER_TRAIN  # noqa: E402

SIZES = {"25M": 25e6, "100M": 100e6, "400M": 400e6}
LONG = 2  # the first two targets run 24,000 steps, as the fitted runs
JOINT = [("joint_lr_annealing", None), ("joint:base=lr_annealing,scaled=L0;A;C;alpha", None),
         ("joint_multi_power", "lbfgs"), ("joint_multi_power", "paper"),
         ("joint:base=multi_power,scaled=L0;A;B;alpha", "lbfgs"),
         ("joint:base=multi_power,scaled=L0;A;B;alpha", "paper")]
WINDOW_STARTS = (4000, 8000)
LAM_GRID = (0.997, 0.998, 0.9985, 0.999, 0.9993, 0.9995, 0.9997)


def load(size: str, names):
    from scalefit.curves import multipower_curves

    return multipower_curves(DATA / "multipower" / size, list(names), N=SIZES[size])


def targets(size: str) -> np.ndarray:
    return np.array([c.loss[-1] for c in load(size, MULTIPOWER_TEST)])


def finals(res, size: str) -> np.ndarray:
    return np.array([res.predict(c)["loss_pred"].iloc[-1] for c in load(size, MULTIPOWER_TEST)])


def scored(pred: dict) -> dict:
    out = {}
    for s, p in pred.items():
        y = targets(s)
        r = (np.asarray(p, float) - y) / y
        out[s] = {"mean": float(np.abs(r).mean()), "long": float(np.abs(r[:LONG]).mean()),
                  "signed": [float(x) for x in r]}
    return out


def line(name: str, sc: dict, extra: str = "") -> str:
    cells = [f"{100 * v['mean']:.2f}% / {100 * v['long']:.2f}% ("
             + " ".join(f"{100 * x:+.2f}" for x in v["signed"]) + ")" for v in sc.values()]
    return f"| {name} | " + " | ".join(cells) + f" |{extra}"


HEAD = ("| variant | 25M mean / long (signed %) | 100M | 400M |\n|---|---|---|---|")


def fit(data, law, **kw):
    from scalefit.curves import fit_curves

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_curves(data, law=law, **kw)


def joint() -> list[dict]:
    from scalefit.curves.data import CurveData

    data = CurveData([c for s in SIZES for c in load(s, MULTIPOWER_TRAIN)])
    rows = []
    for law, method in JOINT:
        t0 = time.perf_counter()
        res = fit(data, law, **({"method": method} if method else {}))
        name = f"{law} ({res.settings.get('method', method)})"
        rows.append({"variant": name, "scores": scored({s: finals(res, s) for s in SIZES}),
                     "params": res.params, "seconds": round(time.perf_counter() - t0, 1)})
    return rows


def window() -> list[dict]:
    from scalefit.curves.data import CurveData

    rows = []
    for law in ("multi_power", "lr_annealing"):
        for start in WINDOW_STARTS:
            pred = {}
            for s in SIZES:
                tr = CurveData([c.subset(c.steps >= start) for c in load(s, MULTIPOWER_TRAIN)])
                pred[s] = finals(fit(tr, law), s)
            rows.append({"variant": f"{law}, fitted from step {start}", "scores": scored(pred)})
    return rows


def lam() -> list[dict]:
    from scalefit.laws.curve import LRAnnealing

    rows = []
    for v in LAM_GRID:
        class Fixed(LRAnnealing):
            params = tuple(p if p.name != "lam" else Param("lam", v, v + 1e-12)
                           for p in LRAnnealing.params)

            def start_grid(self, v=v):
                return [{"alpha": a, "lam": v} for a in (0.2, 0.35, 0.5, 0.7)]

        pred, obj = {}, {}
        for s in SIZES:
            res = fit(load(s, MULTIPOWER_TRAIN), Fixed(), method="lbfgs")
            pred[s], obj[s] = finals(res, s), res.objective
        rows.append({"variant": f"lr_annealing, lam = {v}", "scores": scored(pred),
                     "train_objective": obj})
    return rows


ALL_RUNS = list(MULTIPOWER_TRAIN) + list(MULTIPOWER_TEST)
DONORS = {"25M": ("100M",), "100M": ("25M",), "400M": ("25M", "100M")}
SHAPE = {"lr_annealing": ("lam",), "multi_power": ("C", "beta", "gamma")}


def _held(base, vals: dict):
    """``base`` with the parameters in ``vals`` held at those values."""
    class Held(base):
        params = tuple(p if p.name not in vals else Param(p.name, vals[p.name],
                                                          vals[p.name] * (1 + 1e-12))
                       for p in base.params)

        def start_grid(self):
            grid = [{**g, **vals} for g in base().start_grid()]
            return list({tuple(sorted(g.items())): g for g in grid}.values())

    return Held()


def transfer() -> list[dict]:
    from scalefit.laws.curve import CURVE_LAWS

    rows = []
    for law, shape in SHAPE.items():
        full = {s: fit(load(s, ALL_RUNS), law, method="lbfgs").params for s in SIZES}
        pred = {}
        for s in SIZES:
            # the mean over the donor sizes (geometric for the scale C)
            vals = {k: float(np.exp(np.mean([np.log(full[d][k]) for d in DONORS[s]])))
                    if k == "C" else float(np.mean([full[d][k] for d in DONORS[s]]))
                    for k in shape}
            res = fit(load(s, MULTIPOWER_TRAIN), _held(CURVE_LAWS[law], vals), method="lbfgs")
            pred[s] = finals(res, s)
        rows.append({"variant": f"{law} (lbfgs), {', '.join(shape)} from the other sizes' "
                                "7-run fits", "scores": scored(pred),
                     "donor_fits": {s: {k: full[s][k] for k in shape} for s in SIZES}})
    return rows


def gap() -> list[dict]:
    rows = []
    for s in SIZES:
        cs = {c.name: c for c in load(s, ["cosine_24000", "constant_24000",
                                          "wsd_20000_24000"])}
        con, cos, wsd = cs["constant_24000"], cs["cosine_24000"], cs["wsd_20000_24000"]
        s1_con = np.cumsum(con.eta)[con.steps]
        s1_cos, s1_wsd = (float(np.cumsum(c.eta)[c.steps[-1]]) for c in (cos, wsd))
        at_cos, at_wsd = np.interp([s1_cos, s1_wsd], s1_con, con.loss)
        y_cos, y_wsd = float(cos.loss[-1]), float(wsd.loss[-1])
        area_gain = (at_wsd - at_cos) / y_cos  # WSD's larger LR area, on the constant run
        drop = (at_cos - y_cos) / y_cos  # the cosine run's annealing drop at its end
        total = (y_wsd - y_cos) / y_cos
        rows.append({"size": s, "wsd_minus_cosine": total, "area_gain": float(area_gain),
                     "cosine_drop": float(drop), "f": float(1 - (total - area_gain) / drop)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="joint,window,lam,transfer,gap",
                    help="comma-separated sections: joint, window, lam, transfer, gap")
    ap.add_argument("--json", dest="json_out", help="write every number here")
    a = ap.parse_args(argv)
    out = {}
    for sec in [s.strip() for s in a.only.split(",") if s.strip()]:
        fn = {"joint": joint, "window": window, "lam": lam, "transfer": transfer,
              "gap": gap}.get(sec)
        if fn is None:
            print(f"unknown section {sec!r}: joint, window, lam, transfer, gap",
                  file=sys.stderr)
            return 2
        t0 = time.perf_counter()
        out[sec] = fn()
        print(f"\n{sec} ({time.perf_counter() - t0:.0f} s)")
        if sec == "gap":
            print("| size | WSD - cosine | area gain | cosine drop | f |\n|---|---|---|---|---|")
            for r in out[sec]:
                print(f"| {r['size']} | {100 * r['wsd_minus_cosine']:+.2f}% | "
                      f"{100 * r['area_gain']:+.2f}% | {100 * r['cosine_drop']:.2f}% | "
                      f"{r['f']:.2f} |")
        else:
            print(HEAD)
            for r in out[sec]:
                print(line(r["variant"], r["scores"]), flush=True)
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(out, indent=2))
        print(f"wrote {a.json_out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
