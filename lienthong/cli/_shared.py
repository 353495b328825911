"""What every command module shares: the root `app`, the consoles, settings from options, errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lienthong.settings import Settings

app = typer.Typer(
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
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def ms_of(text: str | None) -> int | None:
    """Epoch milliseconds of an ISO time option (None stays None)."""
    return int(datetime.fromisoformat(text).timestamp() * 1000) if text else None
