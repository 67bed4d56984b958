"""Train ladder rungs and write their curves into a store as they go.

One *group* is a list of rungs trained together: one rung is a plain :class:`GPT` (optionally
data-parallel under ``torchrun``); several same-shape rungs form one :class:`StackedGPT` whose
models differ in seed, LR or schedule.

Crash safety and exact resume
-----------------------------
Every ``eval_every`` steps a group (1) appends the new rows of each run to its ``log.jsonl``
(fsync), (2) writes a checkpoint by rename (model, optimizer, step, RNG states), and (3) ingests
each run's log into the store (the store writes atomically). A resumed group loads the last
checkpoint, drops log rows past its step and continues. Batches are a pure function of
(seed, step) and the train-loss window restarts at every checkpoint, so the resumed curve equals
an uninterrupted one.

Run as a module for data parallelism (gloo on CPU, NCCL on GPU)::

    torchrun --nproc_per_node 2 -m scalefit.ladder.train --preset cpu-smoke --store DIR
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from scalefit.errors import InputError, StoreError, UsageError
from scalefit.ladder.data import Corpus, build_corpus, default_corpus_dir, get_batch, open_corpus
from scalefit.ladder.model import GPT, StackedGPT
from scalefit.ladder.plan import Plan, Rung, make_plan

__all__ = ["make_engine", "run_plan", "train_group", "run_name", "resolve_corpus"]

VAL_SEED = 0x5CA1EF17  # the validation batches: identical for every rung of every ladder
PARAMS_CONVENTION = "non-embedding exact: 12*L*d^2 + RMSNorm gains (2L+1)*d"
FLOPS_CONVENTION = "6*N_matmul + 12*L*d*T per token, N_matmul = 12*L*d^2 + V*d"
BETAS = (0.9, 0.95)


def _dist():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


# ---------------------------------------------------------------------------- engines
PRECISIONS = ("auto", "fp32", "bf16")


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` is bf16 autocast on GPU and fp32 on CPU; bf16 also runs on CPU (for checks)."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", where="--precision",
                         hint="use auto, fp32 or bf16")
    if precision == "auto":
        return "bf16" if str(device).startswith("cuda") else "fp32"
    return precision


class _Engine:
    """What both engines share: the device, autocast, checkpoint state and synchronisation.
    Subclasses set ``device``, ``cuda``, ``precision``, ``raw`` (the unwrapped model) and ``opt``."""

    def _autocast(self):
        # bf16 autocast: matmuls in bf16, weights, optimizer state and losses stay fp32
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def state_dict(self) -> dict:
        return {"model": self.raw.state_dict(), "optim": self.opt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.raw.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)


class PlainEngine(_Engine):
    """One GPT and torch's fused AdamW; bf16 autocast (GPU default), torch.compile; DDP."""

    def __init__(self, rung: Rung, device: str, compile: bool = False, precision: str = "auto"):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.precision = resolve_precision(precision, device)
        torch.manual_seed(rung.seed)
        self.raw = GPT(rung.config).to(self.device)
        decay = [p for n, p in self.raw.named_parameters() if "norm" not in n]
        keep = [p for n, p in self.raw.named_parameters() if "norm" in n]
        groups = [{"params": decay, "weight_decay": rung.weight_decay},
                  {"params": keep, "weight_decay": 0.0}]
        # one fused kernel for the whole update (CUDA and CPU alike)
        self.opt = torch.optim.AdamW(groups, lr=rung.lr, betas=BETAS, eps=1e-8, fused=True)
        self.clip = rung.grad_clip
        model = self.raw
        if compile:
            model = torch.compile(model)
        self.rank, self.world = _dist()
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            model = DDP(model, device_ids=[self.device.index] if self.cuda else None)
        self.model = model
        self.k = 1


    def train_step(self, xs, ys, lrs) -> torch.Tensor:
        for g in self.opt.param_groups:
            g["lr"] = float(lrs[0])
        x = xs[0].to(self.device, non_blocking=True)
        y = ys[0].to(self.device, non_blocking=True)
        self.model.train()
        with self._autocast():
            loss = self.model(x, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.raw.parameters(), self.clip)
        self.opt.step()
        return loss.detach().float().view(1)

    @torch.no_grad()
    def eval_loss(self, xs, ys) -> torch.Tensor:
        self.model.eval()
        with self._autocast():
            return self.raw(xs[0].to(self.device), ys[0].to(self.device)).float().view(1)



