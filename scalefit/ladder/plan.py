"""Ladder plans: which models to train, on how many tokens, with which LR, batch and schedule.

Rungs follow ``d_model = 64·n_layer`` (head size 64) on GPU; CPU presets use narrower tiny
shapes (head size 16 or less, all two layers deep) so that a ladder spanning 20x in parameters
fits in minutes.

Hyperparameters follow the published power laws of tuned small-model ladders (Porian et al.
2024; the OLMo ladders of Bhagia et al. 2024): the batch grows as ``N^(2/3)`` and the peak LR
falls as ``N^(-1/3)``, anchored at ``N_REF`` non-embedding parameters. Warmup lasts ``N``
tokens (the OLMo ladder rule), capped at a quarter of training. Rungs far below the anchor
are limited by optimizer steps: GPU presets shrink a shape's batch until its shortest run has
about 1,000 steps, and the CPU presets use a small fixed batch and half the rule's LR, as
sweeps found (see ``PRESETS``). Any of these can be overridden.

This module does not need torch (time estimates are in :mod:`scalefit.ladder.engine`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace

from scalefit.errors import UsageError
from scalefit.ladder.config import BETA2, PARAMS, GPTConfig, valid_beta2

__all__ = ["PRESETS", "Plan", "Rung", "batch_for", "lr_for", "make_plan", "plan_budget"]

N_REF = 1e8  # non-embedding parameters of the anchor model
LR_REF = 1.5e-3  # peak LR at N_REF
BATCH_TOKENS_REF = 2**19  # tokens per step at N_REF


def lr_for(n: float) -> float:
    """Peak AdamW LR for ``n`` non-embedding parameters: ``LR_REF · (n / N_REF)^(-1/3)``."""
    return LR_REF * (n / N_REF) ** (-1 / 3)


def batch_for(n: float, seq_len: int, min_seqs: int = 8) -> int:
    """Sequences per step: ``BATCH_TOKENS_REF · (n / N_REF)^(2/3)`` tokens, rounded to a power of 2."""
    seqs = BATCH_TOKENS_REF * (n / N_REF) ** (2 / 3) / seq_len
    return max(min_seqs, 2 ** round(math.log2(max(seqs, 1))))


@dataclass
class Rung:
    """One model to train: its shape, budget and optimisation settings."""

    name: str
    n_layer: int
    d_model: int
    n_head: int
    seq_len: int
    batch_size: int  # sequences per optimizer step (global)
    steps: int
    lr: float
    warmup: int
    schedule: str  # a scalefit.schedules spec
    eval_every: int
    seed: int = 0
    vocab_size: int = 256
    val_batches: int = 4
    val_batch_size: int = 16
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    tags: dict = field(default_factory=dict)
    param: str = "sp"  # parametrisation: "sp" or "mup" (see GPTConfig)
    base_width: int = 0  # μP's base width
    beta2: float = BETA2  # AdamW's second-moment decay

    @property
    def config(self) -> GPTConfig:
        return GPTConfig(self.n_layer, self.d_model, self.n_head, seq_len=self.seq_len,
                         vocab_size=self.vocab_size, param=self.param, base_width=self.base_width)

    @property
    def params(self) -> int:
        return self.config.params_nonembedding

    @property
    def tokens(self) -> int:
        return self.steps * self.batch_size * self.seq_len

    @property
    def flops(self) -> float:
        return float(self.config.flops_per_token) * self.tokens

    @property
    def shape_key(self) -> tuple:
        return (self.n_layer, self.d_model, self.n_head, self.seq_len, self.vocab_size,
                self.batch_size, self.steps, self.eval_every, self.val_batches, self.val_batch_size,
                self.param, self.base_width, self.beta2)

    def schedule_obj(self):
        from scalefit.schedules import parse_schedule

        return parse_schedule(self.schedule)

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.param == "sp":  # SP rungs keep the fields (and store hashes) they always had
            del d["param"], d["base_width"]
        if self.beta2 == BETA2:  # as do rungs at the default beta2
            del d["beta2"]
        return d


@dataclass
class Plan:
    preset: str
    device: str
    rungs: list[Rung]
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # estimated per rung

    @property
    def flops(self) -> float:
        return sum(r.flops for r in self.rungs)

    def rows(self) -> list[dict]:
        out = []
        for r in self.rungs:
            c = r.config
            out.append({
                "rung": r.name, "layers": r.n_layer, "d_model": r.d_model, "heads": r.n_head,
                "params": c.params_nonembedding, "params_total": c.params_total,
                "tokens": r.tokens, "tokens_per_param": r.tokens / c.params_nonembedding,
                "batch": r.batch_size, "steps": r.steps, "lr": r.lr, "flops": r.flops,
                "seconds": self.seconds.get(r.name, math.nan),
            })
        return out

    def select(self, names: list[str]) -> list[Rung]:
        """The rungs named in ``names``, or whose name continues one with ``-`` (``L2-d32``
        selects ``L2-d32-t10`` and ``L2-d32-t20``)."""
        return [r for r in self.rungs if any(r.name == x or r.name.startswith(x + "-")
                                             for x in names)]

    def groups(self, stack: str = "auto") -> list[list[Rung]]:
        """Rungs trained together as one stacked model (same shape, batch and steps)."""
        if stack == "never":
            return [[r] for r in self.rungs]
        by: dict[tuple, list[Rung]] = {}
        for r in self.rungs:
            by.setdefault(r.shape_key, []).append(r)
        out = []
        for rs in by.values():
            small = rs[0].config.params_nonembedding <= STACK_MAX_PARAMS.get(self.device, 0)
            if stack == "always" or (small and len(rs) > 1):
                out.append(rs)
            else:
                out.extend([r] for r in rs)
        return out

    def to_json(self) -> str:
        return json.dumps({"preset": self.preset, "device": self.device, "notes": self.notes,
                           "rungs": [r.to_dict() for r in self.rungs]}, indent=1)


#: largest rung that stacking serves: on GPU tiny models leave the device idle; on CPU
#: stacking pays only where per-op overhead dominates (measured by benchmarks/ladder_throughput.py)
STACK_MAX_PARAMS = {"cuda": 2e7, "cpu": 3e4}


# ---------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    device: str
    seq_len: int
    shapes: tuple  # (n_layer, d_model, n_head, tokens-per-param multiples)
    evals: int = 20
    val_batches: int = 4
    val_batch_size: int = 16
    description: str = ""
    batch_seqs: int | None = None  # a fixed batch (sequences per step) instead of batch_for(N)
    lr_scale: float = 1.0  # times lr_for(N)
    # smaller batches (to the nearest power of two) where batch_for(N) leaves fewer steps
    min_steps: int | None = None
    param: str = "sp"  # the parametrisation when --param is not given
    # μP's peak LR for every rung, swept at the default base width (the narrowest rung)
    mup_lr: float | None = None
    # the swept LR's token-horizon transfer (the form of Bjorck et al. 2025, "Scaling Optimal LR
    # Across Token Horizons"): a rung of S steps trains at lr · (S / lr_steps)^-lr_horizon_exp,
    # lr_steps being the sweep's run length; exponent 0 keeps one LR for every rung
    lr_steps: int | None = None
    lr_horizon_exp: float = 0.0


def _gpu_shape(L: int, mults=(20,)):
    return (L, 64 * L, L, mults)


PRESETS: dict[str, Preset] = {
    "cpu-smoke": Preset("cpu", 64, ((1, 32, 2, (10,)), (1, 48, 3, (10,))), evals=5,
                        val_batches=2, val_batch_size=16,
                        description="two tiny rungs in seconds: for tests and a first look"),
    # Tiny CPU rungs are limited by optimizer steps, not by batch noise: at 10 tokens/param a
    # sweep (benchmarks/ladder_sweep.py; validation loss, L2-d64 / L2-d24, on the earlier
    # 8-wheel default corpus; L2-d96 on the 19-wheel one) gave batch 4, 8, 16, 32
    # sequences -> 1.94, 2.10, 2.22, 2.45 / batch 2, 4, 8, 16 -> 2.65, 2.75, 2.85, 3.10, and at
    # batch 4 the LR rule x0.5 beat x1 and x2 (1.90 vs 1.94, 2.12 at batch 8; 2.64 vs 2.75,
    # 2.80; L2-d96: x0.25, x0.5, x1 -> 1.581, 1.561, 1.560). So every CPU rung takes 4 x 128
    # tokens per step at half the rule's LR, and all keep two layers: one-layer models (no
    # induction heads) fall off the trend of deeper ones. μP by default, from base width 20:
    # swept (`scalefit ladder sweep --param mup --widths 20 --head-dim 10 --seeds 2`, LRs 4e-3
    # to 0.128 in factors of 2) at 600, 1,000 and 3,000 steps, best 0.0132, 0.0226 and 0.0131;
    # the line through them in log-log gives 0.016 at 1,000 steps and an exponent of 0.085, so
    # each rung trains at 0.016 · (steps / 1000)^-0.085 (0.018 for the shortest, 0.013 for the
    # longest). `--param sp` keeps the rule the SP ladder had: half the LR rule.
    "cpu-tiny": Preset("cpu", 128, (
        (2, 20, 2, (10, 20, 40)),
        (2, 32, 2, (10, 20, 40)),
        (2, 48, 3, (10, 20, 40)),
        (2, 64, 4, (10, 20, 40)),
        (2, 96, 6, (10, 20)),
    ), evals=16, val_batches=4, val_batch_size=32, batch_seqs=4, lr_scale=0.5, param="mup",
        mup_lr=0.016, lr_steps=1000, lr_horizon_exp=0.085,
        description="5 widths at depth 2, 9.7k-221k non-embedding params (23x), 10-40 "
                    "tokens/param, batch 4 x 128, μP; minutes on 2 CPU cores"),
    # μP by default: one LR serves every width. Swept (`scalefit ladder sweep --param mup
    # --widths 32 --layers 3 --batch 4 --seeds 2`, LRs 4e-3 to 6.4e-2 in factors of 2, warm-up
    # 10%) at the base width d32: best 0.0163 at 1,500 steps and 0.0095 at 5,778, an exponent of
    # 0.40 (the best LR falls with the run's length); at 1,500 steps width 96 (`--base-width 32`)
    # wants about the same LR (0.016). Three layers, head size 16, the cpu-tiny batch; the
    # largest width trains at 5 and 10 tokens/param only, which keeps the ladder near half an
    # hour on 2 cores. --param sp takes half the LR rule, as cpu-tiny. So each rung's LR is
    # 0.0163 · (steps / 1500)^-0.40: 0.029 for the shortest rung (363 steps), 0.006 for the
    # longest (18,022).
    "cpu-small": Preset("cpu", 128, (
        (3, 32, 2, (5, 10, 20)),
        (3, 48, 3, (5, 10, 20)),
        (3, 64, 4, (5, 10, 20)),
        (3, 96, 6, (5, 10, 20)),
        (3, 160, 10, (5, 10)),
    ), evals=16, val_batches=4, val_batch_size=32, batch_seqs=4, lr_scale=0.5, param="mup",
        mup_lr=0.0163, lr_steps=1500, lr_horizon_exp=0.40,
        description="5 widths at depth 3, 37k-923k non-embedding params (25x), 5-20 "
                    "tokens/param, batch 4 x 128, μP; about half an hour on 2 CPU cores"),
    # The batch rule, anchored at 100M, gives the smallest GPU rungs a few hundred steps: L2-d128
    # at 10 tokens/param reached validation loss 2.27 at batch 32 x 512 (241 steps, the rule)
    # and 1.65 at batch 8 (964 steps). So each GPU shape takes a batch that gives its shortest
    # run about 1,000 steps or more.
    "gpu-small": Preset("cuda", 512, tuple(_gpu_shape(L, (10, 20, 40)) for L in (2, 3, 4, 5, 6)),
                        val_batches=8, val_batch_size=64, min_steps=1000,
                        description="d=64L, L=2..6 (0.4M-10.6M params) at 10/20/40 tokens/param"),
    "gpu-100m": Preset("cuda", 1024, tuple(_gpu_shape(L) for L in (4, 6, 8, 10, 12)),
                       val_batches=16, val_batch_size=32, min_steps=1000,
                       description="d=64L, L=4..12 (3M-85M params) at 20 tokens/param"),
}


def _rung(name, L, d, H, seq_len, tokens, preset: Preset, vocab, seed, schedule, lr_mult=1.0,
          batch=None, lr=None, tags=None, param="sp", base_width=0, horizon=None) -> Rung:
    cfg = GPTConfig(L, d, H, seq_len=seq_len, vocab_size=vocab, param=param, base_width=base_width)
    n = cfg.params_nonembedding
    bs = batch or _preset_batch(preset, n, tokens, seq_len)
    steps = max(1, math.ceil(tokens / (bs * seq_len)))
    # μP transfers one LR across widths: without a swept one, the rule's LR at the base width
    n_lr = n if param == "sp" else 12 * L * base_width**2 + (2 * L + 1) * base_width
    peak = (lr or lr_for(n_lr) * preset.lr_scale) * lr_mult
    if lr and horizon:  # (sweep steps, exponent): longer runs want a smaller peak LR
        peak *= (steps / horizon[0]) ** -horizon[1]
    warmup = min(max(1, round(n / (bs * seq_len))), steps // 4)
    spec = fill_schedule(schedule, peak=peak, warmup=warmup, steps=steps)
    return Rung(name=name, n_layer=L, d_model=d, n_head=H, seq_len=seq_len, batch_size=bs,
                steps=steps, lr=peak, warmup=warmup, schedule=spec,
                eval_every=max(1, steps // preset.evals), seed=seed, vocab_size=vocab,
                val_batches=preset.val_batches, val_batch_size=preset.val_batch_size,
                tags=dict(tags or {}), param=param, base_width=base_width)


def _preset_batch(preset: Preset, n: float, tokens: float, seq_len: int) -> int:
    """Sequences per step for a model of ``n`` parameters whose shortest run sees ``tokens``:
    the preset's fixed batch, or batch_for(n) made small enough for ``min_steps`` steps."""
    if preset.batch_seqs:
        return preset.batch_seqs
    bs = batch_for(n, seq_len)
    if preset.min_steps:
        bs = min(bs, 2 ** round(math.log2(max(tokens / (preset.min_steps * seq_len), 1))))
    return bs


