"""The model zoo: every law registers itself on import.

>>> from scalefit.laws import get_law
>>> get_law("chinchilla").param_names
['E', 'A', 'B', 'alpha', 'beta']
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
from scalefit.laws.base import Input, Law, Param, get_law, list_laws, register, register_kind


def _curve_law_factory(name: str):
    def build(**options):
        # deferred: the curve kernels (and scipy.signal) load only when a curve law is built
        from scalefit.curves.laws import get_curve_law

        return get_curve_law(name, **options)

    return build


# the loss-curve laws, so that get_law and `scalefit laws` know every law by name (kept in step
# with scalefit.curves.CURVE_LAW_NAMES by tests/test_cli_consistency.py)
for _name in ("multi_power", "lr_annealing", "ensemble"):
    register_kind(_name, "curve", _curve_law_factory(_name))
for _name in ("multi_power", "lr_annealing"):
    register_kind(f"joint_{_name}", "joint_curve", _curve_law_factory(f"joint_{_name}"))
del _name

__all__ = ["Input", "Law", "Param", "get_law", "list_laws", "register"]
