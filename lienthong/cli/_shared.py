"""What every command module shares: the root `app`, the consoles, settings from options, errors.

Errors: a user mistake (bad option, bad setting, unreachable broker, unusable store) prints ONE line on
stderr saying what is wrong and what to do, and exits 2; a failed check (`audit verify`) exits 1. No
traceback reaches the operator: `_Group` turns typed errors into that line wherever they are raised.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from typer._click import Context
from typer._click import exceptions as cx
from typer.core import TyperGroup

from lienthong.audit.redact import mask_text
from lienthong.errors import ConfigurationError
from lienthong.settings import Settings

USAGE = 2
"""Exit code of a user mistake (option, setting, unreachable service)."""
CHECK_FAILED = 1
"""Exit code of a check that ran and failed (`audit verify`, `broker status`)."""


class CliError(Exception):
    """A user-facing error: `message` says what is wrong and what to do; `code` is the exit status."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def settings_error_line(exc: ValidationError) -> str:
    """One line naming the LIENTHONG_* variable(s) a settings ValidationError is about (values not echoed)."""
    from lienthong.settings import settings_classes

    prefix = "LIENTHONG_"
    for cls in settings_classes():
        if cls.__name__ == exc.title:
            prefix = str(cls.model_config.get("env_prefix", prefix))
    parts = []
    for e in exc.errors(include_input=False, include_url=False):
        field = str(e["loc"][0]) if e["loc"] else ""
        var = f"{prefix}{field}".upper() if field else exc.title
        parts.append(f"{var}: {e['msg']}")
    return "; ".join(parts) + " (fix or unset the variable; `lienthong config --markdown` lists every setting)"


def describe_error(exc: BaseException) -> tuple[str, int] | None:
    """The one line and exit code for an error a user can fix, or None for a bug."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, ValidationError):
        return settings_error_line(exc), USAGE
    if isinstance(exc, ConfigurationError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__, USAGE
    if isinstance(exc, KafkaConnectionError):
        return (
            "Kafka is not reachable (no bootstrap server answered): start one with `lienthong broker start`, "
            "or point --bootstrap / LIENTHONG_BOOTSTRAP_SERVERS at a running cluster",
            USAGE,
        )
    if isinstance(exc, KafkaError):
        return f"Kafka refused the request: {type(exc).__name__}: {mask_text(str(exc))[:200]}", USAGE
    return None


def _print_error(line: str) -> None:
    sys.stderr.write(f"error: {' '.join(line.split())}\n")
    sys.stderr.flush()


class _Group(TyperGroup):
    """The root group: usage errors and typed errors become one stderr line and an exit code."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; on a user error print one line and exit (raise `typer.Exit`
        when not standalone, as click does)."""
        # Client libraries log connection failures on their own; the one error line says it instead.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except cx.NoArgsIsHelpError as exc:
            exc.show()
            code = USAGE
        except cx.ClickException as exc:
            where = ""
            if isinstance(exc, cx.UsageError) and exc.ctx:
                where = f" (see `{' '.join(['lienthong', *exc.ctx.command_path.split()[1:]])} --help`)"
            _print_error(exc.format_message() + where)
            code = USAGE if isinstance(exc, cx.UsageError) else exc.exit_code
        except typer.Abort:
            _print_error("aborted")
            code = 130
        else:
            code = rv if isinstance(rv, int) else 0
            if not standalone_mode:
                return rv
        if standalone_mode:
            sys.exit(code)
        raise typer.Exit(code)

    def invoke(self, ctx: Context) -> Any:
        """Invoke the sub-command, mapping typed errors to one line and an exit code."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, cx.ClickException):
            raise
        except BaseException as exc:
            described = describe_error(exc)
            if described is None:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                # A bug: still one line (the type says what broke); the audit chain and logs keep state.
                described = (f"unexpected {type(exc).__name__}: {mask_text(str(exc))[:300]} "
                             "(this is a bug in lienthong; please report it with the command you ran)", 1)  # fmt: skip
            line, code = described
            _print_error(line)
            raise typer.Exit(code) from None


app = typer.Typer(
    cls=_Group,
    help="lienthong: the province's integration hub (one-stop system, DVCQG, payments, ministries) over Kafka.\n\n"
    "Start with `lienthong demo`. Every option can also be set as a LIENTHONG_* environment variable "
    "(see `lienthong config`).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
broker_app = typer.Typer(
    help="Run a local Apache Kafka (KRaft) from the official Maven Central jars.", no_args_is_help=True
)
topics_app = typer.Typer(help="The topic catalogue: create topics, print the AsyncAPI document.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit trail: verify the chain, trace a dossier.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: list, show, redrive (operator actions are audited).", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
app.add_typer(topics_app, name="topics")
app.add_typer(audit_app, name="audit")
app.add_typer(dlq_app, name="dlq")

out = Console()
err = Console(stderr=True)

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="State directory (default LIENTHONG_STATE_DIR).")]
Bootstrap = Annotated[
    str | None, typer.Option("--bootstrap", help="Kafka bootstrap HOST:PORT (default LIENTHONG_BOOTSTRAP_SERVERS).")
]


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment with the given command-line overrides (None = not given)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)


def fail(message: str, code: int = USAGE) -> CliError:
    """The error to raise for a user mistake: `raise fail("what is wrong; what to do")`."""
    return CliError(message, code)


def ms_of(text: str | None, option: str = "--since") -> int | None:
    """Epoch milliseconds of an ISO time option (None stays None); a time without offset is UTC."""
    return int(iso_time(text, option).timestamp() * 1000) if text else None


def iso_time(text: str, option: str) -> datetime:
    """An ISO 8601 time option, or a CliError saying how to write one."""
    from datetime import UTC

    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"{option} {text[:40]!r} is not an ISO 8601 time; write e.g. 2025-07-01T08:00:00+07:00"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def refuse_sandbox_credentials() -> None:
    """Fail with one line when a connector still holds a sandbox credential (a secret equal to its non-empty
    default) while one of its peer URLs (a URL field defaulting to loopback) points elsewhere: the worker
    would present a published password to a real system."""
    from pydantic import SecretStr

    from lienthong.settings import env_names, settings_classes

    for cls in settings_classes()[1:]:
        values = cls()
        var_of = {name: var for var, name in env_names(cls).items()}
        defaults = {name: field.default for name, field in cls.model_fields.items()}
        sandbox = [
            var_of[name] for name, default in defaults.items()
            if isinstance(default, SecretStr) and default.get_secret_value()
            and getattr(values, name).get_secret_value() == default.get_secret_value()
        ]  # fmt: skip
        remote = [
            (var_of[name], str(getattr(values, name))) for name, default in defaults.items()
            if name.endswith("url") and isinstance(default, str) and _loopback(default)
            and not _loopback(str(getattr(values, name)))
        ]  # fmt: skip
        if sandbox and remote:
            var, url = remote[0]
            raise CliError(
                f"refusing to start: {' and '.join(sandbox)} still hold the sandbox's published default while "
                f"{var} points at {url.split('?')[0]}; set the real credentials (e.g. from your secret store)"
            )


def require_broker(bootstrap: str, timeout_s: float = 5.0) -> None:
    """Fail with one line unless some bootstrap server accepts a TCP connection."""
    import socket

    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return
        except (OSError, ValueError):
            continue
    raise CliError(
        f"Kafka is not reachable at {bootstrap}: start one with `lienthong broker start`, or point "
        "--bootstrap / LIENTHONG_BOOTSTRAP_SERVERS at a running cluster"
    )
