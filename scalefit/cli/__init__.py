"""Command-line interface: ``scalefit COMMAND``. Each module registers its commands on ``app``.

The CLI is thin: it parses arguments and calls the library. A :class:`ScalefitError` becomes one
line on stderr and exit status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from scalefit.cli import (  # noqa: F401, E402  (register commands)
    curves,
    fit,
    ingest,
    isoflop,
    ladder,
    plan,
    plot,
    report,
    tasks,
    watch,
)
from scalefit.cli.app import app, state
from scalefit.errors import ScalefitError

__all__ = ["app", "main", "run"]


def run(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return the exit status (tests call this)."""
    args = sys.argv[1:] if argv is None else list(argv)
    # --debug works anywhere before a "--"; it is a root option, so move it to the front
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end]
    if debug:
        args = ["--debug"] + [a for i, a in enumerate(args) if not (i < end and a == "--debug")]
    state["debug"] = debug
    try:
        rv = app(args=args, standalone_mode=False, prog_name="scalefit")
    except ScalefitError as exc:
        if debug:
            raise
        _error(str(exc))
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _error("aborted")
        return 130
    except TyperException as exc:  # bad arguments: click's usage errors
        if debug:
            raise
        msg = exc.format_message().strip()
        show = getattr(exc, "show", None)
        if not msg and show is not None:  # no arguments at all: the help is the answer
            show()
            return exc.exit_code
        ctx = getattr(exc, "ctx", None)
        cmd = getattr(ctx, "command_path", None) or "scalefit"
        _error(f"{msg} (see `{cmd} --help`)")
        return exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # a bug, not a user error: still no traceback unless asked for
        if debug:
            raise
        _error(f"internal error ({type(exc).__name__}: {exc}); rerun with --debug for the "
               "traceback and report it")
        return 1
    return rv if isinstance(rv, int) else 0


def _error(text: str) -> None:
    """One line on stderr: messages may quote user text with line breaks in it."""
    print("error: " + " ".join(str(text).split()), file=sys.stderr)


def main() -> None:
    """The ``scalefit`` console script: run the CLI on ``sys.argv`` and exit with its status."""
    sys.exit(run())
