"""The files of a group of ladder runs, and the store rows made from them.

Each run has a folder ``STORE/ladder-runs/<preset>__<rung>/`` holding

- ``rung.json``: the rung as planned;
- ``log.jsonl``: one curve point a line (step, tokens, FLOPs, LR, metric, value), appended
  and fsynced at every eval, so a kill loses at most the rows since the last one;
- ``done.json``: the final validation loss, once the run has finished;
- ``events.out.tfevents.*``: the same curve points for TensorBoard (``train/loss``, ``val/loss``
  and ``lr``), flushed at every eval, so ``tensorboard --logdir STORE/ladder-runs`` and
  ``scalefit watch STORE/ladder-runs/<run>`` follow a run while it trains (needs the
  ``tensorboard`` package; without it the run trains and says once that it writes none);

and the group's ``checkpoint.pt`` sits in its first run's folder. After every eval the logs
are ingested into the store (which writes atomically), so the store holds what the logs hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import warnings
from pathlib import Path

import pandas as pd
import torch

from scalefit.errors import StoreError
from scalefit.files import atomic_write_bytes
from scalefit.ladder.data import Corpus
from scalefit.ladder.plan import Rung

__all__ = ["EVENTS_GLOB", "FLOPS_CONVENTION", "PARAMS_CONVENTION", "GroupLog", "read_log", "run_dir",
           "run_name", "runs_row", "save_checkpoint", "write_atomic"]

PARAMS_CONVENTION = "non-embedding exact: 12*L*d^2 + RMSNorm gains (2L+1)*d"
FLOPS_CONVENTION = "6*N_matmul + 12*L*d*T per token, N_matmul = 12*L*d^2 + V*d"
_DISK_HINT = "free disk space, then continue with --resume"
EVENTS_GLOB = "events.out.tfevents.*"
POINT_COLUMNS = ["run", "step", "tokens", "flops", "lr", "metric", "value"]


def run_name(preset: str, rung: Rung) -> str:
    return f"{preset}/{rung.name}"


def run_dir(store: Path, name: str) -> Path:
    return store / "ladder-runs" / name.replace("/", "__")


# ---------------------------------------------------------------------------- files
def read_log(path: Path) -> list[dict]:
    """The rows of a ``log.jsonl``, up to the first line a kill cut short."""
    rows = []
    if not path.exists():
        return rows
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break  # a line cut by a kill
            try:
                rows.append(json.loads(line))
            except ValueError:
                break
    return rows


def _jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file flushed to disk; a full disk is a
    StoreError that says so."""
    try:
        atomic_write_bytes(path, data, fsync=True, make_parents=False)
    except OSError as exc:
        raise StoreError(f"cannot write {path.name}: {exc.strerror or exc}", where=str(path),
                         hint=_DISK_HINT) from exc


