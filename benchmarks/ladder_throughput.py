"""Training throughput of the ladder trainer, per rung shape of a preset.

Reference: the same rung as one plain GPT in eager mode with torch's default threads, the way
a plain training script runs it (on CPU also with one thread: the workers path's baseline per
process). Against it, the trainer's paths, all timed in this run:

- ``stacked``: K same-shape models (different seeds) as one StackedGPT, same per-model batch\n  (K from ``--stack``, threads from ``--stack-threads``; the best combination per rung);
- ``workers`` (CPU): one rung per core, W processes with one thread each, side by side (what
  ``scalefit ladder run`` does on CPU);
- ``compiled`` (GPU, or ``--compile``): torch.compile (on top of bf16 autocast on GPU); on CPU
  also ``wk+comp``: the workers, each compiled.

Tokens/s counts training tokens of all models together. On GPU, MFU is model FLOPs
(6·N_matmul + 12·L·d·T per token) per second over the device's dense bf16 peak.

    python benchmarks/ladder_throughput.py --preset cpu-tiny --repeats 3 --steps 8
    python benchmarks/ladder_throughput.py --preset gpu-small --device cuda --stack 8,16

Stacked groups are timed for each K in ``--stack`` and, on CPU, with all threads and with one;
the best is reported per rung. The machine may be shared: paths are interleaved and the best of
the repeats kept, so compare numbers of one run only.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from dataclasses import replace

import torch

from scalefit.ladder.engine import make_engine
from scalefit.ladder.plan import make_plan

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
    rung, steps, barrier, compile = args
    torch.set_num_threads(1)
    _tokens_per_s([rung], "cpu", 1, compile)  # warm-up (and compilation) outside the timed window
    barrier.wait()
    return _tokens_per_s([rung], "cpu", steps, compile)


def _workers_tokens_per_s(rung, steps, n, compile=False) -> float:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as mgr:
        barrier = mgr.Barrier(n)
        with ctx.Pool(n) as pool:
            out = sum(pool.map(_worker, [(rung, steps, barrier, compile)] * n))
            pool.close()
            pool.join()
            return out


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu-tiny")
    ap.add_argument("--device", default=None)
    ap.add_argument("--steps", type=int, default=10,
                    help="timed steps per measurement (stacked K: steps·4/K, at least 2)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats (best kept)")
    ap.add_argument("--stack", type=_ints, default=[4, 8, 16], help="models per stacked group, e.g. 4,8,16")
    ap.add_argument("--stack-threads", type=_ints, default=None,
                    help="torch threads tried for stacked groups (CPU default: all cores, and 1)")
    ap.add_argument("--workers", type=int, default=None, help="CPU processes (default: cores; 0: skip)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak for MFU")
    args = ap.parse_args()

    plan = make_plan(args.preset, device=args.device)
    device = plan.device
    cuda = device.startswith("cuda")
    threads = torch.get_num_threads()
    workers = args.workers if args.workers is not None else (mp.cpu_count() if not cuda else 0)
    workers = 0 if cuda else workers
    stack_threads = args.stack_threads or ([threads] if cuda or threads == 1 else [threads, 1])
    peak = args.peak_tflops
    if cuda and peak is None:
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
        print(f"device {name}, bf16 peak {peak} TFLOP/s")
    else:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
        print(f"device cpu, reference uses {threads} torch threads; stacked tries threads "
              f"{stack_threads}; workers: {workers} x 1 thread; load average {load}")
    print(f"best of {args.repeats} interleaved repeats; x = against the plain reference (eager, "
          f"default threads); x best = the best path against the faster plain "
          f"({'default threads' if cuda else 'default or 1 thread'})")
    seen, shapes = set(), []
    for r in plan.rungs:
        if (r.n_layer, r.d_model) not in seen:
            seen.add((r.n_layer, r.d_model))
            shapes.append(r)
    head = f"{'rung':<10}{'params':>9}{'batch':>6}{'plain':>10}"
    if not cuda:
        head += f"{'plain 1t':>10}"
    head += "".join(f"{f'K={k}':>10}" for k in args.stack)
    head += f"{'best stacked':>18}{'x':>6}"
    if workers:
        head += f"{'workers':>10}{'x':>6}"
    if cuda or args.compile:
        head += f"{'compiled':>10}{'x':>6}"
        if workers:
            head += f"{'wk+comp':>10}{'x':>6}"
    head += f"{'best path':>14}{'x':>6}{'x best':>7}"
    if cuda:
        head += f"{'MFU plain':>11}{'MFU best':>10}"
    print(head + "   (tokens/s of all models together)")
    for r in shapes:
        res: dict[object, list[float]] = {}

        def add(key, value, res=res):
            res.setdefault(key, []).append(value)

        for _ in range(args.repeats):  # interleaved, so load changes hit every path alike
            torch.set_num_threads(threads)
            add("plain", _tokens_per_s([r], device, args.steps))
            if not cuda:  # the per-process baseline of the workers path
                torch.set_num_threads(1)
                add("plain1", _tokens_per_s([r], device, args.steps))
            for k in args.stack:
                stack = [replace(r, seed=i) for i in range(k)]
                for th in stack_threads:
                    torch.set_num_threads(th)
                    add((k, th), _tokens_per_s(stack, device, max(2, round(args.steps * 4 / k))))
            torch.set_num_threads(threads)
            if workers:
                add("workers", _workers_tokens_per_s(r, args.steps, workers))
            if cuda or args.compile:
                add("compiled", _tokens_per_s([r], device, args.steps, compile=True))
                if workers:
                    add("workers+compiled", _workers_tokens_per_s(r, args.steps, workers, True))
            torch.set_num_threads(threads)
        best = {k: max(v) for k, v in res.items()}
        plain = best["plain"]
        ref = max(plain, best.get("plain1", 0.0))
        line = f"{r.name.rsplit('-t', 1)[0]:<10}{r.params:>9,}{r.batch_size:>6}{plain:>10,.0f}"
        if not cuda:
            line += f"{best['plain1']:>10,.0f}"
        per_k = {k: max(best[(k, th)] for th in stack_threads) for k in args.stack}
        line += "".join(f"{per_k[k]:>10,.0f}" for k in args.stack)
        (kb, tb), sb = max(((key, v) for key, v in best.items() if isinstance(key, tuple)),
                           key=lambda kv: kv[1])
        line += f"{f'{sb:,.0f} K{kb}/{tb}t':>18}{sb / plain:>6.2f}"
        paths = {f"stacked K{kb}": sb}
        for key in ("workers", "compiled", "workers+compiled"):
            if key in best:
                line += f"{best[key]:>10,.0f}{best[key] / plain:>6.2f}"
                paths[key] = best[key]
        name, top = max(paths.items(), key=lambda kv: kv[1])
        line += f"{name.replace('workers', 'wk').replace('compiled', 'comp'):>14}"
        line += f"{top / plain:>6.2f}{top / ref:>7.2f}"
        if cuda and peak:
            fpt = r.config.flops_per_token
            line += f"{fpt * plain / (peak * 1e12):>11.1%}{fpt * top / (peak * 1e12):>10.1%}"
        print(line, flush=True)
    if not cuda and hasattr(os, "getloadavg"):
        print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
