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
from scalefit.laws.base import Input, Law, Param, get_law, list_laws, register

__all__ = ["Input", "Law", "Param", "get_law", "list_laws", "register"]
