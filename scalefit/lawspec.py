"""What every kind of law declares, in a leaf module: its parameters (:class:`Param`) and
the name with options that rebuilds it (:func:`law_spec`).

The final-loss laws (``scalefit.laws``) and the loss-curve laws (``scalefit.laws.curve``) both
import from here, so that the curve laws do not load the final-loss registry, which builds
them by name. Both names are re-exported by :mod:`scalefit.laws`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Param", "law_spec", "prior_text"]


@dataclass(frozen=True)
class Param:
    """One parameter of a law.

    ``lower``/``upper`` bound the natural value. With ``log=True`` the optimiser works on
    ``log(value)`` (amplitudes, scales: anything positive over many decades), and ``grid`` is
    given in that log space, as Hoffmann et al.'s grid is. ``linear=True`` marks a parameter the
    prediction depends on linearly (variable projection may solve it exactly). ``prior``,
    ``(centre, width)``, pulls a free parameter's fit towards ``centre``: the objective gains
    ``n·rho(0.01)·((value - centre)/width)²`` (``n`` points, ``rho`` the objective's loss of one
    residual), so moving ``width`` from the centre costs as much as a 1% error at every point.
    """

    name: str
    lower: float = -np.inf
    upper: float = np.inf
    log: bool = False
    grid: tuple[float, ...] = ()
    linear: bool = False
    doc: str = ""
    prior: tuple[float, float] | None = None

    def to_internal(self, value: float | np.ndarray) -> float | np.ndarray:
        """A natural value (scalar or array) in the optimiser's space: its log if ``log``."""
        return np.log(value) if self.log else value

    def to_natural(self, u: float | np.ndarray) -> float | np.ndarray:
        """The inverse of :meth:`to_internal`: ``exp(u)`` if ``log``, else ``u``."""
        return np.exp(u) if self.log else u

    @property
    def internal_bounds(self) -> tuple[float, float]:
        """``(lower, upper)`` in the optimiser's space; with ``log``, a bound of 0 or below
        becomes ``-inf``."""
        if self.log:
            lo = np.log(self.lower) if self.lower > 0 else -np.inf
            hi = np.log(self.upper) if np.isfinite(self.upper) else np.inf
            return lo, hi
        return self.lower, self.upper


def prior_text(prior) -> str:
    """A prior ``(centre, width)`` as people read it: ``0.33 ± 0.5``."""
    return f"{prior[0]:g} ± {prior[1]:g}"


def law_spec(name: str, options: Mapping[str, Any], init: Callable[..., Any] | None = None
             ) -> str:
    """``name:key=value,...`` for :func:`get_law`, the inverse of its parser. Options equal to
    the default of ``init`` (the law's constructor) or ``None`` are left out; a list is
    written ``a;b`` (the joint laws' ``scaled=L0;A``)."""
    defaults = {}
    if init is not None:
        try:
            defaults = {k: p.default for k, p in inspect.signature(init).parameters.items()
                        if p.default is not inspect.Parameter.empty}
        except (TypeError, ValueError):  # a builtin __init__ has no signature to read
            defaults = {}
    items = []
    for k, v in options.items():
        if v is None or (k in defaults and _same(defaults[k], v)):
            continue
        if isinstance(v, (list, tuple)):
            text = ";".join(str(x) for x in v)
        elif isinstance(v, (float, np.floating)):
            text = repr(float(v))
        else:
            text = str(v)
        if any(c in text for c in ",:=") or not text:
            raise ValueError(f"law {name!r}: option {k}={v!r} cannot be written in a law name")
        items.append(f"{k}={text}")
    return name + (":" + ",".join(items) if items else "")


def _same(a, b) -> bool:
    try:
        return bool(a == b) if not isinstance(a, (list, tuple)) else list(a) == list(b)
    except Exception:  # noqa: BLE001 (values that do not compare are different)
        return False
