"""Training throughput of the ladder trainer, per rung shape of a preset, against nanoGPT.

Reference (CPU): nanoGPT's GPT (``benchmarks/nanogpt/model.py``, MIT) at the same shape as each
rung (layers, width, heads, byte vocabulary, context, batch), fp32, eager, with its own training
step as its ``train.py`` runs it: LR set per step, forward, backward, gradient clipping at the
rung's norm (``train.py``'s default 1.0), ``configure_optimizers``' AdamW step,
``zero_grad(set_to_none=True)``. Timed interleaved with scalefit's paths, each against nanoGPT
at the same thread setting:

- ``plain``: one GPT, eager, as ``scalefit ladder run`` trains it on CPU (the default path): one
  thread, as in every worker process;
- ``stacked``: K same-shape models (different seeds) as one StackedGPT, same per-model batch
  (K from ``--stack``, threads from ``--stack-threads``; the best combination per rung);
- ``workers`` (CPU): W processes with one thread each, side by side (``scalefit ladder run`` on
  CPU), against W nanoGPT processes with one thread each;
- ``compiled`` (GPU, or ``--compile``): torch.compile (on top of bf16 autocast on GPU); on CPU
  also ``wk+comp``: the workers, each compiled.

On CPU, ``GEMMs 1t`` is a ceiling, not a path: the tokens/s of one model's step if it did only
its dense fp32 matrix products (forward and backward) at one thread; its ``/ng`` is the most any
one-model path can reach against nanoGPT at that shape.

Tokens/s counts training tokens of all models together. On GPU (no nanoGPT column there), MFU
is model FLOPs (6·N_matmul + 12·L·d·T per token) per second over the device's dense bf16 peak.

    python benchmarks/ladder_throughput.py --preset cpu-tiny --repeats 3 --steps 8
    python benchmarks/ladder_throughput.py --preset gpu-small --device cuda --stack 8,16

On CPU every process runs one thread (as the trainer's workers do): on a machine shared with
other jobs, two-thread processes collapsed (1-10k tokens/s where one thread gave 12-40k, load
average 5-6). ``--stack-threads 1,2`` also tries stacked groups at two threads, against nanoGPT
at two. The machine may be shared: paths are interleaved and the best of the repeats kept, so
compare numbers of one run only.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from scalefit.ladder.engine import make_engine
from scalefit.ladder.plan import make_plan

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nanogpt.model import GPT as NanoGPT  # noqa: E402
from nanogpt.model import GPTConfig as NanoGPTConfig  # noqa: E402

#: dense bf16 peak TFLOP/s by device name fragment
BF16_PEAK = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0,
             "L4": 121.0, "RTX 4090": 165.0, "A6000": 155.0}


def nanogpt_for(rung, device: str = "cpu"):
    """nanoGPT at ``rung``'s shape (no biases, no dropout: its ``train.py`` defaults) and the
    AdamW its ``configure_optimizers`` builds with the rung's LR and weight decay."""
    cfg = rung.config
    torch.manual_seed(rung.seed)
    model = NanoGPT(NanoGPTConfig(block_size=cfg.seq_len, vocab_size=cfg.vocab_size,
                                  n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.d_model,
                                  dropout=0.0, bias=False)).to(device)
    opt = model.configure_optimizers(rung.weight_decay, rung.lr, (0.9, 0.95),
                                     torch.device(device).type)
    return model, opt


def _nanogpt_tokens_per_s(rung, device, steps) -> float:
    model, opt = nanogpt_for(rung, device)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, rung.vocab_size, (rung.batch_size, rung.seq_len), generator=g).to(device)

    def step():  # nanoGPT's train.py loop, fp32 (its GradScaler is then a no-op)
        for group in opt.param_groups:
            group["lr"] = rung.lr
        _, loss = model(x, x)
        loss.backward()
        if rung.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), rung.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)

    model.train()
    for _ in range(2):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * rung.batch_size * rung.seq_len / (time.perf_counter() - t0)


