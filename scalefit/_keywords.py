"""Misspelt keyword arguments are errors: ``compare(..., objectve="mse")`` must not run a fit
with the default objective."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = ["checked_keywords", "keyword_names"]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_F = TypeVar("_F", bound=Callable[..., Any])


def keyword_names(fn: Callable) -> frozenset[str]:
    """The parameters of ``fn`` that can be passed by keyword."""
    fn = inspect.unwrap(fn)
    return frozenset(p.name for p in inspect.signature(fn).parameters.values()
                     if p.kind in _NAMED)


def unknown_keyword_error(where: str, unknown: Iterable[str], known: Iterable[str]) -> TypeError:
    """The TypeError (returned, not raised) for keywords ``unknown`` passed to ``where()``: it
    names each one, suggests the closest of ``known`` and lists them all."""
    known = sorted(known)
    parts = []
    for k in unknown:
        close = difflib.get_close_matches(k, known, n=1)
        parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return TypeError(f"{where}() got unexpected keyword argument(s) {', '.join(parts)}; it "
                     f"takes: {', '.join(known)}")


def checked_keywords(also: Callable[[], Iterable[str]] | None = None) -> Callable[[_F], _F]:
    """Decorator: keyword arguments outside the function's own parameters (plus ``also()``,
    the keywords a ``**kw`` is forwarded to) raise a TypeError that names them and suggests
    the closest known name."""

    def deco(fn):
        own = keyword_names(fn)
        cache: list[frozenset[str]] = []

        def known() -> frozenset[str]:
            if not cache:  # ``also`` may import lazily: resolve on the first call
                cache.append(own | frozenset(also() if also else ()))
            return cache[0]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if kwargs:
                ok = known()
                bad = [k for k in kwargs if k not in ok]
                if bad:
                    raise unknown_keyword_error(fn.__name__, bad, ok)
            return fn(*args, **kwargs)

        return wrapper

    return deco
