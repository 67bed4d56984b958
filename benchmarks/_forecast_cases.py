"""Cases of the forecast benchmark: each a data set from data/ and a split into fitted and held-out
runs that the fitting recipes were not tuned on (see benchmarks/forecast.py).

A final-loss split holds ``train``/``test`` tables (one row per run, or per checkpoint for the
checkpoints protocol: ``run, N, D, C, loss``) and ``data``, what ``scalefit.fit`` is given (the
train table, or a runs + points LogData for checkpoints). A schedule split holds curves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "data"

#: tokens per Pythia optimizer step (batch 1,024 x 2,048 tokens; EleutherAI/pythia README)
PYTHIA_TOKENS_PER_STEP = 2_097_152
#: Pythia non-embedding parameters (EleutherAI/pythia README), as in examples/olmo_ladder.py
PYTHIA_N = {"70m": 18915328, "160m": 85056000, "410m": 302311424, "1b": 805736448,
            "1.4b": 1208602624, "2.8b": 2517652480, "6.9b": 6444163072, "12b": 11327027200}
MULTIPOWER_TRAIN = ("cosine_24000", "constant_24000")
MULTIPOWER_TEST = ("wsd_20000_24000", "wsdld_20000_24000", "wsdcon_3", "wsdcon_9", "wsdcon_18")


@dataclass
class Split:
    train: pd.DataFrame | None = None
    test: pd.DataFrame | None = None
    data: object = None
    fit_kw: dict = field(default_factory=dict)
    # schedule cases
    train_curves: object = None
    test_curves: object = None


@dataclass
class Case:
    name: str
    dataset: str
    protocol: str
    kind: str  # "final" or "schedule"
    build: Callable[[], list[Split]]
    quick: bool = False
    note: str = ""


def _table(run, N, D, loss, C=None) -> pd.DataFrame:
    N = np.asarray(N, float)
    D = np.asarray(D, float)
    C = 6.0 * N * D if C is None else np.asarray(C, float)
    return pd.DataFrame({"run": list(map(str, run)), "N": N, "D": D, "C": C,
                         "loss": np.asarray(loss, float)})


def _final_split(df: pd.DataFrame, held: np.ndarray) -> Split:
    tr = df[~held].reset_index(drop=True)
    return Split(train=tr, test=df[held].reset_index(drop=True), data=tr)


# ----------------------------------------------------------------------------- Chinchilla
def chinchilla() -> pd.DataFrame:
    df = pd.read_csv(DATA / "chinchilla.csv")
    df = df[df["exclude"] == 0].reset_index(drop=True)
    N, C = df["Model Size"].to_numpy(float), df["Training FLOP"].to_numpy(float)
    return _table([f"chinchilla-{i}" for i in range(len(df))], N, C / (6 * N), df["loss"], C)


def _size_clusters(N: np.ndarray) -> np.ndarray:
    # sizes read off a figure differ in the 6th digit: 2 significant digits name a model size
    return np.array([float(f"{n:.2g}") for n in N])


def chinchilla_big() -> list[Split]:
    df = chinchilla()
    return [_final_split(df, df["N"].to_numpy() > 5e9)]


def chinchilla_top_compute() -> list[Split]:
    df = chinchilla()
    c = df["C"].to_numpy()
    k = int(round(0.1 * len(df)))
    held = np.zeros(len(df), bool)
    held[np.argsort(-c, kind="stable")[:k]] = True
    return [_final_split(df, held)]


def chinchilla_rolling(origins=(3, 6, 9)) -> list[Split]:
    """Fit every size up to the k-th largest, predict all larger ones, for each origin k."""
    df = chinchilla()
    size = _size_clusters(df["N"].to_numpy())
    sizes = np.sort(np.unique(size))[::-1]
    return [_final_split(df, size > sizes[k - 1]) for k in origins]


# ----------------------------------------------------------------------------- OLMo ladder
def olmo_finals(paper_n: bool) -> pd.DataFrame:
    """Final val/c4_en loss of each ladder run and target. ``paper_n``: non-embedding N of
    configs/final.json (which lists no 3B rung); else N as read from the run names by
    ``scalefit ingest`` (190M -> 1.9e8), as the README tour fits them."""
    df = pd.read_csv(DATA / "olmo_ladder" / "ladder_runs.csv")
    last = df.sort_values("step").groupby("run", sort=False).last().reset_index()
    cfg = json.loads((DATA / "olmo_ladder" / "final.json").read_text())
    paper = {"190M": cfg["190M"]["n"], "370M": cfg["370M"]["n"], "760M": cfg["760M"]["n"],
             "1B": cfg["1.3B"]["n"], "7B": cfg["7B-4T"]["n"], "13B": cfg["13B-5T"]["n"]}
    named = {"190M": 1.9e8, "370M": 3.7e8, "760M": 7.6e8, "1B": 1e9, "3B": 3e9, "7B": 7e9,
             "13B": 1.3e10}
    rung = last["rung"].astype(str).str.replace("-.*", "", regex=True)
    table = paper if paper_n else named
    last = last[rung.isin(table)].reset_index(drop=True)
    rung = rung[rung.isin(table)].reset_index(drop=True)
    N = rung.map(table).to_numpy(float)
    return _table(last["run"], N, last["tokens"], last["val/c4_en"])


def olmo(paper_n: bool) -> list[Split]:
    df = olmo_finals(paper_n)
    return [_final_split(df, df["run"].isin(["7B-4T", "13B-5T"]).to_numpy())]


# ----------------------------------------------------------------------------- Porian et al.
def porian(config: str, n_sizes: int = 2, min_tokens_per_param: float = 1.0) -> list[Split]:
    """Hold out the largest sizes of an IsoFLOP grid. Runs with fewer tokens than parameters
    (down to 0.02 per parameter at the largest sizes, losses near the unigram level) are left
    out of the fit and of the targets: no scaling law describes them and nobody plans them."""
    p = pd.read_csv(DATA / "porian2024" / f"isoflop_{config}.csv")
    p = p[p["D"] >= min_tokens_per_param * p["N"]]
    df = _table(p["run"], p["N"], p["D"], p["loss"], p["C"])
    sizes = np.sort(df["N"].unique())
    return [_final_split(df, df["N"].to_numpy() >= sizes[-n_sizes])]


# ----------------------------------------------------------------------------- Pythia
def pythia_checkpoints(min_tokens: float = 10e9, tail: float = 0.3) -> list[Split]:
    """Every checkpoint past ``min_tokens`` of all but the largest model; predict the largest
    model's last ``tail`` of checkpoints. Loss = log(LAMBADA perplexity)."""
    y = pd.read_csv(DATA / "pythia" / "pythia_lambada.csv")
    y = y[~y["deduped"].astype(bool)].copy()
    y["size"] = y["model"].str.replace("pythia-", "", regex=False)
    y = y[y["size"].isin(PYTHIA_N)]
    y["tokens"] = y["step"].astype(float) * PYTHIA_TOKENS_PER_STEP
    y = y[(y["tokens"] > min_tokens) & (y["ppl"] > 1)]
    biggest = max(PYTHIA_N, key=PYTHIA_N.get)
    tr, te = y[y["size"] != biggest], y[y["size"] == biggest].sort_values("step")
    te = te.iloc[len(te) - int(np.ceil(tail * len(te))):]

    def table(d):
        return _table([f"{m}@{s}" for m, s in zip(d["model"], d["step"], strict=True)],
                      d["size"].map(PYTHIA_N), d["tokens"], np.log(d["ppl"]))

    runs = pd.DataFrame({"run": tr["model"].unique()})
    last = tr.sort_values("step").groupby("model").last()
    runs["params"] = [float(PYTHIA_N[last.loc[r, "size"]]) for r in runs["run"]]
    runs["tokens_total"] = [float(last.loc[r, "tokens"]) for r in runs["run"]]
    points = pd.DataFrame({"run": tr["model"].to_numpy(), "step": tr["step"].to_numpy(),
                           "tokens": tr["tokens"].to_numpy(), "metric": "lambada/loss",
                           "value": np.log(tr["ppl"].to_numpy(float))})
    from scalefit.store import LogData

    data = LogData(runs, points, "data/pythia/pythia_lambada.csv")
    return [Split(train=table(tr).reset_index(drop=True), test=table(te).reset_index(drop=True),
                  data=data, fit_kw={"checkpoints": True, "warmup_frac": 0.0,
                                     "metric": "lambada/loss"})]


