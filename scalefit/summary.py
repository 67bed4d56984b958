"""One summary for every result: final-loss fits, loss-curve fits, IsoFLOP profiles, task
predictions.

A result describes itself neutrally (a :class:`Summary`: a title with its formula, header
facts, a parameter table of values, intervals and flags such as "at bound", derived
quantities, predictions, sections such as a backtest, notes and warnings) and this module
renders that description as text (``str``), HTML (``_repr_html_``, every value escaped through
:mod:`scalefit.html`, since a loaded artefact is untrusted) and a dict (``to_dict``). The
one-line ``repr`` of every result comes from :func:`one_line`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

__all__ = ["LawInfo", "ParamRow", "PredictionRow", "Section", "Summary", "fmt", "interval_text",
           "one_line", "rows_from"]

#: longest one-line repr of a result
REPR_MAX = 199


def fmt(x, digits: int = 4) -> str:
    """A number in ``digits`` significant figures; ``-`` for a missing or non-finite one."""
    if x is None or isinstance(x, bool):
        return "-"
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(x):
        return "-"
    return f"{x:.{digits}g}"


def _num(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class LawInfo:
    """What a result without a registered law fitted: its name, formula and parameters
    (``law_`` of an IsoFLOP result or a task prediction)."""

    name: str
    formula: str
    param_names: tuple[str, ...]
    source: str = ""


@dataclass
class ParamRow:
    """One row of a parameter (or derived quantity) table.

    ``interval`` is the interval column as text (``"[lo, hi]  (95% bootstrap)"``, ``"± se"``),
    ``lo``/``hi`` the numbers behind it for the dict, ``flags`` marks such as ``"at bound"``
    or ``"fixed"``, ``doc`` a short explanation (derived quantities)."""

    name: str
    value: float | None
    interval: str = ""
    lo: float | None = None
    hi: float | None = None
    flags: tuple[str, ...] = ()
    doc: str = ""

    def cell(self) -> str:
        """The interval column with the flags after it."""
        return "  ".join(x for x in (self.interval, ", ".join(self.flags)) if x)


@dataclass
class PredictionRow:
    """A prediction: ``label at inputs: value [lo, hi]``, its warnings and extra lines."""

    label: str
    inputs: dict[str, float]
    value: float | None
    lo: float | None = None
    hi: float | None = None
    warnings: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()


@dataclass
class Section:
    """A block after the tables (a backtest, fit errors): a heading line and its lines."""

    heading: str
    lines: list[str] = field(default_factory=list)


@dataclass
class Summary:
    """Text (``str``), HTML (``_repr_html_``) and dict (``to_dict``) views of a result.

    ``kind`` names the result type; ``law`` and ``formula`` what was fitted; ``title`` the
    first line (default ``"law: formula"``); ``facts`` the header lines; ``params`` and
    ``derived`` the tables; ``record`` the result's own JSON dict, which ``to_dict`` extends
    (so ``summary().to_dict()["law"]`` is the law of any result).
    """

    kind: str
    law: str
    formula: str = ""
    title: str = ""
    facts: list[str] = field(default_factory=list)
    params: list[ParamRow] = field(default_factory=list)
    derived: list[ParamRow] = field(default_factory=list)
    predictions: list[PredictionRow] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    record: Mapping | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ text
    def heading(self) -> str:
        """The first line: ``title``, else ``"law: formula"``, else the law's name."""
        return self.title or (f"{self.law}: {self.formula}" if self.formula else self.law)

    def __str__(self) -> str:
        out = [self.heading(), *self.facts]
        w = max((len(r.name) for r in self.params), default=5)
        if self.params:
            out.append("")
            out.append(f"  {'param'.ljust(w)}  {'value':>11}  interval")
            for r in self.params:
                out.append(f"  {r.name.ljust(w)}  {fmt(r.value, 5):>11}  {r.cell()}")
        if self.derived:
            out.append("")
            out.append("derived:")
            for r in self.derived:
                iv = f"  [{fmt(r.lo)}, {fmt(r.hi)}]" if r.lo is not None else ""
                flags = f"  {', '.join(r.flags)}" if r.flags else ""
                doc = f"   {r.doc}" if r.doc else ""
                out.append(f"  {r.name.ljust(w)}  {fmt(r.value, 5):>11}{iv}{flags}{doc}")
        if self.predictions:
            out.append("")
            out.append("predictions:")
            for p in self.predictions:
                ins = ", ".join(f"{k}={fmt(v, 3)}" for k, v in p.inputs.items())
                iv = f"  [{fmt(p.lo)}, {fmt(p.hi)}]" if p.lo is not None else ""
                out.append(f"  {p.label} at {ins}: {fmt(p.value, 5)}{iv}")
                out.extend(f"      warning: {w}" for w in p.warnings)
                out.extend(f"      {x}" for x in p.extra)
        for s in self.sections:
            out.append("")
            out.append(s.heading)
            out.extend(s.lines)
        if self.notes or self.warnings:
            out.append("")
        out.extend(f"note: {n}" for n in self.notes)
        out.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    # str-like, so that code written when summary() returned text keeps working
    def __contains__(self, text: object) -> bool:
        return str(text) in str(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str(self) == other
        if isinstance(other, Summary):
            return self.to_dict() == other.to_dict()
        return NotImplemented

    __hash__ = None  # mutable, like the dataclass it is

    def splitlines(self) -> list[str]:
        """The text view's lines (as ``str.splitlines`` of ``str(self)``)."""
        return str(self).splitlines()

    # ------------------------------------------------------------------ HTML
    def _repr_html_(self) -> str:
        from scalefit.html import esc, table

        parts = [f"<div class='scalefit-fit scalefit-{esc(self.kind)}'><b>{esc(self.law)}</b>"]
        if self.formula:
            parts.append(f": <code>{esc(self.formula)}</code>")
        if self.title:
            parts.append(f"<br>{esc(self.title)}")
        parts.extend(f"<br>{esc(f)}" for f in self.facts)
        rows = [[r.name, fmt(r.value, 5), r.cell()] for r in self.params]
        rows += [[r.name, fmt(r.value, 5), "" if r.lo is None else f"[{fmt(r.lo)}, {fmt(r.hi)}]"]
                 for r in self.derived]
        if rows:
            parts.append(table(["param", "value", "interval"], rows, right=[1]))
        if self.predictions:
            prows = [[p.label, ", ".join(f"{k}={fmt(v, 3)}" for k, v in p.inputs.items()),
                      fmt(p.value, 5), "" if p.lo is None else f"[{fmt(p.lo)}, {fmt(p.hi)}]",
                      "; ".join((*p.extra, *p.warnings))]
                     for p in self.predictions]
            parts.append(table(["prediction", "at", "value", "interval", "note"], prows,
                               right=[2]))
        for s in self.sections:
            body = "".join(f"<br>{esc(x.strip())}" for x in s.lines)
            parts.append(f"<p>{esc(s.heading)}{body}</p>")
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in self.notes) + "</ul>")
        if self.warnings:
            parts.append("<ul style='color:#b35806'>"
                         + "".join(f"<li>{esc(w)}</li>" for w in self.warnings) + "</ul>")
        parts.append("</div>")
        return "".join(parts)

    # ------------------------------------------------------------------ dict
    def to_dict(self) -> dict:
        """The result's JSON record (``record``) with the summary's own view under
        ``"summary"``: JSON-safe, non-finite numbers as ``None``."""
        view = {
            "kind": self.kind, "law": self.law, "formula": self.formula,
            "title": self.heading(), "facts": list(self.facts),
            "params": [_clean(asdict(r)) for r in self.params],
            "derived": [_clean(asdict(r)) for r in self.derived],
            "predictions": [_clean(asdict(p)) for p in self.predictions],
            "sections": [asdict(s) for s in self.sections],
            "notes": list(self.notes), "warnings": list(self.warnings),
        }
        out = dict(self.record) if self.record is not None else {"kind": self.kind,
                                                                  "law": self.law}
        out["summary"] = view
        return out


