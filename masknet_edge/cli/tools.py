"""Shared pieces of the ``masknet`` command line: error handling, JSON output, lazy subcommands."""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import click

from masknet_edge.edge_runtime.errors import MasknetError

__all__ = [
    "CliError",
    "LazyGroup",
    "emit_json",
    "guarded",
    "import_tensorflow",
    "interruptible",
    "json_option",
    "missing_dependency_message",
    "quiet_native_logs",
    "request_stop",
    "stderr_is_terminal",
]

#: What an interrupted command says (outputs are written atomically, so this is true).
INTERRUPTED = "Interrupted: nothing half-written was left behind."

#: Lines that native libraries (LiteRT, the TFLite converter, absl) write straight to file descriptor 2
#: and that say nothing to a user: dropped by :func:`quiet_native_logs`.
NATIVE_NOISE = (
    b"INFO: Created TensorFlow Lite XNNPACK delegate",
    b"INFO: Initialized TensorFlow Lite runtime",
    b"fully_quantize: ",
    b"WARNING: All log messages before absl::InitializeLog()",
    b"I0000 00:00:",
    b"W0000 00:00:",
)


_stderr_tty: bool | None = None  # whether stderr was a terminal before quiet_native_logs piped it
_user_stderr_fd: int | None = None  # the user's stderr while quiet_native_logs pipes fd 2
_stop_requested = False  # whether the running command was asked to stop (SIGINT, SIGTERM)


def request_stop(signum: int, frame: Any) -> None:
    """The handler of SIGINT (Ctrl-C) and SIGTERM: note that the user asked the command to stop, then
    raise ``KeyboardInterrupt`` as Python's own Ctrl-C handler does.

    The note matters where the interrupt lands inside a library's native code, which may turn it into
    another exception (seen in TensorFlow's tracing: ``SystemError``, ``TypeError``): :func:`guarded`
    then still reports the interrupt, not that exception's traceback."""
    global _stop_requested
    _stop_requested = True
    raise KeyboardInterrupt


