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