def fill_schedule(spec: str | None, *, peak: float, warmup: int, steps: int) -> str:
    """Complete a schedule template such as ``"wsd:decay=0.2"`` with the rung's numbers.

    ``peak``, ``warmup`` and ``steps`` come from the rung unless the template sets them; a
    ``final`` given as ``final=0.1x`` is that fraction of the peak. Default: cosine to 10%.
    """
    from scalefit.schedules import parse_schedule

    spec = spec or "cosine"
    family, _, rest = spec.partition(":")
    opts: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        k, eq, v = part.partition("=")
        if not eq:
            raise UsageError(f"schedule option {part!r} is not key=value", where="--schedule")
        opts[k.strip()] = v.strip()
    opts.setdefault("peak", repr(float(peak)))
    opts.setdefault("warmup", str(int(warmup)))
    opts.setdefault("steps", str(int(steps)))
    if family.strip() in ("cosine", "linear", "wsd", "wsds", "exp"):
        opts.setdefault("final", "0.1x")
    if opts.get("final", "").endswith("x"):
        opts["final"] = repr(float(opts["final"][:-1]) * float(opts["peak"]))
    text = family.strip() + ":" + ",".join(f"{k}={v}" for k, v in opts.items())
    return parse_schedule(text).to_spec()


def make_plan(preset: str, *, device: str | None = None, schedule: str | None = None,
              seeds: int = 1, lr_mults: tuple[float, ...] = (1.0,), vocab_size: int = 256,
              max_steps: int | None = None, shapes: tuple | None = None, param: str | None = None,
              base_width: int | None = None, lr: float | None = None,
              lr_steps: int | None = None, beta2: float | None = None) -> Plan:
    """The plan of a named preset (see :data:`PRESETS`).

    ``seeds`` > 1 or several ``lr_mults`` add same-shape variants that train as one stacked
    model. ``max_steps`` truncates every rung (for tests); ``shapes`` replaces the preset's.
    ``param="mup"`` trains every rung in μP relative to ``base_width`` (default: the narrowest
    rung); ``None``: the preset's parametrisation. ``lr`` gives every rung that peak LR instead
    of the rule's (a swept, transferred one); a μP preset's own swept LR is the default at its
    default base width. A swept LR moves with each rung's length where the preset has a horizon
    exponent: ``lr · (steps / lr_steps)^-exponent``, ``lr_steps`` being the sweep's run length
    (the preset's own for its swept LR). ``beta2``: AdamW's second-moment decay for every rung
    (default 0.95).
    """
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}", where="--preset",
                         hint=f"use one of {', '.join(PRESETS)}")
    p = PRESETS[preset]
    shapes = shapes or p.shapes
    narrowest = min(s[1] for s in shapes)
    param, base_width = _check_param(p.param if param is None else param, base_width, narrowest)
    if lr is None and param == "mup" and p.mup_lr and base_width == narrowest:
        lr = p.mup_lr  # swept at this base width only: another base width takes the rule's
        lr_steps = p.lr_steps
    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise UsageError(f"the peak LR must be a positive number, got {lr!r}", where="--lr-from")
    horizon = None
    if lr is not None and lr_steps and p.lr_horizon_exp:
        horizon = (int(lr_steps), p.lr_horizon_exp)
    rungs = []
    for L, d, H, mults in shapes:
        n = GPTConfig(L, d, H, seq_len=p.seq_len, vocab_size=vocab_size).params_nonembedding
        # one batch per shape, so that its runs differ only in length
        bs = _preset_batch(p, n, min(mults) * n, p.seq_len)
        for m in mults:
            for lm in lr_mults:
                for s in range(seeds):
                    # the rule's LR and seed 0 keep the plain name, so that more seeds or LRs
                    # added to a finished ladder (--resume) train only the new runs
                    name = f"L{L}-d{d}-t{m:g}"
                    name += f"-lr{lm:g}" if lm != 1.0 else ""
                    name += f"-s{s}" if s else ""
                    r = _rung(name, L, d, H, p.seq_len, m * n, p, vocab_size, s, schedule, lm,
                              batch=bs, lr=lr, tags={"tokens_per_param": m, "lr_mult": lm},
                              param=param, base_width=base_width, horizon=horizon)
                    if max_steps is not None and r.steps > max_steps:
                        r = _truncate(r, max_steps, p)
                    rungs.append(r)
    return _with_beta2(Plan(preset, device or p.device, rungs,
                            notes=[p.description, *_param_notes(param, base_width, lr, horizon,
                                                                rungs)]), beta2)


