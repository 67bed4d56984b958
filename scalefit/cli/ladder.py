"""`scalefit ladder` commands: build a corpus, plan a ladder, train it into a store.

torch is imported inside the commands only, so ``scalefit --help`` works without it.
"""

from __future__ import annotations

import json
import math
import os
import time

import typer

from scalefit.cli.app import app, console
from scalefit.errors import UsageError
from scalefit.ladder.config import BETA2

ladder_app = typer.Typer(help="Train a ladder of small GPTs (needs torch) and log it to a store.",
                         no_args_is_help=True)
app.add_typer(ladder_app, name="ladder")



def _console():
    """The stderr console, made on first use (rich loads only for ladder commands)."""
    global _stderr
    if _stderr is None:
        from rich.console import Console

        _stderr = Console(stderr=True)
    return _stderr


_stderr = None


def _have_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _need_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("the ladder trainer needs torch", where="scalefit ladder",
                         # a plain torch requirement fetches the multi-GB CUDA build
                         hint="pip install 'scalefit[ladder]'; on a machine without a GPU "
                              "first: pip install torch --index-url "
                              "https://download.pytorch.org/whl/cpu") from None


def _lr_mults(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"cannot read {text!r} as comma-separated numbers", where="--lr-mult") from None
    if not vals or any(not (v > 0) for v in vals):
        raise UsageError("LR multipliers must be positive", where="--lr-mult")
    return vals


def _param_and_lr(param: str | None, base_width: int | None, lr_from: str | None,
                  beta2: float | None = None) -> dict:
    """The parametrisation, base width, peak LR, the steps it was swept at and AdamW's beta2,
    as ``_plan``'s keywords: from the options, or from a sweep file (``--lr-from``), whose
    settings the options may repeat but not contradict."""
    if lr_from is None:  # param None: the preset's parametrisation
        return {"param": param, "base_width": base_width, "lr": None, "lr_steps": None,
                "beta2": beta2}
    from scalefit.ladder.sweep import read_sweep

    sw = read_sweep(lr_from)
    base = sw.get("base_width") if sw["param"] == "mup" else None
    if param is not None and param != sw["param"]:
        raise UsageError(f"--param {param} contradicts the sweep's {sw['param']}", where="--param",
                         hint=f"drop --param, or sweep with --param {param}")
    if base_width is not None and base is not None and base_width != base:
        raise UsageError(f"--base-width {base_width} contradicts the sweep's {base}",
                         where="--base-width", hint="drop --base-width: the sweep sets it")
    swept_b2 = sw.get("beta2")  # the LR is the best at the beta2 it was swept at
    if beta2 is not None and swept_b2 is not None and beta2 != swept_b2:
        raise UsageError(f"--beta2 {beta2:g} contradicts the sweep's {swept_b2:g}", where="--beta2",
                         hint=f"drop --beta2, or sweep with --beta2 {beta2:g}")
    return {"param": sw["param"], "base_width": base if base is not None else base_width,
            "lr": float(sw["best_lr"]), "lr_steps": sw.get("steps"),
            "beta2": beta2 if beta2 is not None else swept_b2}


def _plan(preset, budget, device, schedule, seeds, lr_mult, max_steps=None, vocab_size=256,
          param="sp", base_width=None, lr=None, lr_steps=None, beta2=None):
    from scalefit.ladder.plan import make_plan, plan_budget

    if (preset is None) == (budget is None):
        raise UsageError("give exactly one of --preset and --budget", where="scalefit ladder",
                         hint="e.g. --preset cpu-tiny or --budget 1e15")
    if seeds < 1:
        raise UsageError("need at least one seed", where="--seeds")
    if preset is not None:
        return make_plan(preset, device=device, schedule=schedule, seeds=seeds,
                         lr_mults=_lr_mults(lr_mult), max_steps=max_steps, vocab_size=vocab_size,
                         param=param, base_width=base_width, lr=lr, lr_steps=lr_steps,
                         beta2=beta2)
    try:
        flops = float(budget)
    except ValueError:
        raise UsageError(f"cannot read {budget!r} as FLOPs", where="--budget", hint="e.g. 1e15") from None
    return plan_budget(flops, device=device or "cpu", schedule=schedule, vocab_size=vocab_size,
                       param=param, base_width=base_width, lr=lr, beta2=beta2)


