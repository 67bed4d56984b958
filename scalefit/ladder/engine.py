"""Engines: a model and its optimizer on a device, at a precision, compiled or not.

An engine trains one group of rungs. :class:`PlainEngine` is one :class:`GPT` (data-parallel
under ``torchrun``); :class:`StackedEngine` is ``K`` same-shape GPTs as one
:class:`StackedGPT`, which differ in seed, LR or schedule. Both take a batch per model and
return one loss per model, so the training loop does not care which it drives.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace

import numpy as np
import torch

from scalefit.errors import UsageError
from scalefit.ladder.config import mup_lr_mult
from scalefit.ladder.model import GPT, StackedGPT
from scalefit.ladder.optim import BETAS, StackedAdamW, adamw
from scalefit.ladder.plan import Plan, Rung

__all__ = ["PRECISIONS", "Engine", "PlainEngine", "StackedEngine", "estimate_seconds", "make_engine",
           "oom_as_usage_error", "probe_throughput", "rank_and_world", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16")
#: checkpoints' model format: 3 since μP models of a fixed head size keep SP's attention scale
#: (format 2: 1/head_dim); 2 since the qkv weight keeps q and k rows as RoPE pairs and the MLP
#: uses exact GELU (format 1: half-split rows, tanh GELU)
MODEL_FORMAT = 3


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 outside ``torchrun``)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def resolve_precision(precision: str, device: str) -> str:
    """``auto`` is bf16 autocast on GPU and fp32 on CPU; bf16 also runs on CPU (for checks)."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", where="--precision",
                         hint="use auto, fp32 or bf16")
    if precision == "auto":
        return "bf16" if str(device).startswith("cuda") else "fp32"
    return precision


class Engine:
    """What both engines share: the device, autocast, checkpoint state and synchronisation.
    Subclasses set ``raw`` (the unwrapped model), ``model`` (what runs it: compiled, DDP) and
    ``opt``."""

    def __init__(self, device: str, precision: str):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.precision = resolve_precision(precision, device)

    def _autocast(self):
        # bf16 autocast: matmuls in bf16, weights, optimizer state and losses stay fp32
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def state_dict(self) -> dict:
        return {"model": self.raw.state_dict(), "optim": self.opt.state_dict(),
                "format": MODEL_FORMAT}

    def load_state_dict(self, state: dict) -> None:
        if state.get("format", 1) != MODEL_FORMAT:
            raise UsageError(
                f"checkpoint of model format {state.get('format', 1)}; this scalefit reads format "
                f"{MODEL_FORMAT} (qkv rows stored as RoPE pairs, exact GELU, μP attention at "
                "SP's scale for a fixed head size)", where="--resume",
                hint="train the run again without --resume")
        self.raw.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)


class PlainEngine(Engine):
    """One GPT and torch's fused AdamW; bf16 autocast (GPU default), torch.compile; DDP."""

    def __init__(self, rung: Rung, device: str, compile: bool = False, precision: str = "auto"):
        super().__init__(device, precision)
        torch.manual_seed(rung.seed)
        cfg = rung.config
        self.raw = GPT(cfg).to(self.device)
        self.opt = adamw(self.raw, rung.lr, rung.weight_decay, _lr_mult(cfg),
                         betas=(BETAS[0], rung.beta2))
        self.clip = rung.grad_clip
        model = self.raw
        if compile:
            model = torch.compile(model)
        self.rank, self.world = rank_and_world()
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            model = DDP(model, device_ids=[self.device.index] if self.cuda else None)
        self.model = model
        self.k = 1

    def train_step(self, xs, ys, lrs) -> torch.Tensor:
        """One optimizer step on ``xs[0]``, ``ys[0]`` (B, T) at LR ``lrs[0]``; the loss, (1,)."""
        for g in self.opt.param_groups:
            g["lr"] = float(lrs[0]) * g.get("lr_mult", 1.0)
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


class StackedEngine(Engine):
    """``K`` same-shape GPTs as one :class:`StackedGPT`; per-model LR and gradient clipping."""

    def __init__(self, rungs: list[Rung], device: str, compile: bool = False,
                 precision: str = "auto"):
        super().__init__(device, precision)
        self.k = len(rungs)
        cfg = rungs[0].config
        self.raw = StackedGPT.from_seeds(cfg, [r.seed for r in rungs]).to(self.device)
        # rungs stack only when they share shape_key, beta2 included
        self.opt = StackedAdamW(list(self.raw.named_parameters()), self.k, rungs[0].weight_decay,
                                betas=(BETAS[0], rungs[0].beta2), lr_mult=_lr_mult(cfg))
        self.clip = rungs[0].grad_clip
        self.model = torch.compile(self.raw) if compile else self.raw

    def train_step(self, xs, ys, lrs) -> torch.Tensor:
        """One step of every model: ``xs[k]``, ``ys[k]`` (B, T) at LR ``lrs[k]``; losses, (K,)."""
        x = torch.stack(list(xs)).to(self.device, non_blocking=True)  # (K, B, T)
        y = torch.stack(list(ys)).to(self.device, non_blocking=True)
        self.raw.train()
        with self._autocast():
            losses = self.model(x, y)
        self.opt.zero_grad()
        # the models share no weights, so one backward of the sum gives each its own gradient
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


def _lr_mult(cfg):
    """Each parameter's factor on the LR: μP's per-layer rule, or None (one LR) under SP."""
    if cfg.param != "mup":
        return None
    return lambda name: mup_lr_mult(cfg, name)


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
    if rank_and_world()[1] > 1:
        raise UsageError("stacked rungs do not run data-parallel", where="torchrun",
                         hint="train stacked groups in one process, or pass --stack never")
    return StackedEngine(rungs, device, compile, precision)


def _have_cxx() -> bool:
    """Whether torch.compile's CPU backend finds a C++ compiler (CXX, or c++/g++/clang++)."""
    import shutil

    cxx = os.environ.get("CXX")
    return any(shutil.which(c) for c in ([cxx] if cxx else []) + ["c++", "g++", "clang++"])


@contextlib.contextmanager
def oom_as_usage_error(names: list[str], step: int, rung: Rung, k: int):
    """Turn the GPU running out of memory into a UsageError that says what to shrink."""
    try:
        yield
    except torch.OutOfMemoryError:
        stacked = (f"; {k} models train stacked here, --stack never trains them one at a time"
                   if k > 1 else "")
        raise UsageError(
            f"out of GPU memory at step {step} (batch {rung.batch_size} x {rung.seq_len} tokens, "
            f"{rung.config.params_total:.3g} parameters per model)",
            where=", ".join(names),
            hint="use a smaller batch (a plan with a smaller batch_size per rung) or a smaller "
                 f"model, or a GPU with more memory{stacked}; --resume continues from the last "
                 "checkpoint") from None


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
