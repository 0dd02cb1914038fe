"""Shared pieces of the ``masknet`` command line: error handling, JSON output, lazy subcommands."""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

import click

from edge_runtime.errors import MasknetError

__all__ = ["CliError", "LazyGroup", "emit_json", "guarded", "json_option"]


class CliError(click.ClickException):
    """A domain error shown as one line, ``Error: ...``, with exit code 2."""

    exit_code = 2


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain and file errors raised by a command into one-line CLI errors (exit code 2), and an
    interrupt (Ctrl-C) into exit code 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:  # the work stops; outputs are whole or absent (atomic writes)
            click.echo("Interrupted: nothing half-written was left behind.", err=True)
            raise SystemExit(130) from None
        except MasknetError as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            raise CliError(f"{exc.strerror or exc}{':' if where else ''}{where}") from None

    return wrapper


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The shared ``--json`` flag: machine output on stdout, logs on stderr."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON (stable keys) instead of a table."
    )(fn)


def emit_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (NaN as null)."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and x != x:
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if hasattr(x, "item") and callable(x.item):
            return clean(x.item())
        return x

    sys.stdout.write(json.dumps(clean(data), indent=2, sort_keys=True) + "\n")


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when run (so ``--help`` is instant).

    ``lazy`` maps a command name to ``"module:attribute"``.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)