def legacy_names(rung: Rung) -> list[str]:
    """The names an older scalefit gave ``rung`` (before seed 0 and the rule's LR kept the
    plain name): ``-s0`` after seed 0, ``-lr1`` for the rule's LR, when a plan had several."""
    sfx = f"-beta{rung.beta2:g}" if rung.beta2 != BETA2 and rung.name.endswith(
        f"-beta{rung.beta2:g}") else ""
    core = rung.name[:len(rung.name) - len(sfx)]
    seed = f"-s{rung.seed}" if rung.seed and core.endswith(f"-s{rung.seed}") else ""
    head = core[:len(core) - len(seed)]
    lrs = [""] + (["-lr1"] if rung.tags.get("lr_mult") == 1.0 else [])
    seeds = [seed] + (["-s0"] if not rung.seed else [])
    return [n for n in (f"{head}{lr}{s}{sfx}" for lr in lrs for s in seeds) if n != rung.name]


def check_beta2(beta2, where: str = "--beta2") -> float:
    """``beta2`` as a float strictly between 0 and 1, or a UsageError naming ``where``."""
    if not valid_beta2(beta2):
        raise UsageError(f"beta2 must lie between 0 and 1, got {beta2!r}", where=where,
                         hint=f"e.g. --beta2 0.99 (the default is {BETA2})")
    return float(beta2)