# ----------------------------------------------------------------------------- ladder store
def ladder_tiny() -> list[Split]:
    return ladder_store("ladder-cpu-tiny")


def ladder_store(name: str) -> list[Split]:
    """A shipped ladder store: fit the final val/loss of every size but the largest, predict
    the largest size's runs."""
    import scalefit
    from scalefit.lr_sweeps import final_by_run

    st = scalefit.Store(DATA / name, create=False)
    runs = st.runs.set_index("run")
    final = final_by_run(st.points, "val/loss")
    r = list(final.index)
    df = _table(r, runs.loc[r, "params"], runs.loc[r, "tokens_total"], final.to_numpy(),
                runs.loc[r, "flops_total"])
    return [_final_split(df, df["N"].to_numpy() == df["N"].max())]


# ----------------------------------------------------------------------------- Gadre et al.
def gadre(corpus: str, max_fit_n: float = 0.5e9, min_mult: float = 1.0) -> list[Split]:
    """Over-training: fit every run up to 0.41B parameters at 1x-32x Chinchilla tokens
    (M = 20-640 tokens per parameter), predict the 1.4B and 6.9B runs."""
    g = pd.read_csv(DATA / "gadre2024" / "gadre2024_losses.csv")
    g = g[g["dataset"] == corpus].reset_index(drop=True)
    df = _table(g["run"], g["N"], g["D"], g["loss_c4_val"])
    mult = g["cc_mult"].to_numpy(float)
    small = df["N"].to_numpy() <= max_fit_n
    keep = (small & (mult >= min_mult)) | ~small
    df = df[keep].reset_index(drop=True)
    return [_final_split(df, df["N"].to_numpy() > max_fit_n)]


