"""Final validation loss of one ladder shape at a chosen batch and LR multiplier.

The sweeps behind the ladder presets' batch and LR choices (docs/ladder.md) were run with this:
one shape of a preset, its token budget at ``--tokens-per-param``, trained to the end with the
batch given in sequences and the preset's LR rule times ``--lr-mult``, on the default corpus.

    python benchmarks/ladder_sweep.py --preset cpu-tiny --shape 2,64,4 --batch 4 --lr-mult 0.5
    python benchmarks/ladder_sweep.py --preset gpu-small --device cpu --shape 2,128,2 --batch 8

Prints the rung, its parameters, steps, final val/loss and seconds. One thread per process, so
two sweeps can run side by side on two cores.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import replace

import torch

from scalefit.ladder.plan import PRESETS, fill_schedule, lr_for, make_plan
from scalefit.ladder.train import resolve_corpus, train_group


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu-tiny", choices=sorted(PRESETS))
    ap.add_argument("--device", default=None)
    ap.add_argument("--shape", required=True, help="n_layer,d_model,n_head, e.g. 2,64,4")
    ap.add_argument("--tokens-per-param", type=float, default=10.0)
    ap.add_argument("--batch", type=int, required=True, help="sequences per step")
    ap.add_argument("--lr-mult", type=float, default=1.0, help="times the LR rule lr_for(N)")
    ap.add_argument("--store", default=None, help="keep the curve here (default: a temp folder)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    L, d, H = (int(x) for x in args.shape.split(","))
    plan = make_plan(args.preset, device=args.device, shapes=((L, d, H, (args.tokens_per_param,)),))
    r = plan.rungs[0]
    steps = math.ceil(r.tokens / (args.batch * r.seq_len))
    warmup = max(1, min(round(r.params / (args.batch * r.seq_len)), steps // 4))
    lr = lr_for(r.params) * args.lr_mult
    r = replace(r, batch_size=args.batch, steps=steps, warmup=warmup, lr=lr,
                eval_every=max(1, steps // 8), name=f"{r.name}-b{args.batch}-lr{args.lr_mult:g}",
                schedule=fill_schedule("cosine", peak=lr, warmup=warmup, steps=steps))
    corpus = resolve_corpus(None)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = train_group([r], corpus=corpus, store_path=args.store or tmp, preset="sweep",
                          device=plan.device)
        final = next(iter(res["final"].values()))
        print(f"{r.name}  params {r.params:,}  steps {steps}  final val/loss {final:.4f}  "
              f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