def _fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _print_plan(plan, console) -> None:
    from rich.table import Table

    t = Table(title=f"ladder {plan.preset} on {plan.device}")
    for col in ("rung", "L", "d", "heads", "params", "tokens", "tok/param", "batch", "steps", "lr",
                "FLOPs", "est. time"):
        t.add_column(col, justify="left" if col == "rung" else "right")
    for r in plan.rows():
        t.add_row(r["rung"], str(r["layers"]), str(r["d_model"]), str(r["heads"]),
                  f"{r['params']:,}", f"{r['tokens']:,}", f"{r['tokens_per_param']:.1f}",
                  str(r["batch"]), str(r["steps"]), f"{r['lr']:.2e}", f"{r['flops']:.2e}",
                  _fmt_time(r["seconds"]))
    console.print(t)
    for n in plan.notes:
        console.print(n, markup=False)  # notes are text: "[ladder]" is not a style
    total = sum(v for v in plan.seconds.values() if math.isfinite(v))
    text = f"total {plan.flops:.3g} FLOPs"
    if plan.seconds:
        text += f", about {_fmt_time(total)} of training in one process"
        workers = os.cpu_count() or 1
        if not plan.device.startswith("cuda") and workers > 1:
            loads = [0.0] * workers  # largest first onto the least-loaded worker, as `run` does
            for v in sorted(plan.seconds.values(), reverse=True):
                loads[loads.index(min(loads))] += v
            text += f", {_fmt_time(max(loads))} with {workers} workers"
    console.print(text)


@ladder_app.command("corpus")
def corpus_cmd(
    source: str = typer.Option(None, "--from", help="A folder of text or code (default: the "
                               "pinned PyPI wheels, or the installed Python sources offline)."),
    out: str = typer.Option(None, "--out", help="Where to write the corpus (default: the cache)."),
    offline: bool = typer.Option(False, "--offline", help="Do not download anything."),
    tokenizer: str = typer.Option("byte", "--tokenizer", help="byte or bpe (needs `tokenizers`)."),
    bpe_vocab: int = typer.Option(4096, "--bpe-vocab", help="BPE vocabulary size (with --tokenizer bpe)."),
    max_mb: float = typer.Option(None, "--max-mb", help="Read at most this many MB of text."),
) -> None:
    """Build a token corpus: memory-mapped train/val tokens split by a hash of each file path."""
    from scalefit.ladder.data import build_corpus, default_cache, default_corpus_dir

    if out is None:
        out = str(default_corpus_dir(offline) if source is None else
                  default_cache() / "corpus-folder")
    c = build_corpus(out, source=source, offline=offline, tokenizer=tokenizer, bpe_vocab=bpe_vocab,
                     max_bytes=None if max_mb is None else int(max_mb * 1e6),
                     log=lambda m: _console().print(m))
    typer.echo(f"corpus at {c.path}: {c.describe()}")


_PARAM_HELP = ("sp (standard) or mup (μP: per-layer init and LR scaled from --base-width, so "
               "one LR transfers across widths).")
_PRESET_PARAM_HELP = _PARAM_HELP[:-2] + "); default: the preset's (mup for cpu-tiny and cpu-small, else sp)."
_BASE_HELP = "μP's base width (default: the narrowest rung's, or the sweep's)."
_LR_FROM_HELP = ("A sweep JSON from `scalefit ladder sweep`: every rung trains at its best LR, in "
                 "its parametrisation.")
_BETA2_HELP = f"AdamW's second-moment decay for every rung (default {BETA2})."