def _sync(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


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


def _gemm_ceiling_tokens_per_s(rung, steps: int) -> float:
    """Tokens/s of one model's training step if it did nothing but its dense fp32 GEMMs, on the
    current thread setting: for each weight (qkv, attention output, the MLP's two, the head)
    the forward product and the backward's two (input and weight gradients), at the rung's
    batch x context rows. Attention scores, norms, the loss and the optimizer are left out, so
    no eager, stacked or compiled path of one model can beat it: its ratio to nanoGPT is the
    most such a path can reach at this shape."""
    cfg = rung.config
    d, m = cfg.d_model, rung.batch_size * rung.seq_len
    shapes = [(d, 3 * d), (d, d), (d, cfg.mlp_ratio * d), (cfg.mlp_ratio * d, d)] * cfg.n_layer
    shapes.append((d, cfg.vocab_size))
    g = torch.Generator().manual_seed(0)
    mats = [(torch.randn(m, i, generator=g), torch.randn(i, o, generator=g),
             torch.randn(m, o, generator=g)) for i, o in shapes]

    def step():
        for x, w, dy in mats:
            torch.mm(x, w)  # forward
            torch.mm(dy, w.t())  # input gradient
            torch.mm(x.t(), dy)  # weight gradient

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * m / (time.perf_counter() - t0)


def _worker(args):
    rung, steps, barrier, what = args
    torch.set_num_threads(1)
    if what == "nanogpt":
        _nanogpt_tokens_per_s(rung, "cpu", 1)  # warm-up outside the timed window
        barrier.wait()
        return _nanogpt_tokens_per_s(rung, "cpu", steps)
    compile = what == "compiled"
    _tokens_per_s([rung], "cpu", 1, compile)  # warm-up (and compilation) outside the timed window
    barrier.wait()
    return _tokens_per_s([rung], "cpu", steps, compile)


def _workers_tokens_per_s(rung, steps, n, what="eager") -> float:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as mgr:
        barrier = mgr.Barrier(n)
        with ctx.Pool(n) as pool:
            out = sum(pool.map(_worker, [(rung, steps, barrier, what)] * n))
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
                    help="torch threads tried for stacked groups (CPU default: 1)")
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
    # CPU: one thread per process, the trainer's setting, unless asked for more
    stack_threads = args.stack_threads or ([threads] if cuda else [1])
    base_threads = threads if cuda else 1
    peak = args.peak_tflops
    if cuda and peak is None:
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in BF16_PEAK.items() if k in name), None)
        print(f"device {name}, bf16 peak {peak} TFLOP/s")
    else:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
        print(f"device cpu, torch {torch.__version__}, plain and compiled 1 thread; stacked "
              f"threads {stack_threads}; workers: {workers} x 1 thread; load average {load}")
    print(f"best of {args.repeats} interleaved repeats; /ng = against nanoGPT eager at the same "
          "thread setting (workers: as many nanoGPT processes x 1 thread)")
    seen, shapes = set(), []
    for r in plan.rungs:
        if (r.n_layer, r.d_model) not in seen:
            seen.add((r.n_layer, r.d_model))
            shapes.append(r)
    head = f"{'rung':<10}{'params':>9}"
    if not cuda:
        head += f"{'ng 1t':>9}{'plain 1t':>10}{'/ng':>6}{'GEMMs 1t':>10}{'/ng':>6}"
    else:
        head += f"{'plain':>10}"
    head += "".join(f"{f'K={k}':>10}" for k in args.stack)
    head += f"{'best stacked':>18}" + ("" if cuda else f"{'/ng':>6}")
    if workers:
        head += f"{'ng wk':>9}{'workers':>10}{'/ng':>6}"
    if cuda or args.compile:
        head += f"{'compiled':>10}" + ("" if cuda else f"{'/ng':>6}")
        if workers:
            head += f"{'wk+comp':>10}{'/ng':>6}"
    head += f"{'best path':>18}{'x plain' if cuda else '/ng':>8}"
    if cuda:
        head += f"{'MFU plain':>11}{'MFU best':>10}"
    print(head + "   (tokens/s of all models together)")
    for r in shapes:
        res: dict[object, list[float]] = {}

        def add(key, value, res=res):
            res.setdefault(key, []).append(value)

        for _ in range(args.repeats):  # interleaved, so load changes hit every path alike
            if not cuda:
                for th in sorted(set(stack_threads) | {1}):
                    torch.set_num_threads(th)
                    add(("ng", th), _nanogpt_tokens_per_s(r, device, args.steps))
                torch.set_num_threads(1)
                add("gemms", _gemm_ceiling_tokens_per_s(r, args.steps))
            torch.set_num_threads(base_threads)
            add("plain", _tokens_per_s([r], device, args.steps))
            for k in args.stack:
                stack = [replace(r, seed=i) for i in range(k)]
                for th in stack_threads:
                    torch.set_num_threads(th)
                    add((k, th), _tokens_per_s(stack, device, max(2, round(args.steps * 4 / k))))
            torch.set_num_threads(base_threads)
            if workers:
                add("ng workers", _workers_tokens_per_s(r, args.steps, workers, "nanogpt"))
                add("workers", _workers_tokens_per_s(r, args.steps, workers))
            if cuda or args.compile:
                add("compiled", _tokens_per_s([r], device, args.steps, compile=True))
                if workers:
                    add("workers+compiled", _workers_tokens_per_s(r, args.steps, workers, "compiled"))
        torch.set_num_threads(threads)
        best = {k: max(v) for k, v in res.items()}
        plain = best["plain"]
        line = f"{r.name.rsplit('-t', 1)[0]:<10}{r.params:>9,}"
        # each path over nanoGPT at its own thread setting
        ref = {"plain": ("ng", 1), "compiled": ("ng", 1), "workers": "ng workers",
               "workers+compiled": "ng workers"}
        ratio = {}
        if not cuda:
            ratio = {k: best[k] / best[v] for k, v in ref.items() if k in best}
            line += f"{best[('ng', 1)]:>9,.0f}{plain:>10,.0f}{ratio['plain']:>6.2f}"
            line += f"{best['gemms']:>10,.0f}{best['gemms'] / best[('ng', 1)]:>6.2f}"
        else:
            line += f"{plain:>10,.0f}"
        per_k = {k: max(best[(k, th)] for th in stack_threads) for k in args.stack}
        line += "".join(f"{per_k[k]:>10,.0f}" for k in args.stack)
        stacked = {key: v for key, v in best.items() if isinstance(key, tuple) and key[0] != "ng"}
        if cuda:
            (kb, tb), sb = max(stacked.items(), key=lambda kv: kv[1])
            line += f"{f'{sb:,.0f} K{kb}/{tb}t':>18}"
            paths = {f"stacked K{kb}": sb / plain}
        else:  # the best stacked group by its ratio to nanoGPT at its thread count
            (kb, tb), sb = max(stacked.items(), key=lambda kv: kv[1] / best[("ng", kv[0][1])])
            ratio[f"stacked K{kb}/{tb}t"] = sb / best[("ng", tb)]
            line += f"{f'{sb:,.0f} K{kb}/{tb}t':>18}{sb / best[('ng', tb)]:>6.2f}"
            paths = {k: v for k, v in ratio.items() if k != "plain"}
        if workers:
            line += f"{best['ng workers']:>9,.0f}{best['workers']:>10,.0f}{ratio['workers']:>6.2f}"
        for key in ("compiled", "workers+compiled"):
            if key in best:
                line += f"{best[key]:>10,.0f}" + (f"{ratio[key]:>6.2f}" if not cuda else "")
                if cuda:
                    paths[key] = best[key] / plain
        name, top = max(paths.items(), key=lambda kv: kv[1])
        name = name.replace("workers", "wk").replace("compiled", "comp")
        line += f"{name:>18}{top:>8.2f}"
        if cuda and peak:
            fpt = r.config.flops_per_token
            line += f"{fpt * plain / (peak * 1e12):>11.1%}{fpt * top * plain / (peak * 1e12):>10.1%}"
        print(line, flush=True)
    if not cuda and hasattr(os, "getloadavg"):
        print(f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
