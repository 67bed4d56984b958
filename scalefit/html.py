"""The one way scalefit puts text into HTML: reports and every ``_repr_html_``.

Whatever reaches a page (run names, metrics, laws, warnings, any field of a loaded artefact)
may come from an untrusted file, so every value is converted to text and escaped here, quotes
included, whatever its type: an artefact may hold a string where a number was expected.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable

__all__ = ["esc", "attr", "tag", "table"]


def esc(value: object) -> str:
    """``value`` as text safe between tags and inside quoted attributes."""
    return _html.escape(str(value), quote=True)


def attr(value: object) -> str:
    """A quoted attribute value (single quotes), escaped."""
    return f"'{esc(value)}'"


def tag(name: str, text: object, **attrs: object) -> str:
    """``<name a='v'>text</name>`` with the text and every attribute value escaped.

    ``name`` and the attribute names are the caller's constants, never user text."""
    extra = "".join(f" {k.rstrip('_')}={attr(v)}" for k, v in attrs.items())
    return f"<{name}{extra}>{esc(text)}</{name}>"


def table(headers: Iterable[object], rows: Iterable[Iterable[object]],
          right: Iterable[int] = ()) -> str:
    """An HTML table of escaped cells; columns in ``right`` are right-aligned."""
    right = set(right)
    head = "".join(tag("th", h) for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:right'>{esc(c)}</td>" if i in right
                         else tag("td", c) for i, c in enumerate(r)) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
