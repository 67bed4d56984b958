"""What the hostile-input tests tried, summed over a test session.

The test modules record each generated input (per reader, with its outcome), each injected
fault and each check that nothing was lost; a session-scoped fixture prints the tally once at
the end of the session (visible with ``pytest -s``) and writes it as JSON to the session's
temporary folder. Plain module, not a conftest: the modules import it by name.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

_inputs: dict[str, Counter] = defaultdict(Counter)  # reader -> {"read": n, "refused": n}
_faults: Counter = Counter()  # fault kind -> times injected
_checks: Counter = Counter()  # "store unchanged" and the like -> times verified
_lost: list[str] = []  # any check that found data lost (the tests fail too)
_done = {"printed": False}


def record_input(reader: str, outcome: str) -> None:
    """One generated input given to ``reader``: ``outcome`` is "read" or "refused"."""
    _inputs[reader][outcome] += 1


def record_fault(kind: str, n: int = 1) -> None:
    _faults[kind] += n


def record_check(kind: str, ok: bool = True, detail: str = "") -> None:
    _checks[kind] += 1
    if not ok:
        _lost.append(f"{kind}: {detail}")


def summary() -> dict:
    readers = {r: {"inputs": sum(c.values()), **dict(c)} for r, c in sorted(_inputs.items())}
    return {
        "inputs_per_reader": readers,
        "inputs_total": sum(v["inputs"] for v in readers.values()),
        "faults_injected": dict(sorted(_faults.items())),
        "checks": dict(sorted(_checks.items())),
        "lost": list(_lost),
        "nothing_lost": not _lost,
    }


def report(folder: Path) -> str:
    data = summary()
    path = Path(folder) / "hostile_summary.json"
    path.write_text(json.dumps(data, indent=2))
    lines = ["", "hostile inputs and faults: what was tried"]
    for r, v in data["inputs_per_reader"].items():
        lines.append(f"  reader {r:<12} {v['inputs']:5d} inputs "
                     f"({v.get('read', 0)} read, {v.get('refused', 0)} refused)")
    lines.append(f"  {data['inputs_total']} generated inputs in all")
    for k, n in data["faults_injected"].items():
        lines.append(f"  fault {k}: {n}")
    for k, n in data["checks"].items():
        lines.append(f"  checked {k}: {n}")
    lines.append("  nothing lost" if data["nothing_lost"] else f"  LOST: {data['lost']}")
    lines.append(f"  summary written to {path}")
    return "\n".join(lines)


@pytest.fixture(scope="session", autouse=True)
def hostile_summary(tmp_path_factory):
    """Import into a test module to print the tally once, after the last test of the session."""
    yield
    if _done["printed"] or not (_inputs or _faults or _checks):
        return
    _done["printed"] = True
    print(report(tmp_path_factory.getbasetemp()))