def _append(path: Path, rows: list[dict]) -> None:
    with open(path, "ab") as f:
        f.write(_jsonl(rows))
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(path: Path, state: dict, step: int | None = None) -> None:
    """Write to a temporary file, then rename: a failed write leaves the last checkpoint."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(state, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        at = f" at step {step}" if step is not None else ""
        kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint yet"
        raise StoreError(f"cannot write the checkpoint{at}: {exc.strerror or exc}; {kept}",
                         where=str(path), hint=_DISK_HINT) from exc


# ---------------------------------------------------------------------------- store rows
def runs_row(name: str, rung: Rung, plan_preset: str, corpus: Corpus, device: str, done: int,
             wall: float, stacked: int, precision: str = "fp32", compiled: bool = False) -> dict:
    """The store's ``runs`` row of one ladder run, ``done`` steps and ``wall`` seconds in."""
    c = rung.config
    tokens = rung.tokens
    meta = {
        "trainer": "scalefit.ladder", "preset": plan_preset, "rung": rung.to_dict(),
        "counts": c.counts(), "params_convention": PARAMS_CONVENTION,
        "flops_convention": FLOPS_CONVENTION, "flops_per_token": c.flops_per_token,
        "corpus": corpus.describe(), "corpus_hash": corpus.hash, "device": device,
        "torch": torch.__version__, "python": platform.python_version(),
        "precision": "bf16 autocast" if precision == "bf16" else "fp32",
        # what else decides the last bits of a CPU run, and so its curve
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "compiled": compiled,
        "stacked_models": stacked, "steps_done": done, "wall_seconds": round(wall, 2),
        "tokens_done": done * rung.batch_size * rung.seq_len,
    }
    tags = {"family": "scalefit-ladder", "preset": plan_preset, "rung": rung.name,
            "seed": rung.seed, "n_layer": rung.n_layer, "d_model": rung.d_model,
            "n_head": rung.n_head, **rung.tags}
    if rung.param != "sp":  # SP rows keep the tags they always had
        tags.update(param=rung.param, base_width=rung.base_width)
    return {
        "run": name, "params": float(c.params_nonembedding), "params_total": float(c.params_total),
        "tokens_total": float(tokens), "flops_total": float(c.flops_per_token) * tokens,
        "unique_tokens": float(min(tokens, corpus.meta["train_tokens"])),
        "batch_size": float(rung.batch_size), "seq_len": float(rung.seq_len),
        "lr_max": float(rung.lr), "schedule": rung.schedule_obj().to_json(),
        "params_convention": PARAMS_CONVENTION, "tags": json.dumps(tags),
        "meta": json.dumps(meta), "source": "scalefit ladder",
        "source_hash": hashlib.sha256(json.dumps(rung.to_dict(), sort_keys=True).encode()
                                      + corpus.hash.encode()).hexdigest()[:16],
    }


# ---------------------------------------------------------------------------- TensorBoard
_NO_TENSORBOARD_SAID = False


class _Events:
    """One TensorBoard event file per run, holding exactly the rows of its ``log.jsonl``."""

    def __init__(self, dirs: list[Path]):
        self.dirs = dirs
        self.writers: list | None = None

    def restart(self, kept: list[list[dict]]) -> None:
        """Start each run's event file afresh with the rows its log kept (a resume drops the
        rows past the checkpoint from both, so the two never disagree)."""
        self.close()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch without the tensorboard package
            global _NO_TENSORBOARD_SAID
            if not _NO_TENSORBOARD_SAID:
                _NO_TENSORBOARD_SAID = True
                warnings.warn("the tensorboard package is not installed: the ladder writes no "
                              "TensorBoard event files (pip install 'scalefit[ladder]')",
                              stacklevel=2)
            return
        for d in self.dirs:
            for old in d.glob(EVENTS_GLOB):
                old.unlink()
        # flush_secs is long: the file is flushed at every eval, with its log
        self.writers = [SummaryWriter(log_dir=str(d), flush_secs=3600) for d in self.dirs]
        self.add(kept)

    def add(self, rows: list[list[dict]]) -> None:
        """Append each run's rows (as written to its log) and flush them to disk."""
        if self.writers is None:
            return
        for w, rs in zip(self.writers, rows, strict=True):
            for r in rs:
                w.add_scalar(r["metric"], r["value"], r["step"])
                if r["metric"] == "train/loss":
                    w.add_scalar("lr", r["lr"], r["step"])
            w.flush()

    def close(self) -> None:
        for w in self.writers or []:
            w.close()
        self.writers = None