def _with_beta2(plan: Plan, beta2: float | None) -> Plan:
    """Every rung of ``plan`` at AdamW beta2 ``beta2`` (None: the default)."""
    if beta2 is None:
        return plan
    beta2 = check_beta2(beta2)
    if beta2 != BETA2:
        # a name of its own, so that a store can hold the same rung at two beta2s
        plan.rungs = [replace(r, name=f"{r.name}-beta{beta2:g}", beta2=beta2,
                              tags={**r.tags, "beta2": beta2}) for r in plan.rungs]
        plan.notes.append(f"AdamW beta2 {beta2:g} for every rung (default {BETA2:g})")
    return plan


def _param_notes(param: str, base_width: int, lr: float | None, horizon=None,
                 rungs=()) -> list[str]:
    notes = [f"μP relative to base width {base_width}"] if param == "mup" else []
    if lr is None:
        return notes
    if horizon:
        lrs = [r.lr for r in rungs]
        return notes + [f"peak LR {lr:.3g} (swept at {horizon[0]} steps) times "
                        f"(steps / {horizon[0]})^-{horizon[1]:g}: {min(lrs):.3g}-{max(lrs):.3g}"]
    return notes + [f"every rung at peak LR {lr:.3g} (swept)"]


def _check_param(param: str, base_width: int | None, narrowest: int) -> tuple[str, int]:
    """(param, base width): SP has none; μP defaults to the narrowest rung's width."""
    if param not in PARAMS:
        raise UsageError(f"unknown parametrisation {param!r}", where="--param",
                         hint=f"use one of {', '.join(PARAMS)}")
    if param == "sp":
        return param, 0
    if base_width is None:
        base_width = narrowest
    if not (isinstance(base_width, int) and base_width > 0):
        raise UsageError(f"the base width must be a positive integer, got {base_width!r}",
                         where="--base-width", hint="e.g. the width the LR was swept at")
    return param, base_width