class StackedAdamW:
    """AdamW over stacked weights with one LR per model (torch.optim.AdamW's update, per slice),
    and per-model gradient clipping.

    The weights and both moments live in ``(K, P)`` buffers (every parameter a view of its
    columns, decayed ones first) and the gradients are gathered into one such buffer, so a step
    and the per-model clipping norms are a handful of ops, not a dozen per weight.
    """

    def __init__(self, named_params, k: int, weight_decay: float, betas=BETAS, eps: float = 1e-8):
        self.params = [p for _, p in named_params]
        decays = ["norm" not in n for n, _ in named_params]
        self.k, self.betas, self.eps, self.wd = k, betas, eps, weight_decay
        self.t = 0
        self.order = sorted(range(len(self.params)), key=lambda i: not decays[i])  # decayed first
        sizes = [self.params[i][0].numel() for i in self.order]
        p0 = self.params[0]
        self.flat = torch.empty(k, sum(sizes), dtype=p0.dtype, device=p0.device)
        self.flat_m = torch.zeros_like(self.flat)
        self.flat_v = torch.zeros_like(self.flat)
        self.exp_avg: list = [None] * len(self.params)
        self.exp_avg_sq: list = [None] * len(self.params)
        self.n_decay, off = 0, 0
        with torch.no_grad():
            for i, n in zip(self.order, sizes, strict=True):
                p = self.params[i]
                cols = slice(off, off + n)
                self.flat[:, cols].copy_(p.detach().reshape(k, n))
                p.data = self.flat[:, cols].view(p.shape)
                self.exp_avg[i] = self.flat_m[:, cols].view(p.shape)
                self.exp_avg_sq[i] = self.flat_v[:, cols].view(p.shape)
                off += n
                if decays[i]:
                    self.n_decay = off

    @torch.no_grad()
    def step(self, lr: torch.Tensor, max_norm: float | None = None) -> None:
        """One update; with ``max_norm``, each model's gradient is first scaled to that norm."""
        g = torch.cat([self.params[i].grad.reshape(self.k, -1) for i in self.order], dim=1)
        if max_norm:
            coef = (max_norm / (g.pow(2).sum(1, keepdim=True).sqrt_() + 1e-6)).clamp_(max=1.0)
            g.mul_(coef)
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        p, m, v = self.flat, self.flat_m, self.flat_v
        lr_b = lr.view(self.k, 1).to(p.dtype)
        if self.wd and self.n_decay:
            p[:, :self.n_decay].mul_(1 - lr_b * self.wd)
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
        p.addcdiv_(m * (lr_b / bc1), denom, value=-1.0)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        return {"t": self.t, "exp_avg": list(self.exp_avg), "exp_avg_sq": list(self.exp_avg_sq)}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for dst, src in zip(self.exp_avg + self.exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"],
                            strict=True):
            dst.copy_(src)


class StackedEngine(_Engine):
    """``K`` same-shape GPTs as one :class:`StackedGPT`; per-model LR and gradient clipping."""

    def __init__(self, rungs: list[Rung], device: str, compile: bool = False,
                 precision: str = "auto"):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.precision = resolve_precision(precision, device)
        self.k = len(rungs)
        self.raw = StackedGPT.from_seeds(rungs[0].config, [r.seed for r in rungs]).to(self.device)
        self.opt = StackedAdamW(list(self.raw.named_parameters()), self.k, rungs[0].weight_decay)
        self.clip = rungs[0].grad_clip
        self.model = torch.compile(self.raw) if compile else self.raw


    def train_step(self, xs, ys, lrs) -> torch.Tensor:
        x = torch.stack(list(xs)).to(self.device, non_blocking=True)
        y = torch.stack(list(ys)).to(self.device, non_blocking=True)
        self.raw.train()
        with self._autocast():
            losses = self.model(x, y)
        self.opt.zero_grad()
        losses.sum().backward()
        self.opt.step(torch.as_tensor(np.asarray(lrs, dtype=np.float32), device=self.device),
                      self.clip)
        return losses.detach().float()

    @torch.no_grad()
    def eval_loss(self, xs, ys) -> torch.Tensor:
        self.raw.eval()
        x = torch.stack(list(xs)).to(self.device)
        y = torch.stack(list(ys)).to(self.device)
        with self._autocast():
            return self.raw(x, y).float()