# ---------------------------------------------------------------------------- one group
class GroupLog:
    """The logs, checkpoint and store of one group of ``K`` runs trained together.

    Curve points collect in ``pending`` (one list per run) and reach the logs and the store at
    the next eval. Only rank 0 writes; pass ``writer=False`` on the other ranks.
    """

    def __init__(self, store_path: str | os.PathLike, preset: str, rungs: list[Rung],
                 corpus: Corpus, device: str, compiled: bool, writer: bool = True):
        from scalefit.store import Store

        self.store_dir = Path(store_path)
        self.preset, self.rungs, self.corpus = preset, rungs, corpus
        self.device, self.compiled = device, compiled
        self.names = [run_name(preset, r) for r in rungs]
        self.dirs = [run_dir(self.store_dir, n) for n in self.names]
        self.logs = [d / "log.jsonl" for d in self.dirs]
        self.checkpoint = self.dirs[0] / "checkpoint.pt"
        self.pending: list[list[dict]] = [[] for _ in rungs]
        self._flops_per_token = [r.config.flops_per_token for r in rungs]
        self.store = Store(self.store_dir) if writer else None
        self.events = _Events(self.dirs)

    def finished(self, resume: bool) -> dict[str, float] | None:
        """The final val losses if every run of the group has finished, else None.

        Without ``resume``, a finished run or one with a log is an error: nothing is overwritten.
        """
        done = self.done_losses()
        if len(done) == len(self.names):
            if not resume:
                raise StoreError(f"run {self.names[0]!r} is already complete in this store",
                                 where=str(self.store_dir),
                                 hint="pass --resume to skip finished runs, or use a new --store")
            return done
        if not resume and any(lg.exists() and lg.stat().st_size for lg in self.logs):
            raise StoreError(f"run {self.names[0]!r} has a log in this store", where=str(self.dirs[0]),
                             hint="pass --resume to continue it, or use a new --store")
        return None

    def done_losses(self) -> dict[str, float]:
        """Run name -> final val loss, for the runs of the group that have finished."""
        return {n: json.loads((d / "done.json").read_text()).get("final_val_loss")
                for n, d in zip(self.names, self.dirs, strict=True) if (d / "done.json").exists()}

    def restart_at(self, step: int) -> None:
        """Drop log rows past ``step`` (those of a killed run after its checkpoint); write rung.json."""
        all_kept = []
        for d, lg, r in zip(self.dirs, self.logs, self.rungs, strict=True):
            d.mkdir(parents=True, exist_ok=True)
            kept = [row for row in read_log(lg) if row["step"] <= step] if step else []
            write_atomic(lg, _jsonl(kept))
            write_atomic(d / "rung.json", json.dumps(r.to_dict(), indent=1).encode())
            all_kept.append(kept)
        self.events.restart(all_kept)

    def last_val_losses(self) -> list[float]:
        """Each run's last logged val loss (NaN if none): a resumed run reports it until its
        next eval."""
        last = []
        for lg in self.logs:
            vals = [row["value"] for row in read_log(lg) if row["metric"] == "val/loss"]
            last.append(vals[-1] if vals else math.nan)
        return last

    def add(self, metric: str, step: int, values: list[float], lrs) -> None:
        """One curve point per run at ``step``: ``values[k]`` trained at LR ``lrs[k]``."""
        r0 = self.rungs[0]
        tokens = float(step * (r0.batch_size * r0.seq_len))
        for k, v in enumerate(values):
            self.pending[k].append({"step": step, "tokens": tokens,
                                    "flops": tokens * self._flops_per_token[k],
                                    "lr": float(lrs[k]), "metric": metric, "value": float(v)})

    def write(self, finite_only: bool = False) -> None:
        """Append the pending points to the logs (``finite_only``: drop NaN and inf first)."""
        written = []
        for k, lg in enumerate(self.logs):
            rows = [r for r in self.pending[k] if math.isfinite(r["value"])] if finite_only \
                else self.pending[k]
            if rows:
                _append(lg, rows)
            written.append(rows)
            self.pending[k] = []
        self.events.add(written)

    def ingest(self, step: int, wall: float, precision: str) -> None:
        """Put every run's logged curve and its runs row (``step`` steps in) into the store."""
        points = [{"run": n, **row} for n, lg in zip(self.names, self.logs, strict=True)
                  for row in read_log(lg)]
        runs = [runs_row(n, r, self.preset, self.corpus, self.device, step, wall, len(self.rungs),
                         precision, self.compiled)
                for n, r in zip(self.names, self.rungs, strict=True)]
        self.store.add(runs=pd.DataFrame(runs), points=pd.DataFrame(points, columns=POINT_COLUMNS),
                       source="scalefit ladder")

    def finish(self, final: list[float], wall: float, keep_checkpoint: bool) -> None:
        """Mark every run done with its final val loss; drop the checkpoint unless kept."""
        for n, d, v in zip(self.names, self.dirs, final, strict=True):
            write_atomic(d / "done.json", json.dumps({"run": n, "final_val_loss": v,
                                                       "wall_seconds": wall}).encode())
        self.events.close()
        if not keep_checkpoint:
            self.checkpoint.unlink(missing_ok=True)
