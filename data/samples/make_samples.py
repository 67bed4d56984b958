"""Rebuild the sample logs in this folder from the real curves in ../shared/data.

Run from the repository root: ``python data/samples/make_samples.py [SHARED_DATA]``
(SHARED_DATA defaults to ``../shared/data`` beside the clone).
The TensorBoard sample is written by torch's SummaryWriter (the real writer); every other sample
renders real values (MultiPowerLaw curves, OLMo ladder W&B exports, Porian et al. IsoFLOP points)
in the layout the named tool writes.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[2] / "shared" / "data"
MP = SHARED / "multipower"
OLMO = SHARED / "olmo_ladder" / "ladder-runs"


def curve(size: str, name: str, n: int, every: int = 1) -> pd.DataFrame:
    return pd.read_csv(MP / size / f"{name}.csv").iloc[: n * every : every].reset_index(drop=True)


def main() -> None:
    # CSV wide, TSV wide, CSV long
    curve("25M", "cosine_24000", 80, 2).to_csv(HERE / "wide.csv", index=False)
    curve("25M", "wsd_20000_24000", 60, 3).to_csv(HERE / "wide.tsv", index=False, sep="\t")
    parts = []
    for name in ("constant_24000", "wsdcon_9"):
        c = curve("100M", name, 40, 4)
        parts.append(pd.DataFrame({"run": f"100M-{name}", "step": c["step"], "lr": c["lr"],
                                   "metric": "loss", "value": c["loss"]}))
    pd.concat(parts).to_csv(HERE / "long.csv", index=False)

    # final-loss table with the synonyms n, t, flops (Porian et al. IsoFLOP points)
    iso = pd.read_csv(SHARED / "porian2024" / "isoflop_points.csv")
    iso[iso["dataset"] == "rw"].head(40)[["hparams", "flops", "n", "t", "loss"]].to_csv(
        HERE / "final_isoflop.csv", index=False)

    # W&B run-history export: a real OLMo ladder run, a few columns
    keep = ["_step", "eval/c4_en-validation/CrossEntropyLoss",
            "eval/pile-validation/CrossEntropyLoss", "eval/downstream_bpb/hellaswag_val_rc_5shot_bpb",
            "throughput/total_tokens", "throughput/total_training_Gflops",
            "optim/learning_rate_group0", "learning_rate_peak", "batch_size_in_tokens"]
    wb = HERE / "wandb_history"
    wb.mkdir(exist_ok=True)
    pd.read_csv(OLMO / "190M-1xC.csv")[keep].to_csv(wb / "190M-1xC.csv", index=False)

    # W&B panel export of the same metric for two runs (Step, <run> - <metric>, __MIN, __MAX)
    metric = "eval/c4_en-validation/CrossEntropyLoss"
    panel = None
    for run in ("190M-1xC", "370M-1xC"):
        d = pd.read_csv(OLMO / f"{run}.csv")[["_step", metric]].rename(columns={"_step": "Step"})
        col = f"{run} - {metric}"
        d = d.rename(columns={metric: col})
        d[col + "__MIN"] = d[col]
        d[col + "__MAX"] = d[col]
        panel = d if panel is None else panel.merge(d, on="Step", how="outer")
    panel.to_csv(HERE / "wandb_panel.csv", index=False)

    # W&B run folder (summary + config), from the OLMo 190M-1xC run and its config entry
    last = pd.read_csv(OLMO / "190M-1xC.csv")[keep].iloc[-1]
    files = HERE / "wandb_run" / "offline-run-20240101_000000-190M1xC" / "files"
    files.mkdir(parents=True, exist_ok=True)
    summary = {"_step": int(last["_step"]), "_runtime": 1.0,
               **{k: float(last[k]) for k in keep[1:4]}}
    (files / "wandb-summary.json").write_text(json.dumps(summary, indent=1))
    (files / "config.yaml").write_text(
        "wandb_version: 1\n"
        "_wandb:\n  desc: null\n  value:\n    python_version: 3.10.12\n"
        "model:\n  desc: null\n  value:\n    n_params: 190354176\n    max_sequence_length: 2048\n"
        f"optimizer:\n  desc: null\n  value:\n    learning_rate: {float(last['learning_rate_peak'])}\n"
    )

    # JSON Lines
    c = curve("25M", "constant_24000", 60, 3)
    with open(HERE / "log.jsonl", "w") as f:
        for r in c.itertuples(index=False):
            f.write(json.dumps({"step": int(r.step), "train": {"loss": r.loss}, "lr": r.lr}) + "\n")

    # TensorBoard, written by the real writer
    tb = HERE / "tensorboard" / "25M-wsdcon_3"
    shutil.rmtree(tb.parent, ignore_errors=True)
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tb))
    for r in curve("25M", "wsdcon_3", 60, 3).itertuples(index=False):
        w.add_scalar("train/loss", r.loss, int(r.step))
        w.add_scalar("train/lr", r.lr, int(r.step))
    w.close()

    # Hugging Face Trainer state
    c = curve("100M", "cosine_24000", 50, 3)
    hist = [{"epoch": round(float(s) / 72000, 4), "learning_rate": float(lr), "loss": float(loss),
             "step": int(s)} for s, lr, loss in zip(c["step"], c["lr"], c["loss"], strict=True)]
    hist.append({"epoch": hist[-1]["epoch"], "step": hist[-1]["step"], "train_runtime": 1.0,
                 "train_samples_per_second": 1.0, "train_loss": float(c["loss"].mean())})
    hf = HERE / "hf" / "100M-cosine"
    hf.mkdir(parents=True, exist_ok=True)
    (hf / "trainer_state.json").write_text(json.dumps({
        "global_step": int(c["step"].iloc[-1]), "max_steps": 24000, "log_history": hist,
        "train_batch_size": 64}, indent=1))

    # Lightning CSVLogger: train rows with lr from LearningRateMonitor, in Lightning's layout
    c = curve("100M", "wsd_20000_24000", 50, 3)
    lv = HERE / "lightning" / "100M-wsd" / "version_0"
    lv.mkdir(parents=True, exist_ok=True)
    with open(lv / "metrics.csv", "w", newline="") as f:
        w2 = csv.writer(f)
        w2.writerow(["epoch", "lr-AdamW", "step", "train_loss"])
        for r in c.itertuples(index=False):
            w2.writerow([0, "", int(r.step), r.loss])
            w2.writerow([0, r.lr, int(r.step), ""])
    (lv / "hparams.yaml").write_text("lr: 0.0003\nwarmup_steps: 2160\nmax_steps: 24000\n")

    # MLflow file store
    c = curve("400M", "cosine_24000", 50, 3)
    root = HERE / "mlruns"
    shutil.rmtree(root, ignore_errors=True)
    exp = root / "0"
    rd = exp / "5f0c0ffee0000000000000000000400"
    (rd / "metrics" / "train").mkdir(parents=True)
    (rd / "params").mkdir()
    (rd / "tags").mkdir()
    (exp / "meta.yaml").write_text("artifact_location: mlruns/0\nexperiment_id: '0'\n"
                                   "lifecycle_stage: active\nname: Default\n")
    (rd / "meta.yaml").write_text(f"run_id: {rd.name}\nrun_name: 400M-cosine\nexperiment_id: '0'\n"
                                  "lifecycle_stage: active\nstatus: 3\n")
    t0 = 1700000000000
    with open(rd / "metrics" / "train" / "loss", "w") as f:
        for i, r in enumerate(c.itertuples(index=False)):
            f.write(f"{t0 + i * 1000} {r.loss} {int(r.step)}\n")
    with open(rd / "metrics" / "lr", "w") as f:
        for i, r in enumerate(c.itertuples(index=False)):
            f.write(f"{t0 + i * 1000} {r.lr} {int(r.step)}\n")
    (rd / "params" / "learning_rate").write_text("0.0003")
    (rd / "params" / "max_steps").write_text("24000")
    (rd / "tags" / "mlflow.runName").write_text("400M-cosine")

    # stdout logs
    c = curve("25M", "constant_24000", 60, 2)
    with open(HERE / "nanogpt.log", "w") as f:
        f.write("tokens per iteration will be: 491,520\nnumber of parameters: 25.00M\n")
        for r in c.itertuples(index=False):
            f.write(f"iter {int(r.step)}: loss {r.loss:.4f}, time 102.31ms, mfu 31.20%\n")
            if int(r.step) % 1280 == 0:
                f.write(f"step {int(r.step)}: train loss {r.loss:.4f}, val loss {r.loss:.4f}\n")
    c = curve("100M", "constant_24000", 60, 2)
    with open(HERE / "megatron.log", "w") as f:
        f.write("> building GPT model ...\n")
        for r in c.itertuples(index=False):
            f.write(f" iteration {int(r.step):8d}/   24000 | consumed samples: {int(r.step) * 256:12d} | "
                    f"elapsed time per iteration (ms): 512.3 | learning rate: {r.lr:.6E} | "
                    f"global batch size:   256 | lm loss: {r.loss:.6E} | loss scale: 1.0 | "
                    "number of skipped iterations:   0 | number of nan iterations:   0 |\n")
    c = curve("400M", "constant_24000", 40, 3)
    with open(HERE / "custom.log", "w") as f:
        for r in c.itertuples(index=False):
            f.write(f"[train] step={int(r.step)} lr={r.lr:.3e} loss={r.loss:.4f}\n")


if __name__ == "__main__":
    main()
