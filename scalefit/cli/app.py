"""The typer application object shared by the command modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="scalefit",
    help="Fit neural scaling laws and predict language-model loss curves.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback on errors."),
) -> None:
    state["debug"] = debug


def console(stderr: bool = False):
    """A rich console; when output goes to a file or pipe, wide enough that tables do not truncate."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, width=width)