def _truncate(r: Rung, steps: int, p: Preset) -> Rung:
    warmup = min(r.warmup, max(1, steps // 4))
    spec = fill_schedule(r.schedule.split(":")[0], peak=r.lr, warmup=warmup, steps=steps)
    return replace(r, steps=steps, warmup=warmup, schedule=spec,
                   eval_every=max(1, steps // p.evals))


def plan_budget(flops: float, *, device: str = "cpu", n_sizes: int = 5, schedule: str | None = None,
                vocab_size: int = 256, param: str | None = "sp", base_width: int | None = None,
                lr: float | None = None, beta2: float | None = None) -> Plan:
    """An IsoFLOP grid: ``n_sizes`` shapes around the compute-optimal size for ``flops``, each
    trained on ``flops / flops_per_token`` tokens (Chinchilla approach 2). ``param``,
    ``base_width``, ``lr`` and ``beta2`` as in :func:`make_plan`."""
    if not (flops > 0 and math.isfinite(flops)):
        raise UsageError(f"budget must be a positive number of FLOPs, got {flops!r}", where="--budget")
    p = PRESETS["cpu-tiny" if device == "cpu" else "gpu-small"]
    if device == "cpu":
        candidates = [(L, d, d // 16) for L in (1, 2, 3, 4) for d in range(32, 257, 16)]
    else:
        candidates = [(L, 64 * L, L) for L in range(1, 25)]
    n_opt = math.sqrt(flops / 120)  # C = 6·N·D with D = 20·N
    grid = [n_opt * 4 ** ((i - (n_sizes - 1) / 2) / ((n_sizes - 1) / 2 or 1)) for i in range(n_sizes)]
    picked: list[tuple] = []
    for target in grid:
        best = min(candidates, key=lambda c: abs(math.log(
            GPTConfig(c[0], c[1], c[2], seq_len=p.seq_len).params_nonembedding / target))
            + 0.3 * abs(math.log(c[1] / (c[0] * (16 if device == "cpu" else 64)) + 1e-9)))
        if best not in picked:
            picked.append(best)
    param, base_width = _check_param(param or "sp", base_width, min(c[1] for c in picked))
    rungs = []
    for L, d, H in picked:
        cfg = GPTConfig(L, d, H, seq_len=p.seq_len, vocab_size=vocab_size)
        tokens = flops / cfg.flops_per_token
        rungs.append(_rung(f"L{L}-d{d}-C{flops:.0e}", L, d, H, p.seq_len, tokens, p, vocab_size,
                           0, schedule, tags={"isoflop": flops}, lr=lr, param=param,
                           base_width=base_width))
    plan = Plan(f"budget-{flops:.2e}", device, rungs,
                notes=[f"IsoFLOP grid at C = {flops:.3g} FLOPs around N_opt ~ {n_opt:.3g}",
                       *_param_notes(param, base_width, lr)])
    tiny = [r.name for r in rungs if r.tokens < 5 * r.params]
    if tiny:
        plan.notes.append(f"rungs under 5 tokens/param: {', '.join(tiny)}")
    return _with_beta2(plan, beta2)
