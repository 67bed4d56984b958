"""The check at the end of a ladder: fit its final losses and predict its largest model size.

The held-out runs are every run of the largest size (``size:1``), the backtest `scalefit fit
--holdout size:1` runs on the same store, so the numbers printed by ``ladder run`` are the ones
a user gets from the fit. No torch needed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from scalefit.errors import ScalefitError

__all__ = ["LADDER_LAWS", "ladder_backtest"]

#: the laws a ladder is checked with: Chinchilla's in (N, D), and a power law in compute
LADDER_LAWS = ("chinchilla", "power:x=C")


def ladder_backtest(store: str | os.PathLike, *, laws: Sequence[str] = LADDER_LAWS,
                    metric: str = "val/loss", holdout: str = "size:1") -> list[dict]:
    """One row per law: the held-out runs, mean and max relative error on their final
    ``metric``, the fitted ``E`` without them (None where the law has no E) and the parameters
    at a bound in the fit to every run; a law that cannot be fitted gets its error message in
    ``error`` instead."""
    from scalefit import fit
    from scalefit.store import Store

    st = Store(store, create=False)
    rows = []
    for law in laws:
        try:
            res = fit(st, law=law, metric=metric, holdout=holdout)
        except ScalefitError as e:
            rows.append({"law": law, "holdout": holdout, "error": str(e)})
            continue
        bt = res.backtest
        e_fit = bt["train_params"].get("E")
        rows.append({"law": law, "holdout": holdout, "heldout_runs": list(bt["heldout_runs"]),
                     "n_train": bt["n_train"], "mean_rel_error": bt["mean_rel_error"],
                     "max_rel_error": bt["max_rel_error"],
                     "E": None if e_fit is None or not math.isfinite(e_fit) else float(e_fit),
                     # of the fit to every run: a parameter at its bound is not determined
                     "at_bound": list((res.diagnostics or {}).get("at_bound") or [])})
    return rows