@ladder_app.command("plan")
def plan_cmd(
    preset: str = typer.Option(None, "--preset", help="cpu-smoke, cpu-tiny, cpu-small, gpu-small, gpu-100m."),
    budget: str = typer.Option(None, "--budget", help="FLOPs: an IsoFLOP grid at this budget."),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: the preset's)."),
    schedule: str = typer.Option(None, "--schedule", help="e.g. cosine, wsd:decay=0.2, constant."),
    seeds: int = typer.Option(1, "--seeds", help="Seeds per rung (same shapes train stacked)."),
    lr_mult: str = typer.Option("1", "--lr-mult", help="Comma-separated LR multipliers."),
    probe: bool = typer.Option(True, "--probe/--no-probe", help="Time a few steps per shape."),
    threads: int = typer.Option(None, "--threads", help="torch threads for the probe."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    param: str = typer.Option(None, "--param", help=_PRESET_PARAM_HELP),
    base_width: int = typer.Option(None, "--base-width", help=_BASE_HELP),
    lr_from: str = typer.Option(None, "--lr-from", help=_LR_FROM_HELP),
    beta2: float = typer.Option(None, "--beta2", help=_BETA2_HELP),
) -> None:
    """Print the rungs of a ladder: shapes, tokens, FLOPs and a time estimate."""
    plan = _plan(preset, budget, device, schedule, seeds, lr_mult,
                 **_param_and_lr(param, base_width, lr_from, beta2))
    if probe and not _have_torch():
        # the plan itself is arithmetic; only timing a few steps needs the trainer
        plan.notes.append("no time estimate: timing the rungs needs torch "
                          "(pip install 'scalefit[ladder]')")
    elif probe:
        import torch

        from scalefit.ladder.engine import estimate_seconds

        if plan.device.startswith("cuda") and not torch.cuda.is_available():
            plan.notes.append("no CUDA device here: no time estimate (run the plan on the GPU)")
        else:
            estimate_seconds(plan, threads=threads or 1)
    if as_json:
        d = json.loads(plan.to_json())
        d["seconds"] = plan.seconds
        typer.echo(json.dumps(d, indent=1))
        return
    _print_plan(plan, console())


@ladder_app.command("run")
def run_cmd(
    store: str = typer.Option(..., "--store", help="The store folder the curves go into."),
    preset: str = typer.Option(None, "--preset", help="cpu-smoke, cpu-tiny, cpu-small, gpu-small, gpu-100m."),
    budget: str = typer.Option(None, "--budget", help="FLOPs: an IsoFLOP grid at this budget."),
    schedule: str = typer.Option(None, "--schedule", help="Schedule template, e.g. wsd:decay=0.2."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoints."),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: the preset's)."),
    corpus: str = typer.Option(None, "--corpus", help="A corpus built by `scalefit ladder corpus`."),
    offline: bool = typer.Option(False, "--offline", help="Default corpus from installed sources."),
    workers: int = typer.Option(None, "--workers", help="CPU processes training rungs side by side "
                                "(default: one per core)."),
    threads: int = typer.Option(None, "--threads", help="torch threads per process (default: "
                                "1 on CPU, so that the losses do not depend on the core count)."),
    stack: str = typer.Option("auto", "--stack", help="auto, never or always: train same-shape "
                              "rungs as one stacked model."),
    compile: bool | None = typer.Option(None, "--compile/--no-compile",
                                        help="torch.compile the models (default: on GPU only; on "
                                             "CPU it needs a C++ compiler and saves little)."),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 autocast on GPU, fp32 "
                                  "on CPU), fp32 or bf16."),
    seeds: int = typer.Option(1, "--seeds", help="Seeds per rung (same shapes train stacked)."),
    lr_mult: str = typer.Option("1", "--lr-mult", help="Comma-separated LR multipliers, e.g. "
                                "0.5,1,2 (an LR sweep; same shapes train stacked)."),
    rung: list[str] = typer.Option(None, "--rung", help="Train only these rungs."),
    max_steps: int = typer.Option(None, "--max-steps", help="Cut every rung to this many steps."),
    keep_checkpoints: bool = typer.Option(False, "--keep-checkpoints",
                                          help="Keep each run's last checkpoint when it ends."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    param: str = typer.Option(None, "--param", help=_PRESET_PARAM_HELP),
    base_width: int = typer.Option(None, "--base-width", help=_BASE_HELP),
    lr_from: str = typer.Option(None, "--lr-from", help=_LR_FROM_HELP),
    beta2: float = typer.Option(None, "--beta2", help=_BETA2_HELP),
) -> None:
    """Train a ladder and write its runs and curves into STORE as training goes."""
    _need_torch()
    _check_choice(stack, "--stack", ("auto", "never", "always"))
    _check_choice(precision, "--precision", ("auto", "fp32", "bf16"))
    plan, c = _plan_and_corpus(preset, budget, device, schedule, seeds, lr_mult, max_steps,
                               corpus, offline, rung,
                               **_param_and_lr(param, base_width, lr_from, beta2))
    _console().print(f"corpus: {c.describe()}")
    if workers is None:
        workers = 1 if plan.device.startswith("cuda") else min(os.cpu_count() or 1,
                                                                len(plan.groups(stack)))
    t0 = time.perf_counter()
    results = _train(plan, c, quiet, _done_lines(plan), store_path=store, resume=resume, workers=workers,
                     threads=threads, stack=stack, compile=compile, precision=precision,
                     keep_checkpoints=keep_checkpoints)
    wall = time.perf_counter() - t0
    _print_results(plan, results, wall)
    typer.echo(f"store: {store}  wall time: {wall:.1f} s")
    top = max(r.params for r in plan.rungs)
    k = sum(r.params == top for r in plan.rungs)
    if len({r.params for r in plan.rungs}) >= 3:  # size:1 leaves two sizes or more to fit
        _print_backtest(store)
    elif len(plan.rungs) > k:  # a backtest needs runs left to fit
        typer.echo(f"next: scalefit fit --store {store} --law power:x=C --metric val/loss "
                   f"--holdout largest:{k}")


def _print_backtest(store: str) -> None:
    """Predict the largest size from the others, as `scalefit fit --holdout size:1` does."""
    from rich.table import Table

    from scalefit.ladder.backtest import ladder_backtest, seed_scatter
    from scalefit.store import Store

    st = Store(store, create=False)  # read once for the fits and the seed scatter
    rows = ladder_backtest(st)
    seeds = any(r.get("rung_mean_rel_error") is not None for r in rows)
    t = Table(title="backtest: the largest size predicted from the others (val/loss, size:1)")
    cols = ["law", "held-out runs", "mean error", "max error"]
    cols += ["error of seed means"] if seeds else []
    for col in cols + ["E", "note"]:
        t.add_column(col, justify="left" if col in ("law", "held-out runs", "note") else "right")
    for r in rows:
        if "error" in r:
            t.add_row(r["law"], *["-"] * (len(cols) - 1), "-", r["error"])
            continue
        cells = [r["law"], ", ".join(n.split("/", 1)[-1] for n in r["heldout_runs"]),
                 f"{r['mean_rel_error']:.2%}", f"{r['max_rel_error']:.2%}"]
        if seeds:
            m = r.get("rung_mean_rel_error")
            cells.append("-" if m is None else f"{m:.2%}")
        t.add_row(*cells, "-" if r["E"] is None else f"{r['E']:.3g}",
                  f"at a bound: {', '.join(r['at_bound'])}" if r["at_bound"] else "")
    console().print(t)
    swept = rows[0].get("lr_sweep") if rows else None
    if swept:
        typer.echo(f"each size fitted at its best LR: {len(swept)} rungs trained at "
                   f"{max(len(s['lrs']) for s in swept)} LRs, the lowest seed-mean final loss "
                   "kept (as scalefit fit --best-lr does)")
    sc = seed_scatter(st)
    if sc is not None:
        typer.echo(f"seed scatter: one run falls {sc['scatter']:.2%} from its rung's mean "
                   f"(pooled over {sc['rungs']} rungs, {sc['runs']} runs; widest spread in a "
                   f"rung {sc['max_spread']:.2%}): errors below about that are noise")
    else:
        typer.echo("one seed per rung: on cpu-small one run lies about 2.5% from its rung's "
                   "seed mean (docs/ladder.md); --seeds K measures the scatter here and averages "
                   "it down")
    if swept:
        typer.echo(f"next: scalefit fit --store {store} --law chinchilla --metric val/loss "
                   "--holdout size:1 --best-lr")
    else:
        typer.echo(f"next: scalefit fit --store {store} --law chinchilla --metric val/loss "
                   "--holdout size:1")


def _check_choice(value: str, option: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"unknown {option} {value!r}", where=option,
                         hint=f"{', '.join(choices[:-1])} or {choices[-1]}")


def _plan_and_corpus(preset, budget, device, schedule, seeds, lr_mult, max_steps, corpus, offline,
                     rung, **param):
    """The plan to train, sized to the corpus, and the corpus (built first if it is the default).
    ``param``: the parametrisation, base width and LR for :func:`_plan`."""
    from scalefit.ladder.data import resolve_corpus

    # bad options fail first
    _plan(preset, budget, device, schedule, seeds, lr_mult, max_steps, **param)
    c = resolve_corpus(corpus, offline=offline, log=lambda m: _console().print(m))
    # the output layer is sized to the corpus's vocabulary (256 bytes, or a BPE's)
    plan = _plan(preset, budget, device, schedule, seeds, lr_mult, max_steps, c.vocab_size,
                 **param)
    if plan.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError("no CUDA device here", where="--device", hint="use --device cpu")
    if rung:
        plan.rungs = plan.select(rung)
        if not plan.rungs:
            raise UsageError(f"no rung named {rung[0]!r}", where="--rung",
                             hint="list them with `scalefit ladder plan`")
    return plan, c


def _done_lines(plan):
    """A callback that prints one line per finished run to stdout, terminal or not (a piped
    or logged run shows its progress too): name, size, final val loss, seconds, runs done."""
    by = {r.name: r for r in plan.rungs}
    total, done = len(plan.rungs), 0

    def on_done(res: dict) -> None:
        nonlocal done
        for name, v in res["final"].items():
            done += 1
            r = by[name.split("/", 1)[1]]
            loss = "-" if v is None else f"{v:.4f}"
            before = res["skipped"] or name in res.get("done_before", ())
            when = "done before" if before else f"{res['seconds']:.1f} s"
            typer.echo(f"run {done}/{total} {name}: params {r.params:,} tokens {r.tokens:,} "
                       f"val/loss {loss} ({when})")

    return on_done


def _train(plan, corpus, quiet: bool, on_done=None, **kwargs) -> list[dict]:
    """run_plan with a progress bar per group (the first run's name stands for a stacked group)
    and ``on_done`` called with each group's result as it ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scalefit.ladder.pool import run_plan

    tasks: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("val {task.fields[val]}"), TimeElapsedColumn(), console=_console(),
                  disable=quiet) as prog:
        def on_event(ev: dict) -> None:
            key = ev["runs"][0]
            if key not in tasks:
                label = key if len(ev["runs"]) == 1 else f"{key} (+{len(ev['runs']) - 1} stacked)"
                tasks[key] = prog.add_task(label, total=ev["steps"], val="-")
            vals = [v for v in ev["val"] if v == v]  # NaN until a run's first eval
            prog.update(tasks[key], completed=ev["step"],
                        val=" ".join(f"{v:.3f}" for v in vals) if vals else "-")

        return run_plan(plan, corpus=corpus, progress=on_event, on_done=on_done, **kwargs)


def _print_results(plan, results: list[dict], wall: float) -> None:
    """One row per run, smallest model first: its final val loss and training time."""
    from rich.table import Table

    by = {r.name: r for r in plan.rungs}
    t = Table(title=f"ladder {plan.preset}: {len(plan.rungs)} runs in {_fmt_time(wall)}")
    for col in ("run", "params", "tokens", "final val/loss", "seconds"):
        t.add_column(col, justify="left" if col == "run" else "right")
    rows = []
    for res in results:
        for name, v in res["final"].items():
            r = by[name.split("/", 1)[1]]
            rows.append((r.params, name, r.tokens, v, res["seconds"], res["skipped"]))
    for p, name, tok, v, sec, skipped in sorted(rows):
        t.add_row(name, f"{p:,}", f"{tok:,}", "-" if v is None else f"{v:.4f}",
                  "done before" if skipped else f"{sec:.1f}")
    console().print(t)


def _floats(text: str, option: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"cannot read {text!r} as comma-separated numbers", where=option) from None


def _ints(text: str, option: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"cannot read {text!r} as comma-separated integers", where=option) from None


@ladder_app.command("sweep")
def sweep_cmd(
    out: str = typer.Option(..., "--out", help="The sweep JSON to write (`ladder run --lr-from` "
                            "reads it)."),
    widths: str = typer.Option("32", "--widths", help="Comma-separated d_model values; the "
                               "first is the base width unless --base-width says otherwise."),
    lrs: str = typer.Option("1e-3,2e-3,4e-3,8e-3,1.6e-2,3.2e-2", "--lrs",
                            help="Comma-separated peak LRs, increasing."),
    param: str = typer.Option("sp", "--param", help=_PARAM_HELP),
    base_width: int = typer.Option(None, "--base-width", help="μP's base width (default: the "
                                   "first of --widths)."),
    layers: int = typer.Option(2, "--layers", help="Layers of every swept model."),
    head_dim: int = typer.Option(16, "--head-dim", help="Head size (heads = d_model / head size)."),
    steps: int = typer.Option(400, "--steps", help="Optimizer steps per run."),
    batch: int = typer.Option(4, "--batch", help="Sequences per step."),
    seq_len: int = typer.Option(128, "--seq-len", help="Context length."),
    seeds: int = typer.Option(1, "--seeds", help="Seeds per LR (losses averaged)."),
    schedule: str = typer.Option("cosine", "--schedule", help="Schedule template, as for `run`."),
    corpus: str = typer.Option(None, "--corpus", help="A corpus built by `scalefit ladder corpus`."),
    offline: bool = typer.Option(False, "--offline", help="Default corpus from installed sources."),
    figure: str = typer.Option(None, "--figure", help="Loss against LR per width (default: OUT "
                               "with .png)."),
    threads: int = typer.Option(None, "--threads", help="torch threads."),
    beta2: float = typer.Option(None, "--beta2", help="AdamW's second-moment decay of every "
                                f"run (default {BETA2}); `ladder run --lr-from` trains at it."),
) -> None:
    """Sweep the peak LR at small widths; write the best LR (at the base width) and a figure."""
    _need_torch()
    import torch

    from scalefit.ladder.data import resolve_corpus
    from scalefit.ladder.sweep import lr_sweep, plot_sweep, write_sweep

    ws, lr_list = _ints(widths, "--widths"), _floats(lrs, "--lrs")
    if threads:
        torch.set_num_threads(threads)
    c = resolve_corpus(corpus, offline=offline, log=lambda m: _console().print(m))
    sw = lr_sweep(c.train, c.val, widths=ws, lrs=lr_list, param=param, base_width=base_width,
                  n_layer=layers, head_dim=head_dim, seq_len=seq_len, batch_size=batch,
                  steps=steps, schedule=schedule, seeds=seeds, vocab_size=c.vocab_size,
                  beta2=beta2, log=lambda m: _console().print(m))
    sw["corpus_hash"] = c.hash
    path = write_sweep(sw, out)
    fig_path = figure or str(path.with_suffix(".png"))
    fig = plot_sweep(sw)
    fig.savefig(fig_path, dpi=150)
    b2 = f", beta2 {sw['beta2']:g}" if sw["beta2"] != BETA2 else ""
    typer.echo(f"best LR {sw['best_lr']:.4g} at d_model {sw['base_width']} ({param}{b2}); sweep: "
               f"{path}  figure: {fig_path}")
    typer.echo(f"next: scalefit ladder run --preset PRESET --lr-from {path} --store DIR "
               "(a preset whose rungs have the swept depth and head size)")
