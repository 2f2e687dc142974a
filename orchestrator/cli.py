"""The ``orch`` command line: the only module that imports typer.

Each command parses its options, calls one domain function, and renders the result. Domain code raises
:class:`~orchestrator.errors.OrchError`; :func:`main` turns it into one line per problem and exit code 2 (no
traceback). Anything else is an internal fault: exit 1, traceback written to a file whose path is printed.
Heavy modules are imported inside command bodies so ``orch validate``/``status``/``archive`` stay fast.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import typer

from orchestrator import __version__
from orchestrator.errors import OrchError

# Help panels, in the order they are shown.
PANEL_CONFIG = "Config"
PANEL_RUN = "Run"
PANEL_INSPECT = "Inspect"
PANEL_ARCHIVE = "Archive"
PANEL_ENV = "Environment"

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="orch",
    help="Validate, run, submit, watch and archive PPO-expert and DreamerV3 training runs.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"orch {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """orch: one entry point for training runs, on a laptop or a Slurm cluster."""


# Shared option and argument types (declared once, used by every command).
ConfigPathsArg = Annotated[list[Path], typer.Argument(help="One or more config YAML files.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key: --set key.path=value (value parsed as YAML). Repeatable."),
]
ArtifactRootOpt = Annotated[
    Path | None,
    typer.Option(
        "--artifact-root", help="Where run directories live (default: $ORCH_ARTIFACT_ROOT, else ./output)."
    ),
]


# ----------------------------------------------------------------------------------------------------- commands
# Each command group below is kept together; add new commands next to their group.


# ------------------------------------------------------------------------------------------------ entry point
def _report_internal_fault(exc: BaseException) -> int:
    fd, path = tempfile.mkstemp(prefix="orch-crash-", suffix=".txt")
    with os.fdopen(fd, "w") as handle:
        traceback.print_exception(exc, file=handle)
    print(f"orch: internal error: {type(exc).__name__}: {exc} (traceback in {path})", file=sys.stderr)
    return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app and map errors to exit codes (0 ok, 1 internal, 2 bad input)."""
    try:
        app(args=argv, prog_name="orch", standalone_mode=True)
    except SystemExit as exc:  # typer/click end every command this way; usage errors come as code 2
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_INTERNAL)
    except OrchError as exc:
        for line in exc.lines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:
        return _report_internal_fault(exc)
    return EXIT_OK


def run() -> None:
    """Console-script wrapper that exits with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
