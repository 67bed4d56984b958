"""The model zoo: every law registers itself on import.

>>> from scalefit.laws import get_law
>>> get_law("chinchilla").param_names
['E', 'A', 'B', 'alpha', 'beta']

Every kind of law (final-loss, loss-curve, joint loss-curve, loss-to-loss, task) is built by
:func:`get_law` with one option syntax, ``get_law("kaplan:x=C")`` or ``get_law("kaplan", x="C")``,
and listed by :func:`available` grouped by kind. :mod:`scalefit.laws.testing` checks a law
(one of these or your own) with :func:`~scalefit.laws.testing.check_law`.
"""

from scalefit.laws import (  # noqa: F401  (each module registers its laws)
    bnsl,
    chinchilla,
    data_constrained,
    kaplan,
    loss_to_loss,
    moe,
    nmt,
    overtrain,
    power,
    steplaw,
    task_sigmoid,
)
from scalefit.laws.base import (
    KINDS,
    Input,
    Law,
    Param,
    available,
    get_law,
    law_kind,
    law_kinds,
    list_laws,
    register,
    register_kind,
)


def _curve_law_factory(name: str):
    def build(**options):
        # deferred: the curve kernels (and scipy.signal) load only when a curve law is built
        from scalefit.laws.curve import get_curve_law

        return get_curve_law(name, **options)

    return build


# the loss-curve laws, so that get_law and `scalefit laws` know every law by name (kept in step
# with scalefit.curves.CURVE_LAW_NAMES by tests/test_cli_consistency.py)
for _name in ("multi_power", "lr_annealing", "ensemble"):
    register_kind(_name, "curve", _curve_law_factory(_name))
for _name in ("multi_power", "lr_annealing"):
    register_kind(f"joint_{_name}", "joint_curve", _curve_law_factory(f"joint_{_name}"))
del _name

__all__ = ["KINDS", "Input", "Law", "Param", "available", "get_law", "law_kind", "law_kinds",
           "list_laws", "register", "register_kind"]
