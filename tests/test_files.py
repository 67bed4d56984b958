"""Atomic writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import stat

import pytest

from scalefit.files import atomic_path, atomic_write_bytes, atomic_write_text


def test_write_replaces_and_leaves_no_temporary(tmp_path) -> None:
    p = tmp_path / "sub" / "out.json"
    atomic_write_text(p, "old")
    atomic_write_text(p, "new ü")
    assert p.read_text(encoding="utf-8") == "new ü"
    assert sorted(x.name for x in p.parent.iterdir()) == ["out.json"]


def test_failed_write_keeps_the_old_file(tmp_path) -> None:
    p = tmp_path / "fig.png"
    atomic_write_bytes(p, b"complete")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(p) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert p.read_bytes() == b"complete"
    assert [x.name for x in tmp_path.iterdir()] == ["fig.png"]


def test_mode_is_that_of_a_new_file(tmp_path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    p = atomic_write_bytes(tmp_path / "a.bin", b"x")
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def test_two_writers_get_different_temporaries(tmp_path) -> None:
    p = tmp_path / "same.txt"
    with atomic_path(p) as a, atomic_path(p) as b:
        assert a != b and a.parent == b.parent == tmp_path
        a.write_text("a")
        b.write_text("b")
    assert p.read_text() == "a"  # the outer block ends last and wins
