"""The command line agrees with itself: every law of every kind is known by name, and options
mean the same on every command."""

from __future__ import annotations

import json

import pytest

from scalefit.cli import run
from scalefit.laws import get_law, list_laws
from scalefit.laws.base import law_kind, law_kinds

CURVE = ["multi_power", "lr_annealing", "ensemble"]
JOINT = ["joint_multi_power", "joint_lr_annealing"]


@pytest.mark.parametrize("name", CURVE + JOINT)
def test_get_law_builds_curve_and_joint_laws(name):
    law = get_law(name)
    assert law.name == name
    assert law_kind(name) == ("joint_curve" if name.startswith("joint_") else "curve")
    assert len(law.param_names) >= 5


def test_get_law_passes_options_to_joint_laws():
    law = get_law("joint_multi_power:scaled=L0;A,N_ref=1e9")
    assert law.scaled == ("L0", "A") and law.N_ref == pytest.approx(1e9, rel=1e-12)


def test_every_kind_is_known_and_final_registry_stays_final():
    kinds = law_kinds()
    assert {kinds[n] for n in kinds} == {"final", "curve", "joint_curve", "loss_to_loss",
                                         "task"}
    assert kinds["chinchilla"] == "final" and kinds["task_sigmoid"] == "task"
    assert kinds["loss_to_loss"] == "loss_to_loss"
    # the final-loss registry (what the law conformance suite iterates) holds Law classes only
    assert not set(CURVE + JOINT) & set(list_laws())


def test_laws_lists_every_kind_grouped(capsys):
    assert run(["laws"]) == 0
    out = capsys.readouterr().out
    heads = ["final-loss laws", "loss-curve laws", "joint loss-curve laws", "loss-to-loss laws",
             "task laws"]
    pos = [out.index(h) for h in heads]
    assert pos == sorted(pos)
    for name in JOINT:
        assert pos[2] < out.index(name) < pos[3]
    assert pos[0] < out.index("chinchilla") < pos[1]


def test_laws_json_gives_each_kind(capsys):
    assert run(["laws", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["joint_multi_power"]["kind"] == "joint_curve"
    assert rows["multi_power"]["kind"] == "curve"
    assert rows["chinchilla"]["kind"] == "final"
    assert rows["task_sigmoid"]["kind"] == "task"
    assert "L0_exp" in [p["name"] for p in rows["joint_multi_power"]["params"]]


def test_fit_routes_joint_law_to_the_curve_fit(monkeypatch):
    from scalefit.cli import curves as cli_curves

    seen = {}
    monkeypatch.setattr(cli_curves, "fit_curves", lambda **kw: seen.update(kw))
    assert run(["fit", "a.csv", "b.csv", "--law", "joint_multi_power", "--n", "25M",
                "--n", "100M"]) == 0
    assert seen["law"] == "joint_multi_power"
    assert seen["N"] == pytest.approx([25e6, 100e6], rel=1e-12)


def test_curve_names_in_step_with_the_curve_package():
    from scalefit.curves import CURVE_LAW_NAMES
    from scalefit.laws.curve import CURVE_LAWS

    kinds = law_kinds()
    assert {n for n, k in kinds.items() if k == "curve"} == set(CURVE_LAW_NAMES)
    assert {n for n, k in kinds.items() if k == "joint_curve"} == {f"joint_{n}"
                                                                    for n in CURVE_LAWS}


# ---------------------------------------------------------------------- options
import ast  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import typer.main  # noqa: E402

from scalefit.cli import app  # noqa: E402

CLI = Path(__file__).resolve().parents[1] / "scalefit" / "cli"
# report.py and plot.py keep their own conventions for now
MODULES = [p for p in sorted(CLI.glob("*.py")) if p.name not in ("report.py", "plot.py")]
ROOT_OPTIONS = {"--debug", "--help"}
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _leaf_commands() -> dict:
    """Command name -> click command; subcommands as ``"ladder plan"`` (``scalefit plan`` is
    another command)."""
    out = {}
    for name, cmd in typer.main.get_command(app).commands.items():
        subs = getattr(cmd, "commands", None)
        out.update({f"{name} {k}": c for k, c in subs.items()} if subs else {name: cmd})
    return out


def _commands() -> dict[str, set[str]]:
    return {name: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            for name, cmd in _leaf_commands().items()}


def _strings(fn: ast.FunctionDef) -> list[str]:
    """String literals of a function body (f-strings joined), its docstring left out."""
    body = fn.body[1:] if ast.get_docstring(fn) else fn.body
    out: list[str] = []

    def visit(node):
        if isinstance(node, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) else "{}"
                               for v in node.values))
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in body:
        visit(stmt)
    return out


def _functions():
    """name -> (FunctionDef, command name or None) over the CLI modules."""
    fns = {}
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                cmd = None
                for d in node.decorator_list:
                    if (isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "command"
                            and d.args and isinstance(d.args[0], ast.Constant)):
                        cmd = d.args[0].value
                        group = getattr(d.func.value, "id", "app")
                        if group != "app":  # a subcommand: ladder_app -> "ladder plan"
                            cmd = f"{group.removesuffix('_app')} {cmd}"
                fns[f"{path.stem}.{node.name}"] = (node, cmd)
    return fns


