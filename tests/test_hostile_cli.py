"""Every CLI command with broken input: one line on stderr starting with "error:", a non-zero
exit, no traceback, and the store unchanged; ``--debug`` shows the traceback instead."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from _hostile_log import hostile_summary, record_check, record_fault  # noqa: F401

from scalefit import cli
from scalefit.errors import ScalefitError

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command registered now (new ones are covered as they land)."""
    out = []

    def walk(cmd, prefix):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, (*prefix, name))
        elif prefix:
            out.append(prefix)

    walk(typer.main.get_command(cli.app), ())
    return sorted(out)


COMMANDS = _command_paths()

# broken input per command: STORE is a good store (must stay unchanged), CORRUPT a damaged one,
# NOSTORE a missing one, BAD a CSV with a word in the loss column, EMPTY an empty file,
# BADJSON a file that is not JSON, NOFIT a JSON file that is no fit artefact
CASES = {
    "ingest": ["ingest /nope --store STORE", "ingest EMPTY --store STORE",
               "ingest BAD --store STORE", "ingest WIDE --store CORRUPT",
               "ingest WIDE --store STORE --format nosuch", "ingest WIDE --store STORE --params abc",
               "ingest WIDE --store STORE --step-col nosuch", "ingest --store STORE"],
    "runs": ["runs --store NOSTORE", "runs --store CORRUPT", "runs --store EMPTY"],
    "fit": ["fit /nope", "fit EMPTY --no-plot --bootstrap 0", "fit BAD --no-plot --bootstrap 0",
            "fit --store CORRUPT --no-plot", "fit --store NOSTORE --no-plot",
            "fit WIDE --law nosuch", "fit WIDE --predict N= --no-plot",
            "fit WIDE --bootstrap -1", "fit WIDE --bootstrap abc",
            "fit --store STORE --no-plot --bootstrap 0", "fit",
            "fit BAD --law multi_power --no-plot", "fit WIDE --law multi_power:bogus=1 --no-plot"],
    "predict": ["predict /nope --at N=1", "predict BADJSON --at N=1", "predict NOFIT --at N=1",
                "predict WIDE --at N=1"],
    "laws": ["laws --bogus"],
    "compare": ["compare --store CORRUPT --law chinchilla", "compare --law chinchilla",
                "compare /nope --law chinchilla", "compare WIDE --law nosuch"],
    "plot": ["plot /nope --out OUT.png", "plot BADJSON --out OUT.png", "plot NOFIT --out OUT.png"],
    "report": ["report --store NOSTORE", "report --store CORRUPT",
               "report --store STORE --fit /nope --out OUT.html",
               "report --store STORE --fit BADJSON --out OUT.html",
               "report --store STORE --law nosuch --out OUT.html"],
    "schedule-search": ["schedule-search /nope --steps 100", "schedule-search BADJSON --steps 100",
                        "schedule-search NOFIT --steps 100"],
    "ladder": ["ladder plan", "ladder run --store STORE"],
    "isoflop": ["isoflop /nope --no-plot", "isoflop EMPTY --no-plot", "isoflop BAD --no-plot",
                "isoflop --store CORRUPT --no-plot", "isoflop --store NOSTORE --no-plot",
                "isoflop WIDE --no-plot", "isoflop WIDE --method nosuch",
                "isoflop WIDE --store STORE --no-plot", "isoflop"],
    "plan": ["plan", "plan --budget abc", "plan --budget 1e21 --fit /nope",
             "plan --budget 1e21 --fit BADJSON", "plan --budget 1e21 --fit NOFIT",
             "plan --budget 1e21 --fit WIDE", "plan --budget 1e21 --curve-fit NOFIT",
             "plan --budget 1e21 --lr-fit BADJSON", "plan --budget 1e21 --unique-tokens -1",
             "plan --budget 1e21 --target-loss 0.5", "plan --budget 1e21 --schedule nosuch"],
    "tasks": ["tasks --store NOSTORE --task t --target N=1e9,D=2e10",
              "tasks --store CORRUPT --task t --target N=1e9,D=2e10",
              "tasks --store STORE --task t --target N=1e9", "tasks --store STORE --task t --target x"],
    # (an empty log is a run that has not logged yet: watch waits for it, by design)
    "watch": ["watch /nope --schedule cosine:peak=3e-4,steps=1000 --once",
              "watch BAD --schedule cosine:peak=3e-4,steps=1000 --once",
              "watch WIDE --schedule nosuch --once",
              "watch WIDE --schedule cosine:peak=3e-4,steps=1000 --once --law nosuch",
              "watch WIDE --schedule cosine:peak=3e-4,steps=1000 --once --level 2",
              "watch WIDE --schedule cosine:peak=3e-4,steps=1000 --once --fail-above abc"],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-cli")
    f = {"WIDE": SAMPLES / "wide.csv", "STORE": root / "store", "CORRUPT": root / "corrupt",
         "NOSTORE": root / "nostore", "BAD": root / "bad.csv", "EMPTY": root / "empty.csv",
         "BADJSON": root / "bad.json", "NOFIT": root / "nofit.json", "OUT": root / "out"}
    f["BAD"].write_text("step,loss\n1,abc\n2,3.0\n")
    f["EMPTY"].write_bytes(b"")
    f["BADJSON"].write_text("{not json")
    f["NOFIT"].write_text('{"law": "nosuch"}')
    assert cli.run(["ingest", str(f["WIDE"]), "--store", str(f["STORE"])]) == 0
    f["CORRUPT"].mkdir()
    (f["CORRUPT"] / "manifest.json").write_text("garbage")
    return f


def _digest(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest()
            for n in sorted(os.listdir(folder)) if not n.startswith(".lock")}


def _argv(case: str, files: dict) -> list[str]:
    return [str(files.get(t, t)) if t in files else
            (str(files["OUT"]) + t[3:] if t.startswith("OUT.") else t) for t in case.split()]


def _expect_one_error_line(argv: list[str], files: dict, capsys) -> str:
    before = _digest(files["STORE"]), _digest(files["CORRUPT"])
    capsys.readouterr()
    rc = cli.run(argv)
    out = capsys.readouterr()
    err = out.err
    assert rc != 0, f"{argv}: exit 0 on broken input; stdout: {out.out[:300]}"
    assert err.startswith("error: ") and err.count("\n") == 1, f"{argv}: stderr {err!r}"
    assert "Traceback" not in err + out.out
    assert not err.startswith("error: internal error"), f"{argv}: a bug, not a clear message: {err}"
    same = (_digest(files["STORE"]), _digest(files["CORRUPT"])) == before
    record_check("store unchanged after a failed command", same, " ".join(argv))
    assert same, f"{argv} changed a store"
    assert not files["NOSTORE"].exists()
    return err


ALL_CASES = [(cmd, case) for cmd, cases in CASES.items() for case in cases]


@pytest.mark.parametrize("cmd,case", ALL_CASES, ids=[c for _, c in ALL_CASES])
def test_broken_input_gives_one_error_line(files, cmd, case, capsys):
    if not any(path[0] == cmd for path in COMMANDS):
        pytest.skip(f"no `{cmd}` command in this installation")
    _expect_one_error_line(_argv(case, files), files, capsys)
    record_fault(f"broken CLI input: {cmd}")


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_refuses_an_unknown_option_in_one_line(files, path, capsys):
    err = _expect_one_error_line([*path, "--no-such-option"], files, capsys)
    assert "--no-such-option" in err and "--help" in err
    record_fault("unknown option")


def test_every_top_level_command_has_broken_input_cases():
    missing = sorted({p[0] for p in COMMANDS} - set(CASES))
    assert not missing, f"add broken-input cases to CASES for {missing}"


def test_messages_with_line_breaks_stay_on_one_line(tmp_path, files, capsys):
    odd = tmp_path / "two\nlines.csv"
    odd.write_text("step,loss\n1,abc\n2,3.0\n")
    err = _expect_one_error_line(["ingest", str(odd), "--store", str(files["STORE"])], files, capsys)
    assert "abc" in err


@pytest.mark.slow
def test_debug_shows_the_traceback(files, capsys):
    for argv in (["--debug", "ingest", "/nope", "--store", str(files["STORE"])],
                 ["ingest", "/nope", "--store", str(files["STORE"]), "--debug"]):
        with pytest.raises(ScalefitError):
            cli.run(argv)
    p = subprocess.run([sys.executable, "-m", "scalefit", "runs", "--store", str(files["CORRUPT"]),
                        "--debug"], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "Traceback" in p.stderr and "StoreError" in p.stderr
    p = subprocess.run([sys.executable, "-m", "scalefit", "runs", "--store", str(files["CORRUPT"])],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.startswith("error: ") and p.stderr.count("\n") == 1
    assert "Traceback" not in p.stderr
    record_fault("--debug traceback", 3)


def test_an_unexpected_failure_is_one_line_too(files, capsys, monkeypatch):
    """A bug (any non-scalefit exception) still prints one line, and --debug re-raises it."""
    import scalefit.io as sio

    def boom(*a, **k):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(sio, "read_logs", boom)
    capsys.readouterr()
    assert cli.run(["ingest", str(files["WIDE"]), "--store", str(files["STORE"])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: internal error") and err.count("\n") == 1
    assert "--debug" in err and "ZeroDivisionError" in err
    with pytest.raises(ZeroDivisionError):
        cli.run(["--debug", "ingest", str(files["WIDE"]), "--store", str(files["STORE"])])
    record_fault("simulated bug in a command")
