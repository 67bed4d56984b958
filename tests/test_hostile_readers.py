"""Hostile input for every reader in ``scalefit.io.FORMATS``.

Random bytes, byte flips, truncations of every sample file, random CSV shapes and encodings,
random JSON records and log lines, huge numbers, NaN/inf and empty runs. The contract checked on
each input: it is either read into a ``LogData`` that validates against the store schema, or
refused with an ``InputError`` whose message names the file; never another exception type. For
refused inputs `scalefit ingest` also fails and leaves the store byte-for-byte unchanged.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import string
from pathlib import Path

import numpy as np
import pytest
from _hostile_log import hostile_summary, record_check, record_fault, record_input  # noqa: F401
from _samples import REGEX, SAMPLE_OF, SAMPLES  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalefit import cli
from scalefit.clean import clean_points
from scalefit.errors import InputError
from scalefit.io import FORMATS, read_logs, sniff
from scalefit.schema import POINT_COLUMNS, validate_points, validate_runs
from scalefit.store import Store

# more files truncated: (reader, sample, main file)
EXTRA_TRUNCATIONS = [
    ("csv", "wide.tsv", None), ("csv", "long.csv", None),
    ("wandb-run", "wandb_run/offline-run-20240101_000000-190M1xC", "files/config.yaml"),
    ("lightning", "lightning/100M-wsd/version_0", "hparams.yaml"),
]
N_CUTS = 24  # truncation points per sample file beyond the first and last bytes

FAST = settings(deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=list(HealthCheck))


def fast(n: int) -> settings:
    """Reproducible, no deadline (2 busy cores), ``n`` examples."""
    return settings(FAST, max_examples=n)


def test_every_reader_has_a_sample():
    assert set(SAMPLE_OF) == set(FORMATS), "add a sample for each new reader"


# ----------------------------------------------------------------------------- the contract
class Work:
    """Copies of the samples in a scratch folder, a store to keep unchanged, and the checks."""

    def __init__(self, root: Path):
        self.root = root
        self.store = root / "store"
        assert cli.run(["ingest", str(SAMPLES / "wide.csv"), "--store", str(self.store)]) == 0
        self.digest = _digest(self.store)
        self.refused = 0

    def copy(self, reader: str, rel: str | None = None, main: str | None = None,
             tag: str = "") -> tuple[Path, Path, bytes]:
        rel0, main0, _ = SAMPLE_OF[reader]
        rel, main = (rel0, main0) if rel is None else (rel, main)
        src = SAMPLES / rel
        dst = self.root / f"{reader}{tag}" / Path(rel).name
        if dst.parent.exists():
            shutil.rmtree(dst.parent)
        dst.parent.mkdir(parents=True)
        if src.is_dir():
            shutil.copytree(src, dst)
            main_file = next(dst.glob(main))
        else:
            shutil.copy(src, dst)
            main_file = dst
        return dst, main_file, main_file.read_bytes()

    def check(self, reader: str, path: Path, named: Path | None = None, *,
              fmt: str | None = None, opts: dict | None = None, cli_every: int = 4) -> str:
        """Read ``path``: a valid LogData or an InputError naming the file. Returns the outcome."""
        opts = dict(SAMPLE_OF[reader][2] if opts is None else opts)
        named = named or path
        try:
            data = read_logs(path, format=fmt, **opts)
        except InputError as exc:
            msg = str(exc)
            assert str(path) in msg or str(named) in msg, f"the message names no file: {msg}"
            assert "\n" not in msg.strip() or len(msg) < 2000
            record_input(reader, "refused")
            self.refused += 1
            if self.refused % cli_every == 1:
                self.ingest_fails(path, fmt, opts)
            return "refused"
        runs = validate_runs(data.runs, where="runs")
        points = validate_points(data.points, where="points")
        assert {c: str(t) for c, t in data.points.dtypes.items()} == POINT_COLUMNS
        assert len(points) == len(data.points) and len(runs) == len(data.runs)
        assert set(points["run"]) <= set(runs["run"])
        assert not points["metric"].isna().any() and not points["run"].isna().any()
        mem = Store()
        mem.ingest(data)
        assert len(mem.points) <= len(points)
        record_input(reader, "read")
        return "read"

    def ingest_fails(self, path: Path, fmt: str | None, opts: dict) -> None:
        argv = ["ingest", str(path), "--store", str(self.store)]
        if fmt:
            argv += ["--format", fmt]
        for k, v in opts.items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        assert cli.run(argv) == 2
        same = _digest(self.store) == self.digest
        record_check("store unchanged after a refused ingest", same, str(path))
        assert same, f"a failed ingest of {path} changed the store"


def _digest(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in sorted(os.listdir(folder)) if not n.startswith(".lock")}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return Work(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(autouse=True)
def _quiet(capsys):
    yield
    capsys.readouterr()  # refused ingests print one error line each


# ----------------------------------------------------------------------------- truncations
def _cuts(n: int) -> list[int]:
    return sorted({*range(min(n, 6)), *range(max(0, n - 6), n),
                   *np.linspace(0, n, N_CUTS + 2, dtype=int)[1:-1].tolist()})


@pytest.mark.parametrize("case", [(r, *SAMPLE_OF[r][:2]) for r in SAMPLE_OF] + EXTRA_TRUNCATIONS,
                         ids=lambda c: f"{c[0]}:{Path(c[1]).name}:{c[2] or ''}")
def test_truncated_at_many_positions(work, case, capsys):
    reader, rel, main = case
    path, main_file, data = work.copy(reader, rel, main, tag="-cut")
    outcomes = []
    for i, cut in enumerate(_cuts(len(data))):
        main_file.write_bytes(data[:cut])
        # the format is given half the time, sniffed otherwise
        outcomes.append(work.check(reader, path, main_file, fmt=reader if i % 2 else None,
                                   cli_every=8))
        capsys.readouterr()
    record_fault("truncated file", len(outcomes))
    main_file.write_bytes(data)
    assert work.check(reader, path, main_file) == "read"  # the whole sample is read
    if main == SAMPLE_OF[reader][1]:  # a cut config file may still be valid YAML
        assert "refused" in outcomes  # cutting the log itself is noticed somewhere


# ----------------------------------------------------------------------------- random bytes
@pytest.mark.parametrize("reader", list(SAMPLE_OF))
def test_random_bytes_and_byte_flips(work, reader, capsys):
    path, main_file, data = work.copy(reader, tag="-bytes")

    @fast(24)
    @given(junk=st.binary(max_size=600), flips=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
        keep=st.integers(0, 10**6), forced=st.booleans())
    def run(junk, flips, keep, forced):
        if flips:  # the sample with a few bytes changed and random bytes inserted
            b = bytearray(data)
            for pos, byte in flips:
                b[pos % len(b)] = byte
            k = keep % (len(b) + 1)
            content = bytes(b[:k]) + junk + bytes(b[k:])
        else:
            content = junk
        main_file.write_bytes(content)
        work.check(reader, path, main_file, fmt=reader if forced else None)
        capsys.readouterr()

    run()
    main_file.write_bytes(data)


# ----------------------------------------------------------------------------- CSV shapes
NAMES = ["step", "_step", "iter", "global_step", "Step", "tokens", "throughput/total_tokens",
         "loss", "train/loss", "val_loss", "lr", "run", "metric", "value", "Model Size",
         "Training FLOP", "params", "N", "D", "C", "190M - loss", "190M - loss__MIN", "epoch",
         "_runtime", "train_loss", "learning_rate"]
HUGE = ["1e308", "1e400", "-1e400", "99999999999999999999999", "9223372036854775808",
        str(10**40), "-9223372036854775809", "1e-400", "4.9e-324"]
SPECIAL = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "null", "None", "", " ", "-0",
           "0x1F", "1,5", "1_000", "TRUE", '"', '""', "1e", "--1", "é", "中文", "\x00"]
cell = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(HUGE + SPECIAL),
    st.text(string.ascii_letters + string.digits + " .-_,;\"'\t\u00e9\u4e2d", max_size=6),
)


@st.composite
def csv_files(draw):
    ncol = draw(st.integers(1, 6))
    header = draw(st.lists(st.one_of(st.sampled_from(NAMES), st.text(max_size=8)),
                           min_size=ncol, max_size=ncol))
    rows = draw(st.lists(st.lists(cell, min_size=max(0, ncol - 1), max_size=ncol + 1),
                         max_size=12))
    sep = draw(st.sampled_from([",", "\t", ";"]))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    quote = draw(st.booleans())

    def line(cells):
        if quote:
            cells = ['"' + c.replace('"', '""') + '"' for c in cells]
        return sep.join(cells)

    text = nl.join(line(r) for r in [header, *rows]) + (nl if draw(st.booleans()) else "")
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    suffix = draw(st.sampled_from([".csv", ".tsv", ".txt"]))
    return text.encode(enc, errors="replace"), suffix, enc


@given(f=csv_files(), fmt=st.sampled_from([None, "csv", "final", "wandb", "wandb-panel",
                                           "lightning"]))
@pytest.mark.slow
@fast(200)
def test_random_csv_shapes_and_encodings(work, f, fmt):
    content, suffix, enc = f
    folder = work.root / "csvs"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    path = folder / f"metrics{suffix}"  # a one-file folder: "metrics.csv" alone is no Lightning log
    path.write_bytes(content)
    reader = fmt or _sniffed(path)
    work.check(reader, path, fmt=fmt, opts={})
    record_fault(f"random CSV in {enc}")


def _sniffed(path: Path) -> str:
    try:
        return sniff(path)
    except InputError:
        return "sniff"


# ----------------------------------------------------------------------------- JSON records
KEYS = ["step", "_step", "global_step", "iter", "loss", "train/loss", "eval_loss", "lr",
        "learning_rate", "tokens", "epoch", "train", "eval", "run", "metric", "value"]
scalar = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6),
                   st.integers(min_value=2**62, max_value=10**30),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5),
                   st.sampled_from([10**400, -(10**400)]))
jvalue = st.recursive(scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=6)
record = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), jvalue, max_size=5)


@given(records=st.lists(st.one_of(record, jvalue), max_size=10), shape=st.sampled_from(
    ["lines", "array", "hf", "wandb-summary"]), forced=st.booleans())
@pytest.mark.slow
@fast(150)
def test_random_json_records(work, records, shape, forced):
    folder = work.root / "json"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    dump = lambda x: json.dumps(x, allow_nan=True)  # noqa: E731 (NaN/Infinity as Python writes them)
    if shape == "lines":
        path = main = folder / "log.jsonl"
        path.write_text("".join(dump(r) + "\n" for r in records))
        reader = "jsonl"
    elif shape == "array":
        path = main = folder / "log.json"
        path.write_text(dump(records))
        reader = "jsonl"
    elif shape == "hf":
        path, main = folder, folder / "trainer_state.json"
        main.write_text(dump({"log_history": records, "global_step": 10}))
        reader = "hf"
    else:
        path = folder / "run-1"
        main = path / "files" / "wandb-summary.json"
        main.parent.mkdir(parents=True)
        main.write_text(dump(records[0] if records else {}))
        (main.parent / "config.yaml").write_text(
            "n_layer:\n  value: 4\nd_model:\n  value: " + dump(records[-1] if records else 1))
        reader = "wandb-run"
    work.check(reader, path, main, fmt=reader if forced else None, opts={})
    record_fault(f"random JSON ({shape})")


# ----------------------------------------------------------------------------- log lines
num = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                st.integers(-3, 10**9).map(str), st.sampled_from(HUGE + ["nan", "inf", "x"]))
log_line = st.one_of(
    st.builds("iter {}: loss {}, time {}ms".format, num, num, num),
    st.builds("step {}: train loss {}, val loss {}".format, num, num, num),
    st.builds(" iteration {}/ {} | lm loss: {} | learning rate: {} |".format, num, num, num, num),
    st.builds("validation loss at iteration {} | lm loss value: {} |".format, num, num),
    st.builds("step={} lr={} loss={}".format, num, num, num),
    st.text(max_size=30),
)


@given(lines=st.lists(log_line, max_size=12), end=st.booleans(),
       reader=st.sampled_from(["nanogpt", "megatron", "regex"]), forced=st.booleans())
@pytest.mark.slow
@fast(150)
def test_random_stdout_logs(work, lines, end, reader, forced):
    path = work.root / "train.log"
    path.write_text("\n".join(lines) + ("\n" if end else ""), encoding="utf-8",
                    errors="surrogatepass")
    opts = {"regex": REGEX} if reader == "regex" else {}
    work.check(reader if forced or reader == "regex" else _sniffed(path), path,
               fmt=reader if forced else None, opts=opts)
    record_fault("random log lines")


# ----------------------------------------------------------------------------- MLflow
mlflow_line = st.one_of(
    st.builds("{} {} {}".format, st.integers(0, 2**41), num, st.integers(-5, 10**6)),
    st.builds("{} {} {}".format, num, num, num), st.text(max_size=12))


@given(lines=st.lists(mlflow_line, max_size=8), end=st.booleans())
@fast(40)
def test_random_mlflow_metric_files(work, lines, end):
    path, main, _ = work.copy("mlflow", tag="-rand")
    main.write_text("\n".join(lines) + ("\n" if end else ""))
    work.check("mlflow", path, main, fmt="mlflow" if end else None)
    record_fault("random MLflow metric lines")


# ----------------------------------------------------------------------------- TensorBoard
def test_tensorboard_nan_inf_and_huge_scalars(work):
    tb = pytest.importorskip("torch.utils.tensorboard")
    folder = work.root / "tb-values"
    shutil.rmtree(folder, ignore_errors=True)
    w = tb.SummaryWriter(str(folder))
    vals = [3.0, float("nan"), float("inf"), -float("inf"), 1e38, 2.5]
    for i, v in enumerate(vals):
        w.add_scalar("train/loss", v, global_step=i * 10)
    w.close()
    assert work.check("tensorboard", folder) == "read"
    d = read_logs(folder)
    v = d.points.loc[d.points["metric"] == "train/loss", "value"].to_numpy()
    np.testing.assert_allclose(v[[0, 4, 5]], [3.0, 1e38, 2.5], rtol=1e-6)
    assert np.isnan(v[1]) and v[2] == np.inf and v[3] == -np.inf  # logged values are kept


# ----------------------------------------------------------------------------- NaN, inf, huge
def test_nan_inf_values_are_kept_and_cleaned_with_counts(work):
    path = work.root / "naninf.csv"
    path.write_text("step,loss,lr\n1,4.0,1e-3\n2,nan,1e-3\n3,inf,1e-3\n4,-inf,1e-3\n"
                    "5,1e400,1e-3\n6,3.0,\n")
    assert work.check("csv", path) == "read"
    d = read_logs(path)
    loss = d.points[d.points["metric"] == "loss"].sort_values("step")
    v = loss["value"].to_numpy()
    assert v[0] == 4.0 and np.isnan(v[1]) and v[2] == np.inf and v[3] == -np.inf
    assert v[4] == np.inf and v[5] == 3.0  # 1e400 overflows to inf, as a float does
    cleaned, rep = clean_points(d.points[d.points["metric"] == "loss"])
    assert rep.dropped_nonfinite == 4
    assert cleaned["value"].tolist() == [4.0, 3.0]


@pytest.mark.parametrize("step", ["99999999999999999999999", "1e23", "9223372036854775808",
                                  "inf", "1.5"])
def test_impossible_steps_are_refused_naming_file_and_column(work, step, capsys):
    for name, text in [("w.csv", f"step,loss\n1,3.0\n{step},2.0\n"),
                       ("l.jsonl", f'{{"step": 1, "loss": 3.0}}\n{{"step": {step}, "loss": 2}}\n'),
                       ("n.log", f"iter 1: loss 3.0\niter {step}: loss 2.0\n")]:
        if name == "n.log" and not step.isdigit():
            continue  # nanoGPT's pattern reads integer steps only: such a line is no match
        path = work.root / name
        path.write_text(text.replace(": inf,", ": Infinity,"))
        with pytest.raises(InputError) as exc:
            read_logs(path)
        assert str(path) in str(exc.value)
        assert "step" in str(exc.value)
        work.ingest_fails(path, None, {})
        record_fault("impossible step")


def test_huge_but_finite_numbers_are_read_exactly(work):
    path = work.root / "huge.csv"
    path.write_text("step,tokens,loss\n1,1e300,3.0\n9007199254740992,1e301,2.0\n")
    assert work.check("csv", path) == "read"
    d = read_logs(path)
    assert d.points["step"].max() == 2**53
    np.testing.assert_allclose(sorted(d.points["tokens"].unique()), [1e300, 1e301])


# ----------------------------------------------------------------------------- empty runs
EMPTY = {
    "csv-header-only": ("e.csv", "step,loss\n", "csv"),
    "long-no-rows": ("e.csv", "run,step,metric,value\n", "csv"),
    "csv-empty-cells": ("e.csv", "step,loss\n1,\n2,\n", "csv"),
    "final-header-only": ("e.csv", "Model Size,Training FLOP,loss\n", "final"),
    "wandb-no-rows": ("e.csv", "_step,train/loss,_runtime\n", "wandb"),
    "panel-step-only": ("e.csv", "Step\n1\n2\n", "wandb-panel"),
    "jsonl-empty-objects": ("e.jsonl", "{}\n{}\n", "jsonl"),
    "jsonl-step-only": ("e.jsonl", '{"step": 1}\n{"step": 2}\n', "jsonl"),
    "jsonl-empty-array": ("e.json", "[]", "jsonl"),
    "hf-empty-history": ("trainer_state.json", '{"log_history": []}', "hf"),
    "nanogpt-no-lines": ("e.log", "starting\nno iterations\n", "nanogpt"),
    "megatron-no-lines": ("e.log", "building model\n", "megatron"),
    "regex-no-lines": ("e.log", "nothing here\n", "regex"),
    "lightning-header-only": ("metrics.csv", "epoch,step,train_loss\n", "lightning"),
}


@pytest.mark.parametrize("case", list(EMPTY))
def test_empty_runs_are_refused_naming_the_file(work, case):
    name, text, reader = EMPTY[case]
    folder = work.root / f"empty-{case}"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    opts = {"regex": REGEX} if reader == "regex" else {}
    assert work.check(reader, path, fmt=reader, opts=opts, cli_every=1) == "refused"
    record_fault("empty run")


def test_empty_mlflow_run_and_tensorboard_folder(work):
    path, main, _ = work.copy("mlflow", tag="-empty")
    for f in main.parent.parent.rglob("*"):
        if f.is_file():
            f.unlink()
    assert work.check("mlflow", path, fmt="mlflow", cli_every=1) == "refused"
    tb = work.root / "tb-empty"
    tb.mkdir(exist_ok=True)
    (tb / "events.out.tfevents.1.host").write_bytes(b"")
    assert work.check("tensorboard", tb, fmt="tensorboard", cli_every=1) == "refused"
    record_fault("empty run", 2)


def test_unreadable_inputs(work):
    """A folder with no logs, a dangling link and a name that is a folder, each named."""
    empty = work.root / "no-logs"
    empty.mkdir(exist_ok=True)
    (empty / "README.md").write_text("notes")
    link = work.root / "dangling.csv"
    if not link.is_symlink():
        link.symlink_to(work.root / "missing.csv")
    for p in (empty, link):
        with pytest.raises(InputError) as exc:
            read_logs(p)
        assert str(p) in str(exc.value)
        work.ingest_fails(p, None, {})
    record_fault("unreadable path", 2)


# ----------------------------------------------------------------------------- safety
PACKAGE = Path(__file__).resolve().parents[1] / "scalefit"
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve",
                  "marshal"}


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                yield f.value.id, f.attr, node
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute):
                yield f.value.attr, f.attr, node


def _kw(node, name):
    return next((k.value for k in node.keywords if k.arg == name), None)


def _unsafe_uses(source: str) -> list[str]:
    """Unpickling, unsafe YAML and torch.load without weights_only=True in Python source."""
    tree = ast.parse(source)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNSAFE_MODULES:
                bad.append(f"from {node.module} import ...")
            if node.module.split(".")[0] in ("torch", "yaml") and any(
                    a.name in ("load", "unsafe_load", "full_load", "load_all") for a in node.names):
                bad.append(f"from {node.module} import load")
    for mod, attr, node in _calls(tree):
        line = f"line {node.lineno}: {mod}.{attr}(...)"
        if mod == "torch" and attr == "load":
            wo = _kw(node, "weights_only")
            if not (isinstance(wo, ast.Constant) and wo.value is True):
                bad.append(line + " without weights_only=True")
        elif mod == "yaml" and attr in ("load", "load_all", "unsafe_load", "full_load",
                                        "unsafe_load_all", "full_load_all"):
            bad.append(line + " (use yaml.safe_load)")
        elif mod in ("np", "numpy") and attr == "load":
            ap = _kw(node, "allow_pickle")
            if ap is not None and not (isinstance(ap, ast.Constant) and ap.value is False):
                bad.append(line + " with allow_pickle")
        elif mod in ("pd", "pandas") and attr == "read_pickle":
            bad.append(line)
    return bad


def test_the_safety_check_catches_unsafe_code():
    src = ("import pickle\nimport torch, yaml, numpy as np, pandas as pd\n"
           "torch.load(p)\ntorch.load(p, weights_only=False)\ntorch.load(p, weights_only=True)\n"
           "yaml.load(t, Loader=yaml.Loader)\nyaml.safe_load(t)\nnp.load(f, allow_pickle=True)\n"
           "np.load(f)\npd.read_pickle(f)\n")
    found = _unsafe_uses(src)
    assert len(found) == 6, found


def test_no_pickle_unsafe_yaml_or_unchecked_torch_load_in_the_package():
    bad = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        hits = _unsafe_uses(f.read_text(encoding="utf-8"))
        if hits:
            bad[str(f.relative_to(PACKAGE.parent))] = hits
    for _ in PACKAGE.rglob("*.py"):
        record_check("source files free of unpickling and unsafe loading")
    assert not bad, f"unsafe loading of user files: {bad}"
