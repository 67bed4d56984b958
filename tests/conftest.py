"""Fixtures shared by several test modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_olmo_example():
    """examples/olmo_ladder.py as a module, loaded once per test session (it caches its CSV)."""
    name = "scalefit_example_olmo_ladder"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / "olmo_ladder.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules[name] = mod
    return sys.modules[name]


@pytest.fixture(scope="session")
def olmo_example():
    return load_olmo_example()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """A test that runs in its own empty working folder (commands write figures there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def stdlib_tokens():
    """2 MB of the standard library's top-level modules as bytes: real text that does not change
    as this project is edited, and no corpus to build. 90% train, 10% validation (uint8)."""
    import sysconfig

    import numpy as np

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    raw = b"".join(p.read_bytes() for p in sorted(stdlib.glob("*.py")))[:2_000_000]
    if len(raw) < 1_000_000:
        pytest.skip("the standard library's sources are not installed")
    tok = np.frombuffer(raw, dtype=np.uint8)
    cut = int(len(tok) * 0.9)
    return tok[:cut], tok[cut:]


@pytest.fixture
def stdlib_corpus(stdlib_tokens, monkeypatch):
    """The ladder commands' corpus replaced by ``stdlib_tokens``: they run without building one."""
    from scalefit.ladder import data

    class _Corpus:
        vocab_size, hash = 256, "test"

    c = _Corpus()
    c.train, c.val = stdlib_tokens
    monkeypatch.setattr(data, "resolve_corpus", lambda *a, **k: c)
    return c
