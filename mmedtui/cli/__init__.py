"""The ``mmedtui`` command. Start-up stays light: torch and transformers load only inside commands."""

from __future__ import annotations

import atexit
import os
import sys

import typer

from mmedtui import DISCLAIMER, __version__
from mmedtui.errors import UserError, error_line

app = typer.Typer(
    name="mmedtui",
    help=f"Multi-agent medical VQA (MMedAgent-RL) in the terminal. {DISCLAIMER}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mmedtui {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Multi-agent medical VQA in the terminal. Research use only."""


def _click_style_help() -> None:
    """Typer 0.29 writes a required argument as ``{image}`` and every flag's type as ``<bool>``; show them as
    Click-based tools do: ``IMAGE`` (``[IMAGE]`` when optional) and nothing after a flag."""
    from typer import core

    def usage_name(self) -> str:
        name = self.display_name_raw
        return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")

    def flag_type(self, ctx):
        return None if self.is_flag else original_type(self, ctx)

    original_type = core.TyperOption.display_type_rich
    core.TyperArgument.display_name_raw = property(lambda self: self.metavar or (self.name or "").upper())
    core.TyperArgument._usage_display_name = usage_name
    core.TyperOption.display_type_rich = flag_type


_click_style_help()


def _register() -> None:
    from mmedtui.cli import bench, consult, data, history, train

    app.command("consult")(consult.consult)
    app.command("history")(history.history)
    app.command("bench")(bench.bench)
    app.add_typer(train.app, name="train")
    app.add_typer(data.app, name="data")


_register()


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"mmedtui: {message}", err=True)
    raise SystemExit(code)


def main() -> None:
    """Entry point: user errors -> one line and exit 2; internal errors -> one line and exit 1."""
    try:
        code = app(standalone_mode=False)
    except UserError as exc:
        fail(error_line(exc, limit=None, typed=False), 2)  # our own message: its first line, whole
    except (typer.Abort, KeyboardInterrupt):
        fail("interrupted", 130)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.TyperException as exc:  # usage errors (typer's click): their message and exit code 2
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except Exception as exc:
        if os.environ.get("MMEDTUI_DEBUG"):
            raise
        fail(f"internal error: {error_line(exc)} (set MMEDTUI_DEBUG=1 for a traceback)", 1)
    else:
        sys.exit(code if isinstance(code, int) else 0)


def run() -> None:
    """The process entry (console script, ``python -m mmedtui``): ``main()``, then, once torch is loaded, a
    quick exit. Tearing down torch's and transformers' thousands of modules takes ~1.3 s after the work is
    done; exit handlers still run and output is flushed first, so nothing is lost."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        if "torch" not in sys.modules:
            raise
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    if "torch" not in sys.modules:
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (| head): nothing more can be written anyway
            pass
    os._exit(code)
