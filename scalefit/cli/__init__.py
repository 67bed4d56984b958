"""Command-line interface: ``scalefit COMMAND``. Each module registers its commands on ``app``.

The CLI is thin: it parses arguments and calls the library. A :class:`ScalefitError` becomes one
line on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from scalefit.cli import curves, fit, ingest, ladder  # noqa: F401, E402  (register commands)
from scalefit.cli.app import app, state
from scalefit.errors import ScalefitError

__all__ = ["app", "main", "run"]


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit status (tests call this)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    state["debug"] = debug
    try:
        rv = app(args=args, standalone_mode=False, prog_name="scalefit")
    except ScalefitError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except TyperException as exc:
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return rv if isinstance(rv, int) else 0


def main() -> None:
    sys.exit(run())
