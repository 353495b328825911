"""`lienthong run`, `api`, `demo`, `config`: workers, the HTTP API, the demo, the effective settings."""

from __future__ import annotations

import asyncio
import difflib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from lienthong.cli._shared import (
    Bootstrap,
    StateDir,
    app,
    err,
    fail,
    out,
    refuse_sandbox_credentials,
    require_broker,
    settings_from,
)
from lienthong.errors import ConfigurationError
from lienthong.settings import settings_markdown_table


@app.command("run")
def run(
    flows: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated flow names (`lienthong connectors` lists them); default: every "
            "default flow of the core and the registered connectors."
        ),
    ] = None,
    sla_watch: Annotated[bool, typer.Option("--sla-watch", help="Also publish SLA alerts to dossier.alerts.")] = False,
    selftest_peer: Annotated[str | None, typer.Option(help="URL the self-test flow POSTs effects to.")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Run workers until SIGINT/SIGTERM (each finishes its batch and commits). `lienthong api` serves HTTP.

    Example: lienthong run --flows dossier_sync,kpi --sla-watch
    """
    from lienthong.app import all_flows, default_flows, run_workers

    s = settings_from(bootstrap_servers=bootstrap)
    names = [f.strip() for f in flows.split(",") if f.strip()] if flows else default_flows()
    known = [*all_flows(), "selftest"]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise fail(f"unknown flow {name!r}.{hint} Known flows: {', '.join(known)}", 2)
    refuse_sandbox_credentials()
    require_broker(s.bootstrap_servers)
    asyncio.run(run_workers(s, names, selftest_peer=selftest_peer, sla_watch=sla_watch))


@app.command("api")
def api(
    host: Annotated[str | None, typer.Option(help="Listen address (default LIENTHONG_HTTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default LIENTHONG_HTTP_PORT).")] = None,
) -> None:
    """Serve the HTTP API: inbound routes, /healthz, /readyz, /metrics, /docs, /asyncapi.json.

    Example: LIENTHONG_HTTP_PORT=8080 lienthong api
    """
    import uvicorn

    from lienthong.connectors.registry import connectors
    from lienthong.logging import configure_logging

    s = settings_from()
    bind = host or s.http_host
    missing = [
        name for c in connectors() for name, secret in c.inbound_secrets().items() if not secret.get_secret_value()
    ]
    if bind not in ("127.0.0.1", "::1", "localhost") and missing:
        raise fail(
            f"refusing to serve the inbound routes on {bind} without {' and '.join(missing)}: anyone "
            "reaching the port could forge events. Set them, or listen on 127.0.0.1.",
            2,
        )
    require_broker(s.bootstrap_servers)
    # log_config=None: uvicorn's own loggers (access log included) go through lienthong's structlog pipeline.
    configure_logging(s.log_format, s.log_level)
    from lienthong.http_server import uvicorn_options

    uvicorn.run("lienthong.app:asgi_app", factory=True, host=bind, port=port or s.http_port, log_config=None,
                **uvicorn_options(s.http_header_timeout_s, s.http_body_timeout_s))  # fmt: skip


@app.command("demo")
def demo(
    bootstrap: Bootstrap = None,
    audit_db: Annotated[Path | None, typer.Option(help="SQLite audit file (default: a fresh one per run).")] = None,
    dossiers: Annotated[int, typer.Option(help="Synthetic dossiers whose lifecycles are driven through.")] = 3000,
    selftest: Annotated[bool, typer.Option("--selftest", help="Run the bus self-test instead (300 messages).")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object on the last line.")
    ] = False,
    state_dir: StateDir = None,
) -> None:
    """Start everything on loopback, drive dossier lifecycles one-stop → DVCQG (with a DVCQG outage),
    then print delivery counts, the KPI table and the audit verification.

    Without --bootstrap it starts (or reuses) the embedded Kafka broker on port 9092.
    Example: lienthong demo --dossiers 500 --json
    """
    from lienthong.demo.dossiers import run_dossier_demo
    from lienthong.demo.selftest import run_selftest_demo

    s = settings_from(bootstrap_servers=bootstrap, state_dir=state_dir)
    console = err if as_json else out
    embedded = bootstrap is None
    try:
        if selftest:
            run = run_selftest_demo(s, use_embedded=embedded, audit_db=audit_db, messages=300, console=console)
        else:
            run = run_dossier_demo(s, use_embedded=embedded, audit_db=audit_db, dossiers=dossiers, console=console)
        summary = asyncio.run(run)
    except ConfigurationError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    if not summary.get("ok", False):
        raise typer.Exit(1)


@app.command("config")
def config(markdown: Annotated[bool, typer.Option("--markdown", help="The README table.")] = False) -> None:
    """Show the effective settings of the hub and of every connector (LIENTHONG_* environment variables).

    Secrets, keys and DSNs are shown as *** when set.
    Example: lienthong config | grep DVCQG
    """
    from pydantic import SecretStr

    from lienthong.settings import env_names, settings_classes

    if markdown:
        sys.stdout.write(settings_markdown_table() + "\n")
        return
    for cls in settings_classes():
        values = cls()
        for var, name in env_names(cls).items():
            v = getattr(values, name)
            secret = isinstance(v, SecretStr) or any(w in name for w in ("key", "dsn", "token", "password", "secret"))
            shown = ("***" if str(v) else "") if secret else v
            out.print(f"{var}={shown}", highlight=False)
