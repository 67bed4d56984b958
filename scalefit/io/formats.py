"""The log formats: what each reads, where its reader lives, and how a file is recognised."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.head import Head
from scalefit.io.reader import Options, Parsed


@dataclass(frozen=True)
class Format:
    """One log format: where its reader lives, what it reads and how it is recognised.

    ``layout`` and ``content`` name functions ``(path, head: Head) -> bool`` in the reader's
    module: ``layout`` knows a folder by what it holds, or a file by its name and what lies
    beside it; ``content`` knows a file by its first bytes. Every format's layout is asked
    before any content is read; ``rank`` orders the formats where two could claim one path.
    """

    name: str
    module: str
    func: str
    description: str
    suffixes: tuple[str, ...] = ()
    folder: bool = False  # reads a folder (or a file inside one)
    layout: str | None = None
    content: str | None = None
    rank: int = 0
    config_beside: bool = False  # a one-run log that may have its config file beside it

    @property
    def reader(self) -> Callable[[Path, Options, str], Parsed]:
        """The reader function ``(path, options, default run name) -> Parsed``, imported on
        first use."""
        return _function(self.module, self.func)

    def sniff_layout(self, path: Path, head: Head) -> bool:
        """This format reads the folder ``path``, or the file by its name."""
        return self.layout is not None and bool(_function(self.module, self.layout)(path, head))

    def sniff(self, path: Path, head: Head) -> bool:
        """This format reads the file ``path``, by its first bytes."""
        return self.content is not None and bool(_function(self.module, self.content)(path, head))


@functools.cache
def _function(module: str, name: str) -> Callable:
    # the readers are imported when first used: each pulls in its own parsers
    return getattr(importlib.import_module(f"scalefit.io.{module}"), name)


# Ranks: a folder's own marker files (mlflow, W&B, Trainer, Lightning) before TensorBoard
# files anywhere below it; stdout patterns before a CSV suffix, which claims what is left.
FORMATS: dict[str, Format] = {f.name: f for f in [
    Format("csv", "tables", "read_csv",
           "CSV/TSV: wide (a step column plus metric columns), long (run, step, metric, value) "
           "or a final-loss table, told apart by the header", (".csv", ".tsv", ".tab"),
           content="sniff_csv", rank=11, config_beside=True),
    Format("final", "tables", "read_final",
           "final-loss table: one row per run with N, D and/or C and the loss", (".csv",),
           content="sniff_final", rank=8),
    Format("wandb", "tables", "read_wandb_history",
           "W&B run-history CSV export (_step plus metric columns), one run per file", (".csv",),
           content="sniff_wandb_history", rank=6,
           config_beside=True),
    Format("wandb-panel", "wandb", "read_panel",
           "W&B panel CSV export (Step, '<run> - <metric>' columns)", (".csv",),
           content="sniff_panel", rank=7),
    Format("wandb-run", "wandb", "read_run_folder",
           "W&B run folder (wandb-summary.json, config.yaml)", (".json",), folder=True,
           layout="sniff_run_folder", rank=1),
    Format("jsonl", "jsonl", "read_jsonl", "JSON Lines, one object per logged step",
           (".jsonl", ".ndjson", ".json"), content="sniff_content", rank=5, config_beside=True),
    Format("tensorboard", "tensorboard", "read_events",
           "TensorBoard event files (scalars and scalar tensors)", (), folder=True,
           layout="sniff_layout", content="sniff_content", rank=4),
    Format("hf", "hf", "read_trainer_state", "Hugging Face Trainer trainer_state.json",
           (".json",), folder=True, layout="sniff_layout", content="sniff_content", rank=2),
    Format("lightning", "lightning", "read_lightning",
           "PyTorch Lightning CSVLogger metrics.csv (+ hparams.yaml)", (".csv",), folder=True,
           layout="sniff_layout", rank=3),
    Format("mlflow", "mlflow", "read_mlflow", "MLflow file store (mlruns/<exp>/<run>/metrics)",
           (), folder=True, layout="sniff_layout", rank=0),
    Format("nanogpt", "stdout", "read_nanogpt", "nanoGPT stdout ('iter 100: loss 3.2100, ...')",
           (".log", ".txt", ".out"), content="sniff_nanogpt", rank=10, config_beside=True),
    Format("megatron", "stdout", "read_megatron",
           "Megatron-LM stdout ('iteration 100/ 1000 | ... lm loss: 3.210E+00 |')",
           (".log", ".txt", ".out"), content="sniff_megatron", rank=9, config_beside=True),
    Format("regex", "stdout", "read_regex",
           "any text log, with a regex whose named groups are step and metric names (regex=)",
           (".log", ".txt", ".out"), config_beside=True),
]}

#: the formats in the order detection asks them
_BY_RANK = sorted(FORMATS.values(), key=lambda f: f.rank)


def folder_format(path: Path) -> str | None:
    """The format that reads the folder ``path`` as a whole, or None (a plain folder of logs)."""
    head = Head(path)
    return next((f.name for f in _BY_RANK if f.sniff_layout(path, head)), None)


def sniff(path: Path) -> str:
    """The format of one file or folder, from its content and name."""
    where = str(path)
    head = Head(path)
    if head.is_dir:
        fmt = next((f.name for f in _BY_RANK if f.sniff_layout(path, head)), None)
        if fmt is None:
            raise InputError("no known log layout in this folder", where=where)
        return fmt
    for stage in (Format.sniff_layout, Format.sniff):  # names first: no content read for them
        for f in _BY_RANK:
            if stage(f, path, head):
                return f.name
    raise InputError("not a known log format", where=where,
                     hint=f"pick one with --format ({', '.join(FORMATS)}) or give --regex")
