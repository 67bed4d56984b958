"""The sample log of every reader in data/samples, shared by the reader test modules."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
REGEX = r"step=(?P<step>\d+) lr=(?P<lr>\S+) loss=(?P<loss>\S+)"

#: reader -> (sample given to the reader, its main file (glob inside a folder), read options)
SAMPLE_OF = {
    "csv": ("wide.csv", None, {}),
    "final": ("final_isoflop.csv", None, {}),
    "wandb": ("wandb_history/190M-1xC.csv", None, {}),
    "wandb-panel": ("wandb_panel.csv", None, {}),
    "wandb-run": ("wandb_run/offline-run-20240101_000000-190M1xC", "files/wandb-summary.json", {}),
    "jsonl": ("log.jsonl", None, {}),
    "tensorboard": ("tensorboard/25M-wsdcon_3", "*tfevents*", {}),
    "hf": ("hf/100M-cosine", "trainer_state.json", {}),
    "lightning": ("lightning/100M-wsd/version_0", "metrics.csv", {}),
    "mlflow": ("mlruns", "0/*/metrics/train/loss", {}),
    "nanogpt": ("nanogpt.log", None, {}),
    "megatron": ("megatron.log", None, {}),
    "regex": ("custom.log", None, {"regex": REGEX}),
}