def make_engine(rungs: list[Rung], device: str = "cpu", compile: bool = False,
                precision: str = "auto"):
    """A plain engine for one rung, a stacked one for several same-shape rungs.

    ``compile``: torch.compile the model (GPU, and CPU where a C++ compiler is installed).
    ``precision``: ``auto`` (bf16 autocast on GPU, fp32 on CPU), ``fp32`` or ``bf16``."""
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if compile and not device.startswith("cuda") and not _have_cxx():
        raise UsageError("torch.compile on CPU needs a C++ compiler, and none was found",
                         where="--compile", hint="install one (e.g. gcc) or train without --compile")
    if len(rungs) == 1:
        return PlainEngine(rungs[0], device, compile, precision)
    keys = {r.shape_key for r in rungs}
    if len(keys) != 1:
        raise UsageError("stacked rungs must share shape, batch and steps",
                         where=", ".join(r.name for r in rungs))
    if _dist()[1] > 1:
        raise UsageError("stacked rungs do not run data-parallel", where="torchrun",
                         hint="train stacked groups in one process, or pass --stack never")
    return StackedEngine(rungs, device, compile, precision)


def _have_cxx() -> bool:
    """Whether torch.compile's CPU backend finds a C++ compiler (CXX, or c++/g++/clang++)."""
    import shutil

    cxx = os.environ.get("CXX")
    return any(shutil.which(c) for c in ([cxx] if cxx else []) + ["c++", "g++", "clang++"])


# ---------------------------------------------------------------------------- files
def run_name(preset: str, rung: Rung) -> str:
    return f"{preset}/{rung.name}"


def _run_dir(store: Path, name: str) -> Path:
    return store / "ladder-runs" / name.replace("/", "__")


def _read_log(path: Path) -> list[dict]:
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


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path.name}: {exc.strerror or exc}", where=str(path),
                         hint=_DISK_HINT) from exc


_DISK_HINT = "free disk space, then continue with --resume"


def _append(path: Path, rows: list[dict]) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
        f.flush()
        os.fsync(f.fileno())


def _save_checkpoint(path: Path, state: dict, step: int | None = None) -> None:
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


def _oom_error(exc: BaseException, names: list[str], step: int, rung: Rung, k: int) -> UsageError:
    stacked = (f"; {k} models train stacked here, --stack never trains them one at a time"
               if k > 1 else "")
    return UsageError(
        f"out of GPU memory at step {step} (batch {rung.batch_size} x {rung.seq_len} tokens, "
        f"{rung.config.params_total:.3g} parameters per model)",
        where=", ".join(names),
        hint="use a smaller batch (a plan with a smaller batch_size per rung) or a smaller "
             f"model, or a GPU with more memory{stacked}; --resume continues from the last "
             "checkpoint")


def resolve_corpus(corpus: str | os.PathLike | None, *, offline: bool = False,
                   log: Callable[[str], None] = print) -> Corpus:
    """Open ``corpus``, or the default corpus (built once in the cache)."""
    if corpus is not None:
        return open_corpus(corpus)
    path = default_corpus_dir(offline)
    if (path / "meta.json").exists():
        return open_corpus(path)
    return build_corpus(path, offline=offline, log=log)


