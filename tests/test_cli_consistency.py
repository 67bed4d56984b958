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
    from scalefit.curves.laws import CURVE_LAWS

    kinds = law_kinds()
    assert {n for n, k in kinds.items() if k == "curve"} == set(CURVE_LAW_NAMES)
    assert {n for n, k in kinds.items() if k == "joint_curve"} == {f"joint_{n}"
                                                                    for n in CURVE_LAWS}
