"""One exception family for every user-facing failure.

Each error names what it is about (a file, column, run, argument), what was expected and
what to do. The CLI prints ``str(err)`` as one line and exits non-zero.
"""

from __future__ import annotations


class ScalefitError(Exception):
    """Base class of every error scalefit raises for bad input or a failed operation."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class InputError(ScalefitError):
    """A log file or table that cannot be read: unknown format, missing column, bad values."""


class SchemaError(InputError):
    """Frames that do not follow the store schema."""


class StoreError(ScalefitError):
    """The store on disk cannot be read or written."""


class FitError(ScalefitError):
    """A fit that cannot run (too few points, bad data) or did not converge."""


class UsageError(ScalefitError):
    """Bad arguments: an unknown law, a malformed ``--predict`` spec, and the like."""
