"""The shipped ladder stores' runs and final validation losses, for the tests that pin them."""

from __future__ import annotations

import json

from scalefit.lr_sweeps import final_by_run


def final_val_losses(store):
    """(runs indexed by name, each run's last val/loss, each run's tokens per parameter)."""
    runs = store.runs.set_index("run")
    final = final_by_run(store.points, "val/loss")
    mult = {r: json.loads(runs.loc[r, "tags"])["tokens_per_param"] for r in runs.index}
    return runs, final, mult
