"""Predict OLMo 2 7B and 13B task accuracy from a ladder of small models (Bhagia et al. 2024).

Ingests the OLMo ladder runs shipped in ``data/olmo_ladder/`` (a column subset of the W&B exports
of allenai/OLMo-ladder, see ``data/README.md``), fits the two steps on the 16 runs that the
paper's ``configs/final.json`` uses (190M-1.3B x 1, 2, 5, 10 x Chinchilla tokens), predicts the
7B-4T and 13B-5T targets for the paper's eight tasks and writes
``olmo_ladder_predictions.csv``. Then it fits loss-to-loss on the Pythia evaluations and on the
ladder's validation sets, each with a backtest on the largest model.

    python examples/olmo_ladder.py [--out DIR] [--boot 100] [--plot]
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from scalefit import Store
from scalefit.laws import get_law
from scalefit.tasks import fit_loss_to_loss, pair_losses, predict_task

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

#: the paper's eight tasks: our name -> column stem(s) in ladder_runs.csv, chance accuracy
MMLU = {"mmlu_stem_test": 0.215, "mmlu_humanities_test": 0.335,
        "mmlu_social_sciences_test": 0.219, "mmlu_other_test": 0.231}  # the paper's weights
TASKS = {
    "mmlu": (MMLU, 0.25),
    "hellaswag": ({"hellaswag_val": 1.0}, 0.25),
    "arc_challenge": ({"arc_challenge_test": 1.0}, 0.25),
    "arc_easy": ({"arc_easy_test": 1.0}, 0.25),
    "piqa": ({"piqa_val": 1.0}, 0.5),
    "csqa": ({"csqa_val": 1.0}, 0.2),
    "socialiqa": ({"socialiqa_val": 1.0}, 1 / 3),
    "openbookqa": ({"openbookqa_test": 1.0}, 0.25),
}
RUNGS = {"190M": 190354176, "370M": 371262464, "760M": 758220288, "1B": 1279395840,
         "3B": float("nan"), "7B": 6887575552, "13B": 13202396160}
FIT_RUNS = [f"{s}-{m}xC" for s in ("190M", "370M", "760M", "1B") for m in (1, 2, 5, 10)]
TARGETS = {"7B-4T": (6887575552, 3.945e12), "13B-5T": (13202396160, 5.0e12)}
# Pythia non-embedding parameters (EleutherAI/pythia README)
PYTHIA_N = {"70m": 18915328, "160m": 85056000, "410m": 302311424, "1b": 805736448,
            "1.4b": 1208602624, "2.8b": 2517652480, "6.9b": 6444163072, "12b": 11327027200}


@functools.cache
def ladder_tables(path: Path = DATA / "olmo_ladder" / "ladder_runs.csv"):
    """The ladder runs as scalefit's runs and points tables (task metrics ``task/NAME/bpb`` and
    ``task/NAME/acc``; validation losses ``val/NAME/loss``), read once per path."""
    df = pd.read_csv(path)
    cols = {}
    for name, (parts, _) in TASKS.items():
        w = np.array(list(parts.values()))
        for kind in ("bpb", "acc"):
            cols[f"task/{name}/{kind}"] = (df[[f"{kind}/{p}" for p in parts]].to_numpy() @ w) / w.sum()
    for c in df.columns:
        if c.startswith("val/"):
            cols[f"{c}/loss"] = df[c].to_numpy()
    wide = pd.DataFrame({"run": df["run"], "step": df["step"], "tokens": df["tokens"], **cols})
    points = wide.melt(id_vars=["run", "step", "tokens"], var_name="metric", value_name="value")
    last = df.groupby("run", sort=False).last()
    runs = pd.DataFrame({
        "run": last.index,
        "params": [RUNGS[r] for r in last["rung"]],  # 3B: not in the paper's configs
        "tokens_total": last["tokens"].astype(float).to_numpy(),
        "params_convention": "non-embedding (OLMo-ladder configs)",
        "tags": [json.dumps({"family": "olmo-ladder", "rung": r}) for r in last["rung"]],
        "source": "data/olmo_ladder/ladder_runs.csv",
    })
    return runs, points


def ladder_store(path: str | Path | None = None) -> Store:
    store = Store(path)
    runs, points = ladder_tables()
    store.add(runs=runs, points=points)
    return store


def actual_accuracy(points: pd.DataFrame, run: str, task: str, last: int = 5) -> float:
    """The paper's reading of a target's accuracy: the mean of its last 5 evaluations."""
    v = points[(points["run"] == run) & (points["metric"] == f"task/{task}/acc")]
    return float(v.sort_values("step")["value"].iloc[-last:].mean())


def paper_reference() -> dict:
    return json.loads((ROOT / "tests" / "reference" / "olmo_ladder_paper.json").read_text())


def predict_all(store, n_boot: int = 100, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    ref = paper_reference()["predictions"]
    pts = store.points
    rows, fits = [], {}
    targets = [{"N": n, "D": d, "name": k} for k, (n, d) in TARGETS.items()]
    for task, (_, chance) in TASKS.items():
        res = predict_task(store, task, targets, runs=FIT_RUNS, n_boot=n_boot, seed=seed,
                           chance=chance)
        fits[task] = res
        for t in res.targets:
            actual = actual_accuracy(pts, t.name, task)
            rows.append({"task": task, "target": t.name, "predicted": t.acc, "lo": t.lo,
                         "hi": t.hi, "actual": actual, "abs_error": abs(t.acc - actual),
                         "paper_predicted": ref[task][t.name]})
    return pd.DataFrame(rows), fits


# ----------------------------------------------------------------------------- loss to loss
def _backtest(pairs: pd.DataFrame, held_out) -> dict:
    train, test = pairs[~held_out], pairs[held_out]
    p, _ = fit_loss_to_loss(train["Lx"], train["Ly"])
    pred = get_law("loss_to_loss").predict({"Lx": test["Lx"].to_numpy()}, p)
    rel = np.abs(pred - test["Ly"].to_numpy()) / test["Ly"].to_numpy()
    return {"params": p, "n_train": int(len(train)), "n_test": int(len(test)),
            "mean_rel_error": float(rel.mean()), "max_rel_error": float(rel.max())}


def pythia_pairs(path: Path = DATA / "pythia" / "pythia_lambada.csv", min_step: int = 13000):
    """Train-to-train pairing on Pythia: LAMBADA loss (log perplexity) of the model trained on
    the Pile against the one trained on the deduplicated Pile, paired by equal N and D."""
    d = pd.read_csv(path)
    d = d[d["step"] >= min_step].copy()
    d["size"] = d["model"].str.removeprefix("pythia-").str.removesuffix("-deduped")
    d["N"] = d["size"].map(PYTHIA_N).astype(float)
    d["D"] = d["tokens"].astype(float)
    d["value"] = np.log(d["ppl"])
    x = d[~d["deduped"]][["N", "D", "size", "value"]]
    y = d[d["deduped"]][["N", "D", "value"]]
    return pair_losses(x, y, by="nd")


def loss_to_loss_report() -> dict:
    out = {}
    pairs = pythia_pairs()
    out["pythia: lambada (Pile) -> lambada (dedup Pile), held out 12B"] = _backtest(
        pairs, pairs["N"] == pairs["N"].max())
    runs, points = ladder_tables()
    rung = runs.set_index("run")["tags"].map(lambda t: json.loads(t)["rung"])
    keep = FIT_RUNS + [f"3B-{m}xC" for m in (1, 2, 5, 10)]
    for y_name in ("pile", "wikitext_103", "dolma_stack"):
        x = points[points["metric"] == "val/c4_en/loss"]
        y = points[points["metric"] == f"val/{y_name}/loss"]
        pairs = pair_losses(x[x["run"].isin(keep)], y[y["run"].isin(keep)], by="run")
        pairs = pairs[pairs["tokens_x"] >= 0.1 * pairs.groupby("run")["tokens_x"].transform("max")]
        out[f"olmo ladder: c4 -> {y_name}, held out 3B"] = _backtest(
            pairs, pairs["run"].map(rung).eq("3B").to_numpy())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="folder for the CSV (and figures)")
    ap.add_argument("--boot", type=int, default=100, help="bootstrap resamples per task")
    ap.add_argument("--plot", action="store_true", help="write a figure per task")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    store = ladder_store()
    table, fits = predict_all(store, n_boot=args.boot)
    table.to_csv(out / "olmo_ladder_predictions.csv", index=False)
    pd.set_option("display.width", 140)
    show = table.copy()
    show["paper_error"] = (show["paper_predicted"] - show["actual"]).abs()
    for c in ("predicted", "lo", "hi", "actual", "abs_error", "paper_predicted", "paper_error"):
        show[c] = (100 * show[c]).round(1)
    print("Task accuracy (points), fitted on 190M-1.3B, 1-10x Chinchilla:")
    print(show.to_string(index=False))
    ours = table["abs_error"].mean() * 100
    paper = (table["paper_predicted"] - table["actual"]).abs().mean() * 100
    print(f"\nmean absolute error: scalefit {ours:.2f} points, paper {paper:.2f} points")
    within = table.groupby("task")["abs_error"].max()
    good = [t for t, e in within.items() if e <= 0.02]
    print(f"tasks within 2 points on both targets: {', '.join(good) or 'none'}")
    worse = table["abs_error"] - (table["paper_predicted"] - table["actual"]).abs()
    per_task = worse.groupby(table["task"]).mean()
    print(f"worse than the paper by at most: {100 * per_task.max():.2f} points per task "
          f"(mean of both targets, {per_task.idxmax()}); {100 * worse.max():.2f} points per task "
          f"and target ({table.loc[worse.idxmax(), 'task']} {table.loc[worse.idxmax(), 'target']})")

    print("\nLoss-to-loss, backtest on the largest model:")
    for name, r in loss_to_loss_report().items():
        p = r["params"]
        print(f"  {name}: mean rel. error {100 * r['mean_rel_error']:.2f}%, "
              f"max {100 * r['max_rel_error']:.2f}% ({r['n_train']} fit / {r['n_test']} held out;"
              f" K={p['K']:.3g} kappa={p['kappa']:.3g} E_x={p['E_x']:.3g} E_y={p['E_y']:.3g})")

    if args.plot:
        from scalefit.tasks_plot import plot_task

        actual = {(r.task, r.target): r.actual for r in table.itertuples()}
        for task, res in fits.items():
            fig = plot_task(res, actual={t.name: actual[(task, t.name)] for t in res.targets})
            fig.savefig(out / f"olmo_ladder_{task}.png", dpi=120, bbox_inches="tight")
        print(f"\nfigures in {out}/olmo_ladder_*.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
