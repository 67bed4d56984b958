"""Hugging Face Trainer ``trainer_state.json`` (``log_history``), with ``config.json`` beside it."""

from __future__ import annotations

from pathlib import Path

from scalefit.errors import InputError
from scalefit.io.head import Head
from scalefit.io.jsonfile import load_json
from scalefit.io.reader import Options, Parsed
from scalefit.io.table import records_table
from scalefit.io.wide import wide_from_table

# end-of-training summary keys: averages and timings, not curves
_SUMMARY = ("_runtime", "_per_second", "total_flos", "train_loss")


def sniff_layout(path: Path, head: Head) -> bool:
    """A Trainer output folder, or its ``trainer_state.json``."""
    if head.is_dir:
        return (path / "trainer_state.json").exists()
    return head.name == "trainer_state.json"


def sniff_content(path: Path, head: Head) -> bool:
    """JSON with a ``log_history`` (a Trainer state under another name)."""
    return head.kind == "json" and "log_history" in head.text


def read_trainer_state(path: Path, opts: Options, name: str) -> Parsed:
    """A Trainer ``trainer_state.json`` (or the folder holding it): the ``log_history``
    metrics as one run, named by ``opts.run`` or its folder (the parent of ``checkpoint-*``);
    ``total_flos`` as FLOPs, and sizes from a ``config.json`` beside it or one folder up."""
    file = path / "trainer_state.json" if path.is_dir() else path
    where = str(file)
    if not file.exists():
        raise InputError("no trainer_state.json here", where=str(path))
    state = load_json(file)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise InputError("no log_history list: not a Trainer state file", where=where)
    hist = [r for r in state["log_history"] if isinstance(r, dict)]
    if not any("step" in r for r in hist):
        raise InputError("log_history has no entries with a step", where=where)
    summary = {}
    records = []
    for r in hist:
        keep = {k: v for k, v in r.items() if not any(k.endswith(s) for s in _SUMMARY)}
        summary.update({k: v for k, v in r.items() if k not in keep})
        if set(keep) - {"step", "epoch"}:  # a metric besides the counters (epoch is optional)
            records.append(keep)
    if not records:
        raise InputError("log_history holds no metrics", where=where)
    folder = file.parent
    run = opts.run or (folder.parent.name if folder.name.startswith("checkpoint-") else folder.name)
    parsed = wide_from_table(records_table(records, where), file, opts, run, "hf")
    info = parsed.infos[0]
    if "total_flos" in summary:
        info.set("flops_total", summary["total_flos"], "trainer_state.json:total_flos")
    if "train_loss" in summary:
        info.meta["train_loss_mean"] = summary["train_loss"]
    for k in ("max_steps", "global_step", "train_batch_size", "num_train_epochs"):
        if k in state:
            info.meta[k] = state[k]
    for cfg_dir in (folder, folder.parent):
        cfg = cfg_dir / "config.json"
        if cfg.exists():
            data = load_json(cfg)
            if isinstance(data, dict):
                info.from_config(data, "config.json", overwrite=False)
            break
    return parsed
