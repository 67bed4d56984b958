"""Train every group of a plan: one after another, or side by side in worker processes.

On CPU one rung per core beats two threads on one tiny rung, so ``workers`` spawned processes
each train whole groups and send their progress events back through a queue. On GPU the
groups train one after another in this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from scalefit.errors import InputError, StoreError
from scalefit.ladder.data import Corpus, open_corpus
from scalefit.ladder.plan import Plan, Rung, legacy_names
from scalefit.ladder.runlog import run_dir, run_name
from scalefit.ladder.train import train_group

__all__ = ["run_plan"]


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
    on_done: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train every group of ``plan``; on CPU, ``workers`` processes train groups side by side.
    Largest groups start first. Returns :func:`train_group`'s result for each group, and
    passes each to ``on_done`` as soon as its group ends.

    ``compile=None``: torch.compile on GPU (where it pays for itself), not on CPU (where
    compiling takes about as long as it saves on cpu-tiny). ``threads=None``: one torch thread
    per process on CPU, so that the losses do not depend on the number of cores."""
    cuda = plan.device.startswith("cuda")
    if compile is None:
        compile = cuda
    if resume:
        _refuse_legacy_names(plan, Path(store_path))
    groups = sorted(plan.groups(stack), key=lambda g: -sum(r.flops for r in g))
    _check_vocab(groups, corpus)
    kwargs = {"store_path": str(store_path), "preset": plan.preset, "device": plan.device,
              "resume": resume, "compile": compile, "precision": precision,
              "keep_checkpoint": keep_checkpoints}
    if cuda:
        workers = 1
    if threads is None:
        # CPU: one thread per process, however many cores. Some kernels split their sums by
        # the thread count, and a tiny rung carries that last-bit change to a different curve
        # (L2-d20-t10 of cpu-tiny: final val loss 1.9% off at 4 threads), so more threads
        # would make the losses depend on the machine's core count
        threads = max(1, (os.cpu_count() or 1) // max(workers, 1)) if cuda else 1
    if workers <= 1:
        torch.set_num_threads(threads)
        results = []
        for g in groups:
            results.append(train_group(g, corpus=corpus, progress=progress, **kwargs))
            if on_done is not None:
                on_done(results[-1])
        return results
    return _train_in_workers(groups, corpus, kwargs, workers, threads, progress, on_done)


def _refuse_legacy_names(plan: Plan, store: Path) -> None:
    """A run of the plan that this store holds under the name an older scalefit gave it would
    be trained again under its new name, and the store would hold it twice: refuse."""
    for r in plan.rungs:
        if run_dir(store, run_name(plan.preset, r)).exists():
            continue
        for old in legacy_names(r):
            if run_dir(store, run_name(plan.preset, replace(r, name=old))).exists():
                raise StoreError(
                    f"this store holds run {run_name(plan.preset, r)!r} as {old!r}, the name an "
                    "older scalefit gave it (seed 0 and the rule's LR now keep the plain name); "
                    "resuming would train it again under the new name", where=str(store),
                    hint="finish this store with the scalefit that started it, or train into a "
                         "new --store")


def _check_vocab(groups: list[list[Rung]], corpus: Corpus) -> None:
    for g in groups:
        if g[0].vocab_size < corpus.vocab_size:
            raise InputError(f"corpus has {corpus.vocab_size} tokens but the plan {g[0].vocab_size}",
                             where=str(corpus.path), hint="plan with the corpus's vocabulary")


def _train_in_workers(groups: list[list[Rung]], corpus: Corpus, kwargs: dict, workers: int,
                      threads: int, progress: Callable[[dict], None] | None,
                      on_done: Callable[[dict], None] | None = None) -> list[dict]:
    """Each group in one of ``workers`` spawned processes; results in order of completion."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    results = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(q, threads)) as ex:
        # a worker opens the corpus again from its path: memory maps do not pickle
        futs = {ex.submit(_worker_run, g, str(corpus.path), kwargs) for g in groups}
        while futs:
            finished, futs = wait(futs, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(q, progress)
            for f in finished:
                results.append(f.result())
                if on_done is not None:
                    on_done(results[-1])
    if progress is not None:
        _drain(q, progress)
    return results


def _drain(q, progress: Callable[[dict], None] | None) -> None:
    """Pass every queued progress event on (or drop it, without a callback)."""
    import queue

    while True:
        try:
            ev = q.get_nowait()
        except queue.Empty:
            return
        if progress is not None:
            progress(ev)


# ---------------------------------------------------------------------------- in a worker
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