def _callers(fns) -> dict[str, set[str]]:
    """function -> the commands that reach it through calls inside the CLI modules."""
    by_name: dict[str, list[str]] = {}
    for key in fns:
        by_name.setdefault(key.split(".")[1], []).append(key)
    # commands are not call targets: `st.ingest(...)` is the store's method, not the command
    calls = {key: {k for n in ast.walk(fn) if isinstance(n, ast.Call)
                   for k in by_name.get(getattr(n.func, "id", getattr(n.func, "attr", "")), [])
                   if fns[k][1] is None}
             for key, (fn, _) in fns.items()}
    reach: dict[str, set[str]] = {key: set() for key in fns}
    for key, (_, cmd) in fns.items():
        if cmd is None:
            continue
        todo, seen = [key], set()
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            reach[k].add(cmd)
            todo.extend(calls[k])
    return reach


def _hint_violations() -> list[str]:
    commands = _commands()
    fns = _functions()
    reach = _callers(fns)
    bad = []
    for key, (fn, _) in fns.items():
        for text in _strings(fn):
            # "scalefit CMD ... --opt" names CMD's options; the rest are the printing command's
            chunks = re.split(r"scalefit (?=[a-z])", text)
            for i, chunk in enumerate(chunks):
                if i == 0:
                    owners = reach[key]
                else:
                    word = chunk.split()[0] if chunk.split() else ""
                    owners = {word} if word in commands else set()
                # a pip command quoted in a hint has pip's options, not scalefit's
                for opt in OPTION.findall(chunk.split("pip install")[0]):
                    for cmd in owners:
                        if opt not in commands[cmd] | ROOT_OPTIONS:
                            bad.append(f"{key}: {opt!r} is no option of `scalefit {cmd}`: "
                                       f"{text!r}")
    return bad


def test_hints_name_options_of_the_command_that_prints_them():
    assert _hint_violations() == []


def test_hint_check_finds_a_missing_option():
    # the check above can fail: compare has --tie but no --fix
    assert "--fix" not in _commands()["compare"] and "--tie" in _commands()["compare"]
    assert "--bootstrap" in _commands()["fit"]


def test_one_spelling_of_bootstrap():
    for name, opts in _commands().items():
        assert "--boot" not in opts, name
    for name in ("fit", "isoflop", "tasks"):
        assert {"--bootstrap", "-b"} <= _commands()[name], name


PRINT_JSON = {"predict", "laws", "compare", "ingest", "runs", "schedule-search", "ladder plan"}
WRITE_JSON = {"fit", "isoflop", "tasks", "plan", "watch"}


def test_json_is_a_flag_to_print_or_a_file_to_write():
    for name, cmd in _leaf_commands().items():
        if name in ("report", "plot"):
            continue
        (param,) = [p for p in cmd.params if "--json" in p.opts] or [None]
        if param is None:
            continue
        if param.is_flag:
            assert name in PRINT_JSON, name
            assert "print" in param.help.lower(), name
        else:
            assert name in WRITE_JSON, name
            assert param.help.lower().startswith("write"), name
            assert param.metavar == "FILE", name


def test_tasks_bootstrap_option_is_applied(tmp_path, monkeypatch):
    import scalefit.tasks

    seen = {}

    def fake(store, name, targets, **kw):
        seen.update(kw)
        raise SystemExit(0)

    monkeypatch.setattr(scalefit.tasks, "predict_task", fake)
    monkeypatch.setattr("scalefit.store.Store", lambda *a, **k: None)
    with pytest.raises(SystemExit):
        run(["tasks", "--store", str(tmp_path), "--task", "t", "--target", "N=1e9,D=1e10",
             "--bootstrap", "7"])
    assert seen["n_boot"] == 7


def test_tasks_json_writes_a_file_like_the_other_artefacts(tmp_path, monkeypatch, capsys):
    import scalefit.tasks

    class Fake:
        def __init__(self, n_boot):
            self.n_boot = n_boot

        def to_dict(self):
            return {"n_boot": self.n_boot}

        def __str__(self):
            return "fake prediction"

    monkeypatch.setattr(scalefit.tasks, "predict_task",
                        lambda store, name, targets, **kw: Fake(kw["n_boot"]))
    monkeypatch.setattr("scalefit.store.Store", lambda *a, **k: None)
    out = tmp_path / "sub" / "pred.json"
    assert run(["tasks", "--store", str(tmp_path), "--task", "t", "--target", "N=1e9,D=1e10",
                "-b", "3", "--json", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert json.loads(out.read_text()) == [{"n_boot": 3}]
    assert run(["tasks", "--store", str(tmp_path), "--task", "t", "--target", "N=1e9,D=1e10",
                "--bootstrap=-1"]) == 2
    assert "--bootstrap must be >= 0" in capsys.readouterr().err