def _runs_row(name: str, rung: Rung, plan_preset: str, corpus: Corpus, device: str, done: int,
              wall: float, stacked: int, precision: str = "fp32", compiled: bool = False) -> dict:
    c = rung.config
    tokens = rung.tokens
    meta = {
        "trainer": "scalefit.ladder", "preset": plan_preset, "rung": rung.to_dict(),
        "counts": c.counts(), "params_convention": PARAMS_CONVENTION,
        "flops_convention": FLOPS_CONVENTION, "flops_per_token": c.flops_per_token,
        "corpus": corpus.describe(), "corpus_hash": corpus.hash, "device": device,
        "torch": torch.__version__, "python": platform.python_version(),
        "precision": "bf16 autocast" if precision == "bf16" else "fp32",
        "compiled": compiled,
        "stacked_models": stacked, "steps_done": done, "wall_seconds": round(wall, 2),
        "tokens_done": done * rung.batch_size * rung.seq_len,
    }
    tags = {"family": "scalefit-ladder", "preset": plan_preset, "rung": rung.name,
            "seed": rung.seed, "n_layer": rung.n_layer, "d_model": rung.d_model,
            "n_head": rung.n_head, **rung.tags}
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


def _ingest(store, rows_by_run: dict[str, list[dict]], runs_rows: list[dict]) -> None:
    pts = []
    for name, rows in rows_by_run.items():
        for r in rows:
            pts.append({"run": name, **r})
    points = pd.DataFrame(pts, columns=["run", "step", "tokens", "flops", "lr", "metric", "value"])
    store.add(runs=pd.DataFrame(runs_rows), points=points, source="scalefit ladder")


