"""What every reader takes (:class:`Options`) and gives back (:class:`Parsed`)."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

import pandas as pd

from scalefit.io.runinfo import RunInfo


@dataclass
class Options:
    """Reader options; every reader ignores the ones that do not concern it."""

    run: str | None = None
    params: float | None = None
    tokens: float | None = None
    flops: float | None = None
    step_col: str | None = None
    loss_col: str | None = None
    tokens_col: str | None = None
    lr_col: str | None = None
    flops_col: str | None = None
    params_col: str | None = None
    run_col: str | None = None
    metric_col: str | None = None
    value_col: str | None = None
    metrics: list[str] | None = None
    regex: str | None = None
    preset: str | None = None
    delimiter: str | None = None


@dataclass
class Parsed:
    """A reader's result before the runs table is assembled."""

    infos: list[RunInfo]
    points: list[pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    digest: Future | None = None  # the file's hash, under way (see hash_soon)

    def extend(self, other: Parsed) -> None:
        """Append another result (a reader that reads several runs or files)."""
        self.infos += other.infos
        self.points += other.points
        self.notes += other.notes
