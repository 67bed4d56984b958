"""Training throughput of the ladder trainer, per rung shape of a preset.

Reference: the same rung as one plain GPT in eager mode with torch's default threads, the way
a plain training script runs it (on CPU also with one thread: the workers path's baseline per
process). Against it, the trainer's paths, all timed in this run:

- ``stacked``: K same-shape models (different seeds) as one StackedGPT, same per-model batch;
- ``workers`` (CPU): one rung per core, W processes with one thread each, side by side;
- ``compiled`` (GPU, or ``--compile``): torch.compile on top of bf16 autocast.

Tokens/s counts training tokens of all models together. On GPU, MFU is model FLOPs
(6·N_matmul + 12·L·d·T per token) per second over the device's dense bf16 peak.

    python benchmarks/ladder_throughput.py --preset cpu-tiny
    python benchmarks/ladder_throughput.py --preset gpu-small --device cuda --stack 8
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time
from dataclasses import replace

import torch

from scalefit.ladder.plan import make_plan
from scalefit.ladder.train import make_engine

#: dense bf16 peak TFLOP/s by device name fragment
BF16_PEAK = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0,
             "L4": 121.0, "RTX 4090": 165.0, "A6000": 155.0}


def _tokens_per_s(rungs, device, steps, compile=False) -> float:
    eng = make_engine(rungs, device, compile)
    r = rungs[0]
    g = torch.Generator().manual_seed(0)
    xs = [torch.randint(0, r.vocab_size, (r.batch_size, r.seq_len), generator=g) for _ in rungs]
    lrs = [r.lr] * len(rungs)
    for _ in range(3 if compile else 2):  # warm-up: allocations, autotuning, compilation
        eng.train_step(xs, xs, lrs)
    eng.sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        eng.train_step(xs, xs, lrs)
    eng.sync()
    return len(rungs) * steps * r.batch_size * r.seq_len / (time.perf_counter() - t0)


def _worker(args):
    rung, steps, barrier = args
    torch.set_num_threads(1)
    _tokens_per_s([rung], "cpu", 1)  # warm-up outside the timed window
    barrier.wait()
    return _tokens_per_s([rung], "cpu", steps)


def _workers_tokens_per_s(rung, steps, n) -> float:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as mgr:
        barrier = mgr.Barrier(n)
        with ctx.Pool(n) as pool:
            return sum(pool.map(_worker, [(rung, steps, barrier)] * n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu-tiny")
    ap.add_argument("--device", default=None)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median kept)")
    ap.add_argument("--stack", type=int, default=4, help="models per stacked group")
    ap.add_argument("--workers", type=int, default=None, help="CPU processes (default: cores)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak for MFU")
    args = ap.parse_args()

    plan = make_plan(args.preset, device=args.device)
    device = plan.device
    cuda = device.startswith("cuda")
    threads = torch.get_num_threads()
    workers = args.workers or (mp.cpu_count() if not cuda else 1)
    peak = args.peak_tflops
    if cuda and peak is None:
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
        print(f"device {name}, bf16 peak {peak} TFLOP/s")
    else:
        print(f"device cpu, reference uses {threads} torch threads; workers: {workers} x 1 thread")
    seen, shapes = set(), []
    for r in plan.rungs:
        if (r.n_layer, r.d_model) not in seen:
            seen.add((r.n_layer, r.d_model))
            shapes.append(r)
    head = f"{'rung':<14}{'params':>9}{'batch':>7}{'plain tok/s':>13}"
    if not cuda:
        head += f"{'plain 1-thr':>13}"
    paths = ["stacked"] + (["workers"] if not cuda else []) + (["compiled"] if cuda or args.compile else [])
    head += "".join(f"{p + ' tok/s':>16}{'x':>6}" for p in paths)
    if cuda:
        head += f"{'MFU plain':>11}{'MFU best':>10}"
    print(head)
    for r in shapes:
        stack = [replace(r, seed=i) for i in range(args.stack)]
        res: dict[str, list[float]] = {k: [] for k in ["plain", *paths]}
        if not cuda:
            res["plain1"] = []
        for _ in range(args.repeats):  # interleaved, so load changes hit every path alike
            torch.set_num_threads(threads)
            res["plain"].append(_tokens_per_s([r], device, args.steps))
            res["stacked"].append(_tokens_per_s(stack, device, args.steps))
            if not cuda:  # the per-process baseline of the workers path
                torch.set_num_threads(1)
                res["plain1"].append(_tokens_per_s([r], device, args.steps))
                torch.set_num_threads(threads)
            if "workers" in res:
                res["workers"].append(_workers_tokens_per_s(r, args.steps, workers))
                torch.set_num_threads(threads)
            if "compiled" in res:
                res["compiled"].append(_tokens_per_s([r], device, args.steps, compile=True))
        med = {k: statistics.median(v) for k, v in res.items()}
        line = f"{r.name.rsplit('-t', 1)[0]:<14}{r.params:>9,}{r.batch_size:>7}{med['plain']:>13,.0f}"
        if not cuda:
            line += f"{med['plain1']:>13,.0f}"
        for p in paths:
            line += f"{med[p]:>16,.0f}{med[p] / med['plain']:>6.2f}"
        if cuda and peak:
            fpt = r.config.flops_per_token
            best = max(med[p] for p in paths)
            line += f"{fpt * med['plain'] / (peak * 1e12):>11.1%}{fpt * best / (peak * 1e12):>10.1%}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