def stderr_is_terminal() -> bool:
    """Whether the user's stderr is a terminal (progress bars go there only then), also while
    :func:`quiet_native_logs` filters it through a pipe."""
    return _stderr_tty if _stderr_tty is not None else sys.stderr.isatty()


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Filter what native code writes to stderr (fd 2) while the block runs: every line passes on at
    once except the known noise (:data:`NATIVE_NOISE`). For commands only, as it redirects the
    process's fd 2 through a pipe (progress bars, which end in ``\\r``, pass through live)."""
    global _stderr_tty, _user_stderr_fd
    sys.stderr.flush()
    saved = os.dup(2)
    outer_fd, _user_stderr_fd = _user_stderr_fd, saved
    was_tty, _stderr_tty = _stderr_tty, stderr_is_terminal()
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        pending = b""
        while chunk := os.read(read_end, 65536):
            pending += chunk
            *segments, pending = re.split(rb"(?<=[\r\n])", pending)
            out = b"".join(seg for seg in segments if not seg.startswith(NATIVE_NOISE))
            if out:
                os.write(saved, out)
        if pending and not pending.startswith(NATIVE_NOISE):
            os.write(saved, pending)

    thread = threading.Thread(target=forward, name="native-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last writer: the thread sees the end and stops
        thread.join(timeout=5)
        os.close(read_end)
        os.close(saved)
        _stderr_tty, _user_stderr_fd = was_tty, outer_fd


class CliError(click.ClickException):
    """A domain error shown as one line, ``Error: ...``, with exit code 2."""

    exit_code = 2


#: Which extra of the package brings a module that a command may need.
EXTRA_OF_MODULE = {
    "farmhash": "edge",
    "ai_edge_litert": "edge",
    "tensorflow": "train-cpu",
    "keras": "train-cpu",
    "pandas": "train-cpu",
    "pyarrow": "train-cpu",
    "matplotlib": "train-cpu",
    "tqdm": "train-cpu",
    "scipy": "train-cpu",
}


def missing_dependency_message(module: str) -> str:
    """What to ``pip install`` when ``module`` is missing."""
    top = module.split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return f"the module {top!r} is not installed"
    return f"this command needs {top!r}, which is not installed: pip install 'masknet-edge[{extra}]'" + (
        " (or [train] with tensorflow for GPUs)" if extra == "train-cpu" else ""
    )


def interruptible(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` in a worker thread so that Ctrl-C stops the command at once, even while native code
    (a TFLite conversion) holds the main thread for seconds. The worker's exceptions are re-raised
    here; on an interrupt the process ends with exit code 130 (outputs are written atomically, so
    nothing half-written is left at the user's path)."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=work, name=f"masknet-{getattr(fn, '__name__', 'work')}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except KeyboardInterrupt:
        sys.stdout.flush()
        # straight to the user's stderr: the filter thread of quiet_native_logs will not run again
        os.write(_user_stderr_fd or 2, f"{INTERRUPTED}\n".encode())
        from masknet_edge.edge_runtime.atomic import discard_pending

        discard_pending()  # no half-written temporary file beside the user's output
        os._exit(130)  # the worker may be inside native code that cannot be stopped politely
    if "error" in result:
        raise result["error"]
    return result.get("value")


def import_tensorflow() -> None:
    """Import TensorFlow and Keras for a command, its C++ start-up notes kept off the terminal, so
    that a Ctrl-C during the seconds the import takes ends the command with exit code 130.

    In the main thread a Ctrl-C can land inside a native module's initialisation, which then fails
    with ``ImportError: initialization failed`` (seen at 2.8 s into ``masknet check``); in a worker
    thread (:func:`interruptible`) the import never sees the interrupt."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "keras"):
        if name not in sys.modules:
            interruptible(importlib.import_module, name)


def _forget_unhandled_interrupt() -> None:
    """Make the exit code ours (130) under ``python -m`` too.

    When a KeyboardInterrupt ends code run from a string (``exec``/``eval`` of text, which libraries
    such as TensorFlow do), CPython sets a flag that ``Py_RunMain`` reads at exit under ``-m``: the
    process then kills itself with SIGINT (status -2) whatever ``SystemExit`` said, even though the
    interrupt was handled. Each string ``exec`` resets that flag at its start, so an empty one clears it.
    """
    exec("", {})  # noqa: S102 - a constant empty string: nothing is executed


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain and file errors raised by a command into one-line CLI errors (exit code 2), and an
    interrupt (Ctrl-C) into exit code 130; native libraries' log noise is filtered out of stderr."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _stop_requested
        _stop_requested = False
        try:
            with quiet_native_logs():
                return fn(*args, **kwargs)
        except Exception:
            if not _stop_requested:
                raise
            # the interrupt, turned into another exception by native code it landed in
            _stopped_by_user()
        except KeyboardInterrupt:  # the work stops; outputs are whole or absent (atomic writes)
            _stopped_by_user()

    return _with_cli_errors(wrapper)


def _stopped_by_user() -> None:
    """End an interrupted command: say so (its outputs are whole or absent) and exit with 130."""
    click.echo(INTERRUPTED, err=True)
    _forget_unhandled_interrupt()
    raise SystemExit(130) from None


def _with_cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Domain, missing-module and file errors of ``fn`` as one-line CLI errors (exit code 2)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MasknetError as exc:
            raise CliError(str(exc)) from None
        except ModuleNotFoundError as exc:  # an optional dependency of this command is not installed
            raise CliError(missing_dependency_message(exc.name or str(exc))) from None
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
    """Print ``data`` as JSON on stdout: strict JSON, so NaN and ±infinity (which JSON cannot hold)
    are null."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if hasattr(x, "item") and callable(x.item):
            return clean(x.item())
        return x

    sys.stdout.write(json.dumps(clean(data), indent=2, sort_keys=True, allow_nan=False) + "\n")


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when run (so ``--help`` is instant).

    ``lazy`` maps a command name to ``"module:attribute"``; ``summaries`` to the line that ``--help``
    lists (the first paragraph of the command's docstring, checked by a test), so listing the
    commands imports none of them.
    """

    def __init__(
        self,
        *args: Any,
        lazy: dict[str, str] | None = None,
        summaries: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.summaries = dict(summaries or {})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from the summaries where there are any (no import)."""
        if not self.summaries:
            super().format_commands(ctx, formatter)
            return
        rows = [(name, self.summaries.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)