# ---------------------------------------------------------------------------- training
def train_group(
    rungs: list[Rung],
    *,
    corpus: Corpus,
    store_path: str | os.PathLike,
    preset: str,
    device: str = "cpu",
    resume: bool = False,
    compile: bool = False,
    precision: str = "auto",
    keep_checkpoint: bool = False,
    progress: Callable[[dict], None] | None = None,
    stop_after: int | None = None,
) -> dict:
    """Train one group of rungs to the end (or to step ``stop_after``) and log it to the store.

    Returns ``{"runs": names, "final": {name: val loss}, "seconds": wall, "skipped": bool}``.
    """
    from scalefit.store import Store

    rank, world = _dist()
    store_dir = Path(store_path)
    names = [run_name(preset, r) for r in rungs]
    dirs = [_run_dir(store_dir, n) for n in names]
    logs = [d / "log.jsonl" for d in dirs]
    ckpt_path = dirs[0] / "checkpoint.pt"
    r0 = rungs[0]
    steps, B, T = r0.steps, r0.batch_size, r0.seq_len
    K = len(rungs)
    if B % world or r0.val_batch_size % world:
        raise UsageError(f"batch {B} and validation batch {r0.val_batch_size} must divide by "
                         f"{world} processes", where=r0.name)
    store = Store(store_dir) if rank == 0 else None
    if all((d / "done.json").exists() for d in dirs):
        if not resume:
            raise StoreError(f"run {names[0]!r} is already complete in this store", where=str(store_dir),
                             hint="pass --resume to skip finished runs, or use a new --store")
        final = {n: json.loads((d / "done.json").read_text()).get("final_val_loss")
                 for n, d in zip(names, dirs, strict=True)}
        return {"runs": names, "final": final, "seconds": 0.0, "skipped": True}
    if not resume and any(lg.exists() and lg.stat().st_size for lg in logs):
        raise StoreError(f"run {names[0]!r} has a log in this store", where=str(dirs[0]),
                         hint="pass --resume to continue it, or use a new --store")

    engine = make_engine(rungs, device, compile, precision)
    prec = engine.precision
    start = 0
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=engine.device, weights_only=True)
        if state.get("runs") != names:
            raise StoreError("checkpoint belongs to other runs", where=str(ckpt_path))
        engine.load_state_dict(state["engine"])
        torch.set_rng_state(state["rng_cpu"])
        if engine.cuda and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"], engine.device)
        start = int(state["step"])
    if rank == 0:
        for d, lg, r in zip(dirs, logs, rungs, strict=True):
            d.mkdir(parents=True, exist_ok=True)
            kept = [row for row in _read_log(lg) if row["step"] <= start] if start else []
            _write_atomic(lg, b"".join(json.dumps(row).encode() + b"\n" for row in kept))
            _write_atomic(d / "rung.json", json.dumps(r.to_dict(), indent=1).encode())
    if world > 1:
        torch.distributed.barrier()

    lr_table = np.stack([r.schedule_obj().lr(np.arange(steps)) for r in rungs])  # (K, steps)
    train_tok, val_tok = corpus.train, corpus.val
    rows = slice(rank, None, world) if world > 1 else None
    val_batches = []
    for i in range(r0.val_batches):
        x, y = get_batch(val_tok, T, r0.val_batch_size, VAL_SEED, i, rows)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        val_batches.append(([xt] * K, [yt] * K))
    seeds = [r.seed for r in rungs]
    log_every = max(1, r0.eval_every // 4)
    window = torch.zeros(K, device=engine.device)
    wn = 0
    pending: list[list[dict]] = [[] for _ in range(K)]
    t_start = time.perf_counter()
    wall_before = float(state.get("wall", 0.0)) if start else 0.0
    tok_per_step = B * T
    fpt = [r.config.flops_per_token for r in rungs]
    last_val = [math.nan] * K
    if start and rank == 0:  # a run killed after its last checkpoint still reports its loss
        for k, lg in enumerate(logs):
            vals = [row["value"] for row in _read_log(lg) if row["metric"] == "val/loss"]
            last_val[k] = vals[-1] if vals else math.nan

    def point(k, done, metric, value):
        return {"step": done, "tokens": float(done * tok_per_step),
                "flops": float(done * tok_per_step) * fpt[k], "lr": float(lr_table[k, done - 1]),
                "metric": metric, "value": float(value)}

    end = steps if stop_after is None else min(steps, stop_after)
    for s in range(start, end):
        cache: dict[int, tuple] = {}
        xs, ys = [], []
        for sd in seeds:
            if sd not in cache:
                x, y = get_batch(train_tok, T, B, sd, s, rows)
                cache[sd] = (torch.from_numpy(x), torch.from_numpy(y))
            xs.append(cache[sd][0])
            ys.append(cache[sd][1])
        try:
            window += engine.train_step(xs, ys, lr_table[:, s])
        except torch.OutOfMemoryError as exc:
            raise _oom_error(exc, names, s + 1, r0, K) from None
        wn += 1
        done = s + 1
        is_eval = done % r0.eval_every == 0 or done == steps
        if done % log_every == 0 or is_eval:
            mean = window / wn
            if world > 1:
                torch.distributed.all_reduce(mean, op=torch.distributed.ReduceOp.AVG)
            for k, v in enumerate(mean.tolist()):
                pending[k].append(point(k, done, "train/loss", v))
            window.zero_()
            wn = 0
            losses = mean.tolist()
            if not np.all(np.isfinite(losses)):
                bad = [n for n, v in zip(names, losses, strict=True) if not math.isfinite(v)]
                if rank == 0:  # keep the curve: the finite rows logged since the last eval
                    for k in range(K):
                        keep = [row for row in pending[k] if math.isfinite(row["value"])]
                        if keep:
                            _append(logs[k], keep)
                        pending[k] = []
                    rows_by_run = {n: _read_log(lg) for n, lg in zip(names, logs, strict=True)}
                    wall = wall_before + time.perf_counter() - t_start
                    _ingest(store, rows_by_run,
                            [_runs_row(n, r, preset, corpus, device, done, wall, K, prec, compile)
                             for n, r in zip(names, rungs, strict=True)])
                raise UsageError(
                    f"training diverged at step {done}: mean train loss "
                    f"{', '.join(f'{v:.4g}' for v in losses)} over the last {log_every} step(s); "
                    "the finite part of the curve is kept in the store and the log",
                    where=", ".join(bad), hint="lower the LR with --lr-mult")
        if is_eval:
            val = torch.zeros(K, device=engine.device)
            try:
                for xs_v, ys_v in val_batches:
                    val += engine.eval_loss(xs_v, ys_v)
            except torch.OutOfMemoryError as exc:
                raise _oom_error(exc, names, done, r0, K) from None
            val /= len(val_batches)
            if world > 1:
                torch.distributed.all_reduce(val, op=torch.distributed.ReduceOp.AVG)
            last_val = val.tolist()
            wall = wall_before + time.perf_counter() - t_start
            if rank == 0:
                for k in range(K):
                    pending[k].append(point(k, done, "val/loss", last_val[k]))
                    _append(logs[k], pending[k])
                    pending[k] = []
                state = {"format": 1, "runs": names, "step": done, "engine": engine.state_dict(),
                         "rng_cpu": torch.get_rng_state(), "wall": wall}
                if engine.cuda:
                    state["rng_cuda"] = torch.cuda.get_rng_state(engine.device)
                _save_checkpoint(ckpt_path, state, done)
                rows_by_run = {n: _read_log(lg) for n, lg in zip(names, logs, strict=True)}
                runs_rows = [_runs_row(n, r, preset, corpus, device, done, wall, K, prec, compile)
                             for n, r in zip(names, rungs, strict=True)]
                _ingest(store, rows_by_run, runs_rows)
            if world > 1:
                torch.distributed.barrier()
        if progress is not None and rank == 0 and (is_eval or done % max(1, steps // 100) == 0):
            progress({"runs": names, "step": done, "steps": steps, "val": last_val})
    wall = wall_before + time.perf_counter() - t_start
    if rank == 0 and end == steps:
        for n, d, v in zip(names, dirs, last_val, strict=True):
            _write_atomic(d / "done.json", json.dumps({"run": n, "final_val_loss": v,
                                                        "wall_seconds": wall}).encode())
        if not keep_checkpoint:
            ckpt_path.unlink(missing_ok=True)
    return {"runs": names, "final": dict(zip(names, last_val, strict=True)), "seconds": wall,
            "skipped": False}


# ---------------------------------------------------------------------------- many groups
_QUEUE = None


def _worker_init(queue, threads: int) -> None:
    global _QUEUE
    _QUEUE = queue
    torch.set_num_threads(threads)


def _worker_progress(event: dict) -> None:
    if _QUEUE is not None:
        _QUEUE.put(event)


def _worker_run(rungs, corpus_path, kwargs):
    return train_group(rungs, corpus=open_corpus(corpus_path), progress=_worker_progress, **kwargs)


def run_plan(
    plan: Plan,
    *,
    store_path: str | os.PathLike,
    corpus: Corpus,
    resume: bool = False,
    workers: int = 1,
    threads: int | None = None,
    stack: str = "auto",
    compile: bool | None = None,
    precision: str = "auto",
    keep_checkpoints: bool = False,
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train every group of ``plan``; on CPU, ``workers`` processes train groups side by side
    (one rung per core beats two threads on one tiny rung). Largest groups start first.

    ``compile=None``: torch.compile on GPU (where it pays for itself), not on CPU (where
    compiling takes about as long as it saves on cpu-tiny)."""
    if compile is None:
        compile = plan.device.startswith("cuda")
    groups = sorted(plan.groups(stack), key=lambda g: -sum(r.flops for r in g))
    for g in groups:
        if g[0].vocab_size < corpus.vocab_size:
            raise InputError(f"corpus has {corpus.vocab_size} tokens but the plan {g[0].vocab_size}",
                             where=str(corpus.path), hint="plan with the corpus's vocabulary")
    kwargs = {"store_path": str(store_path), "preset": plan.preset, "device": plan.device,
              "resume": resume, "compile": compile, "precision": precision,
              "keep_checkpoint": keep_checkpoints}
    if plan.device.startswith("cuda"):
        workers = 1
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    if workers <= 1:
        torch.set_num_threads(threads)
        return [train_group(g, corpus=corpus, progress=progress, **kwargs) for g in groups]

    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    results = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(q, threads)) as ex:
        futs = {ex.submit(_worker_run, g, str(corpus.path), kwargs) for g in groups}
        while futs:
            finished, futs = wait(futs, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    ev = q.get_nowait()
                except queue_mod.Empty:
                    break
                if progress is not None:
                    progress(ev)
            for f in finished:
                results.append(f.result())
    while progress is not None:
        try:
            progress(q.get_nowait())
        except queue_mod.Empty:
            break
    return results


# ---------------------------------------------------------------------------- torchrun entry
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scalefit.ladder.train",
                                 description="Train ladder rungs (data-parallel under torchrun).")
    ap.add_argument("--preset", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--corpus", default=None, help="a built corpus folder (default: the cached one)")
    ap.add_argument("--offline", action="store_true")
    ap.add_argument("--rung", action="append", default=None, help="train only these rungs")
    ap.add_argument("--schedule", default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                    help="torch.compile (default: on GPU only)")
    ap.add_argument("--precision", default="auto", choices=PRECISIONS)
    args = ap.parse_args(argv)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if world > 1:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if device.startswith("cuda"):
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        torch.distributed.init_process_group(backend)
    if args.compile is None:
        args.compile = device.startswith("cuda")
    try:
        make_plan(args.preset)  # an unknown preset fails before the corpus is built
        if world > 1 and int(os.environ.get("RANK", "0")) != 0:
            torch.distributed.barrier()  # rank 0 builds the default corpus first
        corpus = resolve_corpus(args.corpus, offline=args.offline)
        if world > 1 and int(os.environ.get("RANK", "0")) == 0:
            torch.distributed.barrier()
        plan = make_plan(args.preset, device=device.split(":")[0], schedule=args.schedule,
                         max_steps=args.max_steps, vocab_size=corpus.vocab_size)
        if args.rung:
            plan.rungs = [r for r in plan.rungs if any(r.name == x or r.name.startswith(x + "-")
                                                       for x in args.rung)]
            if not plan.rungs:
                raise UsageError(f"no rung named {args.rung}", where="--rung")
        if world > 1:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        for g in plan.groups("never"):
            out = train_group(g, corpus=corpus, store_path=args.store, preset=plan.preset,
                              device=device, resume=args.resume, compile=args.compile,
                              precision=args.precision)
            if int(os.environ.get("RANK", "0")) == 0:
                for n, v in out["final"].items():
                    print(f"{n}: final val/loss {v:.4f} ({out['seconds']:.1f} s, {world} process(es))")
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()
    return 0


# ---------------------------------------------------------------------------- time estimate
def probe_throughput(rung: Rung, device: str = "cpu", steps: int = 3, threads: int | None = None,
                     stacked: int = 1) -> float:
    """Training tokens per second of ``rung`` on ``device``, timed over a few real steps."""
    if threads:
        torch.set_num_threads(threads)
    rungs = [replace(rung, seed=i) for i in range(stacked)]
    eng = make_engine(rungs, device)
    g = torch.Generator().manual_seed(0)
    shape = (rung.batch_size, rung.seq_len)
    x = torch.randint(0, rung.vocab_size, shape, generator=g)
    xs, ys = [x] * stacked, [x] * stacked
    eng.train_step(xs, ys, [rung.lr] * stacked)  # warm-up (allocations, compile)
    t0 = time.perf_counter()
    for _ in range(steps):
        eng.train_step(xs, ys, [rung.lr] * stacked)
    eng.sync()
    return stacked * steps * rung.tokens / rung.steps / (time.perf_counter() - t0)


def estimate_seconds(plan: Plan, *, threads: int | None = None, stack: str = "auto") -> dict[str, float]:
    """Seconds per rung from a short probe of each distinct shape (fills ``plan.seconds``)."""
    cache: dict[tuple, float] = {}
    for grp in plan.groups(stack):
        r = grp[0]
        key = (r.shape_key, len(grp))
        if key not in cache:
            cache[key] = probe_throughput(r, plan.device, threads=threads, stacked=len(grp))
        for x in grp:
            plan.seconds[x.name] = len(grp) * x.tokens / cache[key] * (1 + 0.1)  # + eval time
    return plan.seconds


if __name__ == "__main__":
    sys.exit(main())