def _clean(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, float) or (k in ("value", "lo", "hi") and v is not None):
            v = _num(v)
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, dict):
            v = {str(a): _num(b) for a, b in v.items()}
        out[k] = v
    return out


def one_line(kind: str, law: str, what: str, params: Mapping[str, object] | None,
             limit: int = REPR_MAX) -> str:
    """``<Kind law on what; p=v, ...>`` on one line, at most ``limit`` characters (parameters
    past the limit are elided with ``...``)."""
    sep = "" if what.startswith((":", ";", ",")) else " "
    head = f"<{kind} {law}" + (f"{sep}{what}" if what else "")
    head = head.replace("\n", " ")
    ps: list[str] = [f"{k}={fmt(v)}" for k, v in (params or {}).items()]
    body = ", ".join(ps)
    text = f"{head}; {body}>" if body else f"{head}>"
    while len(text) > limit and ps:
        ps.pop()
        text = f"{head}; {', '.join(ps)}, ...>" if ps else f"{head}; ...>"
    if len(text) > limit:
        text = text[: limit - 4] + "...>"
    return text


def interval_text(lo, hi, how: str = "") -> str:
    """``[lo, hi]  (how)``, or empty when either end is missing."""
    if _num(lo) is None or _num(hi) is None:
        return ""
    return f"[{fmt(lo)}, {fmt(hi)}]" + (f"  ({how})" if how else "")


def rows_from(params: Mapping[str, float], ci: Mapping | None = None, how: str = "",
              stderr: Mapping | None = None, flags: Mapping[str, Sequence[str]] | None = None
              ) -> list[ParamRow]:
    """A parameter table from name -> value, name -> (lo, hi), name -> s.e. and flags."""
    rows = []
    for k, v in params.items():
        lo = hi = None
        iv = ""
        if ci and k in ci and ci[k] is not None:
            lo, hi = (_num(x) for x in ci[k])
            iv = interval_text(lo, hi, how)
        elif stderr and _num(stderr.get(k)) is not None:
            iv = f"± {fmt(stderr[k], 2)}"
        rows.append(ParamRow(str(k), _num(v), iv, lo, hi, tuple((flags or {}).get(k, ()))))
    return rows
