"""Train one group of ladder rungs and write their curves into a store as they go.

One *group* is a list of rungs trained together: one rung is a plain :class:`GPT` (optionally
data-parallel under ``torchrun``); several same-shape rungs form one :class:`StackedGPT` whose
models differ in seed, LR or schedule (see :mod:`scalefit.ladder.engine`). Many groups, in
worker processes: :func:`scalefit.ladder.pool.run_plan`.

Crash safety and exact resume
-----------------------------
Every ``eval_every`` steps a group (1) appends the new rows of each run to its ``log.jsonl``
(fsync), (2) writes a checkpoint by rename (model, optimizer, step, RNG states), and (3) ingests
each run's log into the store (the store writes atomically); see :mod:`scalefit.ladder.runlog`.
A resumed group loads the last checkpoint, drops log rows past its step and continues. Batches
are a pure function of (seed, step) and the train-loss window restarts at every checkpoint, so
the resumed curve equals an uninterrupted one.

Run as a module for data parallelism (gloo on CPU, NCCL on GPU)::

    torchrun --nproc_per_node 2 -m scalefit.ladder.train --preset cpu-smoke --store DIR
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from scalefit.errors import StoreError, UsageError
from scalefit.ladder.data import Corpus, get_batch, resolve_corpus
from scalefit.ladder.engine import (
    PRECISIONS,
    Engine,
    PlainEngine,
    make_engine,
    oom_as_usage_error,
    rank_and_world,
)
from scalefit.ladder.plan import Plan, Rung, make_plan
from scalefit.ladder.runlog import GroupLog, run_name, save_checkpoint

# make_engine, PlainEngine, resolve_corpus and run_name are re-exported for older callers
__all__ = ["PlainEngine", "main", "make_engine", "resolve_corpus", "run_name", "train_group"]

VAL_SEED = 0x5CA1EF17  # the validation batches: identical for every rung of every ladder


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

    Returns ``{"runs": names, "final": {name: val loss}, "seconds": wall, "skipped": bool}``,
    and ``"done_before"`` (names) where ``resume`` found some of the group's runs finished: more
    seeds or LRs added to a ladder train only the new runs.
    """
    if resume and len(rungs) > 1:
        probe = GroupLog(store_path, preset, rungs, corpus, device, compile, writer=False)
        old = probe.done_losses()
        if 0 < len(old) < len(rungs):
            # seeds or LRs added to a finished ladder: train the new runs only
            new = train_group([r for r, n in zip(rungs, probe.names, strict=True) if n not in old],
                              corpus=corpus, store_path=store_path, preset=preset, device=device,
                              resume=True, compile=compile, precision=precision,
                              keep_checkpoint=keep_checkpoint, progress=progress,
                              stop_after=stop_after)
            return {**new, "runs": probe.names, "final": {**old, **new["final"]},
                    "done_before": sorted(old)}

    rank, world = rank_and_world()
    master = rank == 0  # the one process that writes logs, checkpoints and the store
    r0, K = rungs[0], len(rungs)  # the rungs share shape, batch, steps and eval points
    _check_shardable(r0, world)
    log = GroupLog(store_path, preset, rungs, corpus, device, compile, writer=master)
    names = log.names
    final = log.finished(resume)
    if final is not None:
        return {"runs": names, "final": final, "seconds": 0.0, "skipped": True}

    engine = make_engine(rungs, device, compile, precision)
    start, wall_before = _restore(engine, log.checkpoint, names) if resume else (0, 0.0)
    if master:
        log.restart_at(start)
    _barrier(world)

    lrs = np.stack([r.schedule_obj().lr(np.arange(r0.steps)) for r in rungs])  # (K, steps)
    shard = slice(rank, None, world) if world > 1 else None  # this rank's rows of each batch
    val_batches = _val_batches(corpus.val, r0, K, shard)
    log_every = max(1, r0.eval_every // 4)
    last_val = log.last_val_losses() if start and master else [math.nan] * K
    window = torch.zeros(K, device=engine.device)  # train losses summed since the last log row
    n_window = 0
    t_start = time.perf_counter() - wall_before  # wall seconds include those before a resume
    end = r0.steps if stop_after is None else min(r0.steps, stop_after)
    for s in range(start, end):
        done = s + 1  # steps done once this one is: what rows and checkpoints count
        xs, ys = _train_batches(corpus.train, rungs, s, shard)  # K tensors (B / world, T)
        with oom_as_usage_error(names, done, r0, K):
            window += engine.train_step(xs, ys, lrs[:, s])  # (K,) mean loss of each model
        n_window += 1
        is_eval = done % r0.eval_every == 0 or done == r0.steps

        if done % log_every == 0 or is_eval:
            mean = _mean_over_ranks(window / n_window, world).tolist()  # K floats
            window.zero_()
            n_window = 0
            log.add("train/loss", done, mean, lrs[:, s])
            if not all(math.isfinite(v) for v in mean):
                wall = time.perf_counter() - t_start
                _stop_diverged(log, mean, done, log_every, wall, engine.precision, master)

        if is_eval:
            with oom_as_usage_error(names, done, r0, K):
                last_val = _evaluate(engine, val_batches, world)
            if master:
                _save(log, engine, done, last_val, lrs[:, s], time.perf_counter() - t_start)
            _barrier(world)

        if progress is not None and master and (is_eval or done % max(1, r0.steps // 100) == 0):
            progress({"runs": names, "step": done, "steps": r0.steps, "val": last_val})

    wall = time.perf_counter() - t_start
    if master and end == r0.steps:
        log.finish(last_val, wall, keep_checkpoint)
    return {"runs": names, "final": dict(zip(names, last_val, strict=True)), "seconds": wall,
            "skipped": False}


# ---------------------------------------------------------------------------- the loop's steps
def _check_shardable(r0: Rung, world: int) -> None:
    if r0.batch_size % world or r0.val_batch_size % world:
        raise UsageError(f"batch {r0.batch_size} and validation batch {r0.val_batch_size} must "
                         f"divide by {world} processes", where=r0.name)


def _train_batches(tokens: np.ndarray, rungs: list[Rung], step: int,
                   shard: slice | None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Inputs and targets of ``step``, one (B, T) pair per model; models with one seed share it."""
    r0 = rungs[0]
    by_seed: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for r in rungs:
        if r.seed not in by_seed:
            x, y = get_batch(tokens, r0.seq_len, r0.batch_size, r.seed, step, shard)
            by_seed[r.seed] = (torch.from_numpy(x), torch.from_numpy(y))
    return [by_seed[r.seed][0] for r in rungs], [by_seed[r.seed][1] for r in rungs]


def _val_batches(tokens: np.ndarray, r0: Rung, k: int, shard: slice | None) -> list[tuple]:
    """The fixed validation batches, each one (B_val, T) pair repeated for the ``k`` models."""
    batches = []
    for i in range(r0.val_batches):
        x, y = get_batch(tokens, r0.seq_len, r0.val_batch_size, VAL_SEED, i, shard)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        batches.append(([xt] * k, [yt] * k))
    return batches


def _evaluate(engine: Engine, val_batches: list[tuple], world: int) -> list[float]:
    """Mean validation loss of each model over the validation batches (and the ranks)."""
    val = torch.zeros(engine.k, device=engine.device)
    for xs, ys in val_batches:
        val += engine.eval_loss(xs, ys)
    val /= len(val_batches)
    return _mean_over_ranks(val, world).tolist()


def _mean_over_ranks(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.AVG)
    return t


def _barrier(world: int) -> None:
    if world > 1:
        torch.distributed.barrier()


def _save(log: GroupLog, engine: Engine, done: int, val: list[float], lrs, wall: float) -> None:
    """Log, then checkpoint, then store: a kill between two leaves what a resume needs."""
    log.add("val/loss", done, val, lrs)
    log.write()
    save_checkpoint(log.checkpoint, _checkpoint(engine, log.names, done, wall), done)
    log.ingest(done, wall, engine.precision)


def _stop_diverged(log: GroupLog, losses: list[float], done: int, log_every: int, wall: float,
                   precision: str, master: bool) -> None:
    """Keep the finite part of the curve in the log and the store, then stop with an error."""
    bad = [n for n, v in zip(log.names, losses, strict=True) if not math.isfinite(v)]
    if master:  # the finite rows logged since the last eval
        log.write(finite_only=True)
        log.ingest(done, wall, precision)
    raise UsageError(
        f"training diverged at step {done}: mean train loss "
        f"{', '.join(f'{v:.4g}' for v in losses)} over the last {log_every} step(s); "
        "the finite part of the curve is kept in the store and the log",
        where=", ".join(bad), hint="lower the LR with --lr-mult")


def _checkpoint(engine: Engine, names: list[str], done: int, wall: float) -> dict:
    """What an exact resume needs: weights, optimizer state, step and RNG states."""
    state = {"format": 1, "runs": names, "step": done, "engine": engine.state_dict(),
             "rng_cpu": torch.get_rng_state(), "wall": wall}
    if engine.cuda:
        state["rng_cuda"] = torch.cuda.get_rng_state(engine.device)
    return state


def _restore(engine: Engine, path: Path, names: list[str]) -> tuple[int, float]:
    """Load the group's checkpoint into ``engine``: (its step, wall seconds so far); (0, 0.0)
    without one."""
    if not path.exists():
        return 0, 0.0
    state = torch.load(path, map_location=engine.device, weights_only=True)
    if state.get("runs") != names:
        raise StoreError("checkpoint belongs to other runs", where=str(path))
    engine.load_state_dict(state["engine"])
    torch.set_rng_state(state["rng_cpu"])
    if engine.cuda and "rng_cuda" in state:
        torch.cuda.set_rng_state(state["rng_cuda"], engine.device)
    step = int(state["step"])
    return step, (float(state.get("wall", 0.0)) if step else 0.0)


# ---------------------------------------------------------------------------- torchrun entry
def main(argv: list[str] | None = None) -> int:
    """Train a preset's rungs one at a time, data-parallel over the ``torchrun`` processes."""
    args = _parse_args(argv)
    device, world = _init_distributed(args.device)
    if args.compile is None:
        args.compile = device.startswith("cuda")
    try:
        plan, corpus = _plan_and_corpus(args, device, world)
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


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    return ap.parse_args(argv)


def _init_distributed(device: str | None) -> tuple[str, int]:
    """The device of this process and the number of processes; joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if world > 1:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if device.startswith("cuda"):
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
        torch.distributed.init_process_group(backend)
    return device, world


def _plan_and_corpus(args: argparse.Namespace, device: str, world: int) -> tuple[Plan, Corpus]:
    make_plan(args.preset)  # an unknown preset fails before the corpus is built
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if world > 1 and not rank0:
        torch.distributed.barrier()  # rank 0 builds the default corpus first
    corpus = resolve_corpus(args.corpus, offline=args.offline)
    if world > 1 and rank0:
        torch.distributed.barrier()
    plan = make_plan(args.preset, device=device.split(":")[0], schedule=args.schedule,
                     max_steps=args.max_steps, vocab_size=corpus.vocab_size)
    if args.rung:
        plan.rungs = plan.select(args.rung)
        if not plan.rungs:
            raise UsageError(f"no rung named {args.rung}", where="--rung")
    return plan, corpus


if __name__ == "__main__":
    sys.exit(main())