# ----------------------------------------------------------------------------- Li et al.
#: tokens per optimizer step of Li et al.'s runs (the token counts are multiples of it)
MISFITTING_BATCH = 1_048_576


def misfitting(max_fit_n: float = 0.5e9, min_steps: int = 1000) -> list[Split]:
    """Li, Kudugunta & Zettlemoyer 2025: 11 sizes (12M-1B non-embedding parameters), each at
    several token counts and peak LRs. Each size and token count at its best LR, runs of at
    least ``min_steps`` steps (the shorter ones end in their warm-up's wake, 4-6 nats); fit
    every size up to 0.4B, predict the 1B runs."""
    df = pd.read_csv(DATA / "misfitting2025" / "misfitting_final_losses.csv")
    df = df[df["D"] >= min_steps * MISFITTING_BATCH]
    best = df.loc[df.groupby(["model", "D"])["loss"].idxmin()].reset_index(drop=True)
    t = _table(best["model"] + "-" + best["D"].astype(str), best["N_no_emb"], best["D"],
               best["loss"])
    return [_final_split(t, t["N"].to_numpy() > max_fit_n)]


# ----------------------------------------------------------------------------- schedules
def multipower(size: str) -> list[Split]:
    from scalefit.curves import multipower_curves

    folder = DATA / "multipower" / size
    return [Split(train_curves=multipower_curves(folder, list(MULTIPOWER_TRAIN)),
                  test_curves=multipower_curves(folder, list(MULTIPOWER_TEST)))]


def cases() -> list[Case]:
    out = [
        Case("chinchilla N>5e9", "chinchilla", "hold out N > 5e9", "final", chinchilla_big,
             quick=True),
        Case("chinchilla top C", "chinchilla", "hold out top 10% compute", "final",
             chinchilla_top_compute),
        Case("chinchilla rolling", "chinchilla", "fit <= k-th largest size, k=3,6,9",
             "final", chinchilla_rolling),
        Case("olmo 190M-3B", "olmo_ladder", "fit 190M-3B, predict 7B, 13B (N from names)",
             "final", lambda: olmo(False), quick=True),
        Case("olmo paper", "olmo_ladder", "fit 190M-1.3B, predict 7B, 13B (final.json N)",
             "final", lambda: olmo(True)),
        Case("porian tuned", "porian2024", "hold out 2 largest sizes, D/N >= 1", "final",
             lambda: porian("tuned_rw")),
        Case("porian kaplan-like", "porian2024", "hold out 2 largest sizes, D/N >= 1",
             "final",
             lambda: porian("kaplan_like_rw")),
        Case("pythia lambada", "pythia", "checkpoints >10B tok; 12B last 30%", "final",
             pythia_checkpoints),
        Case("ladder-cpu-tiny", "ladder-cpu-tiny", "hold out largest size", "final",
             ladder_tiny, quick=True),
        Case("ladder-cpu-small", "ladder-cpu-small", "hold out largest size", "final",
             lambda: ladder_store("ladder-cpu-small")),
    ]
    gfile = DATA / "gadre2024" / "gadre2024_losses.csv"
    present = set(pd.read_csv(gfile)["dataset"]) if gfile.exists() else set()
    for corpus, label in (("c4_original", "C4"), ("rpj", "RedPajama"),
                          ("rw_original", "RefinedWeb")):
        if corpus in present:
            out.append(Case(f"gadre {label}", "gadre2024",
                            "fit <=0.41B at 1-32x, predict 1.4B, 6.9B", "final",
                            lambda c=corpus: gadre(c)))
    # added after `auto` was designed: the same protocol on Porian et al.'s OpenWebText2 runs,
    # on their cosine-decay runs (LR decayed over each run's own length) on both corpora, and
    # (added after kaplan_nd_e joined auto) on their steps between the Kaplan-like setup and
    # cosine decay: the head counted in N, then a short warm-up
    for config, label in (("tuned_owt2", "OWT2 tuned"), ("kaplan_like_owt2", "OWT2 kaplan-like"),
                          ("cosine_rw", "RW cosine"), ("cosine_owt2", "OWT2 cosine"),
                          ("standard_count_rw", "RW head counted"),
                          ("short_warmup_rw", "RW short warm-up"),
                          ("standard_count_owt2", "OWT2 head counted"),
                          ("short_warmup_owt2", "OWT2 short warm-up")):
        out.append(Case(f"porian {label}", "porian2024", "hold out 2 largest sizes, D/N >= 1",
                        "final", lambda c=config: porian(c)))
    if (DATA / "misfitting2025" / "misfitting_final_losses.csv").exists():
        out.append(Case("misfitting 1B", "misfitting2025",
                        "best LR per size x tokens, >= 1k steps; fit <= 0.4B, predict 1B",
                        "final", misfitting))
    for size in ("25M", "100M", "400M"):
        out.append(Case(f"multipower {size}", "multipower",
                        "fit cosine+constant, final loss of 5 schedules", "schedule",
                        lambda s=size: multipower(s), quick=size == "25M"))
    return out
