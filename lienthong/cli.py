"""The `lienthong` command: broker, topics, run, demo, tap, dlq, audit, calendar, config."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from lienthong.calendar.cli import app as calendar_app
from lienthong.errors import ConfigurationError
from lienthong.kpi.cli import app as report_app
from lienthong.settings import Settings, settings_markdown_table

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
app.add_typer(calendar_app, name="calendar", help="Working-time calendar: due moments and on-time classification.")
app.add_typer(report_app, name="report", help="KPIs per agency, field and channel; overdue dossiers.")

out = Console()
err = Console(stderr=True)

StateDir = Annotated[Path | None, typer.Option("--state-dir", help="State directory (default LIENTHONG_STATE_DIR).")]
Bootstrap = Annotated[
    str | None, typer.Option("--bootstrap", help="Kafka bootstrap HOST:PORT (default LIENTHONG_BOOTSTRAP_SERVERS).")
]


def _settings(**overrides: Any) -> Settings:
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


# -- broker -------------------------------------------------------------------------------------------


@broker_app.command("start")
def broker_start(
    port: Annotated[int, typer.Option(help="Client port of the first node.")] = 9092,
    nodes: Annotated[int, typer.Option(help="1 for a single node, 3 for a loopback cluster.")] = 1,
    state_dir: StateDir = None,
) -> None:
    """Start Apache Kafka in KRaft mode and print `bootstrap=127.0.0.1:PORT`.

    The first run fetches org.apache.kafka:kafka_2.13 with Maven into ~/.cache/lienthong (needs Java 17+).
    Example: lienthong broker start --port 9092
    """
    from lienthong.bus.embedded import EmbeddedKafka

    s = _settings(state_dir=state_dir)
    kafka = EmbeddedKafka(s.state_dir, port=port, nodes=nodes, version=s.kafka_version)
    try:
        with err.status(f"starting Kafka {s.kafka_version} ({nodes} node(s))..."):
            bootstrap = kafka.start()
    except ConfigurationError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"bootstrap={bootstrap}", highlight=False)


@broker_app.command("stop")
def broker_stop(state_dir: StateDir = None) -> None:
    """Stop the broker started from this state directory."""
    from lienthong.bus.embedded import EmbeddedKafka

    s = _settings(state_dir=state_dir)
    EmbeddedKafka.from_state(s.state_dir).stop()
    out.print("stopped")


@broker_app.command("status")
def broker_status(state_dir: StateDir = None) -> None:
    """Show each node: process alive, port answering. Exit 1 if any is down."""
    from lienthong.bus.embedded import EmbeddedKafka

    s = _settings(state_dir=state_dir)
    rows = EmbeddedKafka.from_state(s.state_dir).status()
    healthy = True
    for node, alive, answers in rows:
        healthy &= alive and answers
        out.print(f"node {node.node_id}: 127.0.0.1:{node.client} process={'up' if alive else 'down'} "
                  f"port={'answering' if answers else 'closed'}")  # fmt: skip
    raise typer.Exit(0 if healthy else 1)


# -- topics -------------------------------------------------------------------------------------------


@topics_app.command("create")
def topics_create(bootstrap: Bootstrap = None) -> None:
    """Create every catalogue topic with its .retry and .dlq companions (existing ones are kept)."""
    from lienthong.bus.topics import create_topics

    s = _settings(bootstrap_servers=bootstrap)
    created = asyncio.run(create_topics(s.bootstrap_servers, partitions=s.partitions,
                                        replication_factor=s.replication_factor))  # fmt: skip
    out.print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else " (all existed)"))


@topics_app.command("list")
def topics_list() -> None:
    """Print the catalogue: topic, key, payload, event types."""
    from lienthong.bus.topics import CATALOGUE

    t = Table("topic", "key", "payload", "retry/dlq")
    for spec in CATALOGUE.values():
        t.add_row(spec.name, spec.key, spec.payload.rsplit(".", 1)[-1], "yes" if spec.companions else "-")
    out.print(t)


@topics_app.command("asyncapi")
def topics_asyncapi() -> None:
    """Print the AsyncAPI 3.0 document of the topics (also served at /asyncapi.json)."""
    from lienthong.bus.topics import asyncapi_document

    sys.stdout.write(json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n")


# -- audit --------------------------------------------------------------------------------------------


def _audit_dsn(db: Path | None, dsn: str | None) -> str:
    if db is not None:
        return f"sqlite:///{db}"
    return dsn or Settings().resolved_audit_dsn()


@audit_app.command("verify")
def audit_verify(
    db: Annotated[Path | None, typer.Option("--db", help="SQLite audit file.")] = None,
    dsn: Annotated[str | None, typer.Option("--dsn", help="postgresql://... or sqlite:///...")] = None,
    expect_head: Annotated[str | None, typer.Option(help="SEQ:HASH kept elsewhere that the chain must reach.")] = None,
) -> None:
    """Walk the hash chain; exit 0 when intact, 1 naming the first broken record."""
    from lienthong.audit.store import open_store
    from lienthong.audit.verify import verify_chain

    head = None
    if expect_head:
        seq, _, h = expect_head.partition(":")
        head = (int(seq), h)

    async def run() -> Any:
        store = open_store(_audit_dsn(db, dsn))
        await store.open()
        try:
            return await verify_chain(store, expect_head=head)
        finally:
            await store.close()

    result = asyncio.run(run())
    if result.ok:
        out.print(f"audit chain intact: {result.records} records verified; head {result.head}")
        if head is None:
            err.print("keep the head outside this store and pass it back with --expect-head next time")
        return
    err.print(f"audit chain BROKEN at record {result.first_broken_seq}: {result.reason} "
              f"({result.records} records verified before it)")  # fmt: skip
    raise typer.Exit(1)


@audit_app.command("trace")
def audit_trace(
    dossier_code: str,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite audit file.")] = None,
    dsn: Annotated[str | None, typer.Option("--dsn", help="postgresql://... or sqlite:///...")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Print one dossier's timeline across flows. Example: lienthong audit trace 000.00.12.H52-250703-0042"""
    from lienthong.audit.store import open_store

    async def run() -> list[Any]:
        store = open_store(_audit_dsn(db, dsn))
        await store.open()
        try:
            return await store.by_dossier(dossier_code)
        finally:
            await store.close()

    records = asyncio.run(run())
    if not records:
        raise _fail(f"no audit records for dossier {dossier_code}")
    if as_json:
        for r in records:
            sys.stdout.write(json.dumps({k: getattr(r, k) for k in ("seq", "at", "flow", "direction", "peer",
                                        "outcome", "event_type", "correlation_id", "detail")}) + "\n")  # fmt: skip
        return
    t = Table("seq", "at", "flow", "direction", "peer", "outcome", "event", "detail", title=dossier_code)
    for r in records:
        t.add_row(str(r.seq), r.at, r.flow, r.direction, r.peer, r.outcome, r.event_type, r.detail[:60])
    out.print(t)


# -- tap, dlq -----------------------------------------------------------------------------------------


@app.command("tap")
def tap(
    topic: str,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest record.")] = False,
    max_records: Annotated[int | None, typer.Option("--max", help="Stop after N records.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="Keep waiting for new records.")] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Print a topic's records with headers, like kcat (personal data masked).

    Example: lienthong tap dossier.events --from-beginning --max 5
    """
    from lienthong.ops.tap import read_topic, record_view

    s = _settings(bootstrap_servers=bootstrap)

    async def run() -> None:
        async for rec in read_topic(s.bootstrap_servers, topic, from_beginning=from_beginning,
                                    limit=max_records, follow=follow):  # fmt: skip
            view = record_view(rec)
            if as_json:
                sys.stdout.write(orjson.dumps(view).decode() + "\n")
            else:
                out.print(f"[bold]{view['topic']}[/bold] p{view['partition']} @{view['offset']} key={view['key']}")
                for k, v in view["headers"].items():
                    out.print(f"  {k}: {v}", highlight=False)
                out.print("  " + orjson.dumps(view["value"]).decode()[:2000], highlight=False)

    try:
        asyncio.run(run())
    except LookupError as exc:
        raise _fail(str(exc)) from exc


def _ms(text: str | None) -> int | None:
    return int(datetime.fromisoformat(text).timestamp() * 1000) if text else None


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str | None, typer.Option(help="Main topic (or its .dlq); default all.")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Count dead letters by source topic and reason."""
    from lienthong.ops.dlq import DlqFilter, collect, summarise

    s = _settings(bootstrap_servers=bootstrap)
    records = asyncio.run(collect(s, topic, DlqFilter()))
    t = Table("source topic", "reason", "count")
    for (src, reason), n in sorted(summarise(records).items()):
        t.add_row(src, reason, str(n))
    out.print(t)
    out.print(f"{len(records)} dead letter(s)")


@dlq_app.command("show")
def dlq_show(
    position: Annotated[str, typer.Argument(help="TOPIC.dlq/PARTITION/OFFSET as `dlq list --json` shows")],
    bootstrap: Bootstrap = None,
) -> None:
    """Show one dead letter decoded: error headers, original headers, payload (personal data masked)."""
    from lienthong.ops.tap import read_topic, record_view

    s = _settings(bootstrap_servers=bootstrap)
    try:
        topic, part, off = position.rsplit("/", 2)
        want = (int(part), int(off))
    except ValueError as exc:
        raise _fail("position must look like dossier.events.dlq/0/42", 2) from exc

    async def run() -> dict[str, Any] | None:
        async for rec in read_topic(s.bootstrap_servers, topic):
            if (rec.partition, rec.offset) == want:
                return record_view(rec)
        return None

    view = asyncio.run(run())
    if view is None:
        raise _fail(f"no record at {position}")
    sys.stdout.write(json.dumps(view, indent=2, ensure_ascii=False) + "\n")


@dlq_app.command("redrive")
def dlq_redrive(
    reason_text: Annotated[str, typer.Option("--why", help="Why you redrive (goes into the audit chain).")],
    topic: Annotated[str | None, typer.Option(help="Main topic (or its .dlq); default all.")] = None,
    dossier: Annotated[str | None, typer.Option(help="Only this dossier code.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this error class (transient, permanent, ...).")] = None,
    since: Annotated[str | None, typer.Option(help="Last failure at/after this ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Last failure before this ISO time.")] = None,
    rate: Annotated[float, typer.Option(help="Records per second at most.")] = 200.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be redriven.")] = False,
    operator: Annotated[str | None, typer.Option(help="Your name (default LIENTHONG_OPERATOR or $USER).")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Republish matching dead letters to their source topic with new ids linked by causation_id.

    Example: lienthong dlq redrive --topic dossier.events --reason retries_exhausted --why "DVCQG back up"
    """
    from lienthong.audit.writer import AuditWriter
    from lienthong.ops.dlq import DlqFilter, collect, redrive, summarise

    s = _settings(bootstrap_servers=bootstrap)
    who = operator or s.operator or os.environ.get("USER") or getpass.getuser()
    flt = DlqFilter(dossier_code=dossier, reason=reason, since_ms=_ms(since), until_ms=_ms(until))

    async def run() -> int:
        records = await collect(s, topic, flt)
        for (src, why), n in sorted(summarise(records).items()):
            out.print(f"{n} from {src} ({why})")
        if dry_run or not records:
            out.print(f"dry run: {len(records)} record(s) would be redriven" if dry_run else "nothing matches")
            return 0
        writer = await AuditWriter.from_dsn(s.resolved_audit_dsn())
        try:
            with Progress(console=err) as progress:
                task = progress.add_task("redriving", total=len(records))
                return await redrive(s, records, operator=who, reason=reason_text, audit=writer, rate_per_s=rate,
                                     progress=lambda n: progress.advance(task, n))  # fmt: skip
        finally:
            await writer.close()

    n = asyncio.run(run())
    if n:
        out.print(f"redriven {n} record(s), recorded in the audit chain as operator {who!r}")


# -- run, demo, config --------------------------------------------------------------------------------


@app.command("run")
def run(
    flows: Annotated[
        str, typer.Option(help="Comma-separated: dossier_sync, kpi, onestop_notices, onestop_events, selftest.")
    ] = "dossier_sync,kpi,onestop_notices",
    sla_watch: Annotated[bool, typer.Option("--sla-watch", help="Also publish SLA alerts to dossier.alerts.")] = False,
    selftest_peer: Annotated[str | None, typer.Option(help="URL the self-test flow POSTs effects to.")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Run workers until SIGINT/SIGTERM (each finishes its batch and commits). `lienthong api` serves HTTP.

    Example: lienthong run --flows dossier_sync,kpi --sla-watch
    """
    from lienthong.app import run_workers

    s = _settings(bootstrap_servers=bootstrap)
    names = [f.strip() for f in flows.split(",") if f.strip()]
    asyncio.run(run_workers(s, names, selftest_peer=selftest_peer, sla_watch=sla_watch))


@app.command("api")
def api(
    host: Annotated[str | None, typer.Option(help="Listen address (default LIENTHONG_HTTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default LIENTHONG_HTTP_PORT).")] = None,
) -> None:
    """Serve the HTTP API: inbound routes, /healthz, /readyz, /metrics, /docs, /asyncapi.json."""
    import uvicorn

    from lienthong.connectors.dvcqg.settings import DvcqgSettings
    from lienthong.connectors.onestop.settings import OnestopSettings

    s = _settings()
    bind = host or s.http_host
    missing = [
        name
        for name, value in (
            ("LIENTHONG_ONESTOP_WEBHOOK_TOKEN", OnestopSettings().webhook_token),
            ("LIENTHONG_DVCQG_PUSH_TOKEN", DvcqgSettings().push_token.get_secret_value()),
        )
        if not value
    ]
    if bind not in ("127.0.0.1", "::1", "localhost") and missing:
        raise _fail(
            f"refusing to serve the inbound routes on {bind} without {' and '.join(missing)}: anyone "
            "reaching the port could forge dossier events. Set them, or listen on 127.0.0.1.",
            2,
        )
    uvicorn.run("lienthong.app:asgi_app", factory=True, host=bind, port=port or s.http_port)


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
    from lienthong.demo import run_selftest_demo
    from lienthong.dossier_demo import run_dossier_demo

    s = _settings(bootstrap_servers=bootstrap, state_dir=state_dir)
    console = err if as_json else out
    embedded = bootstrap is None
    try:
        if selftest:
            run = run_selftest_demo(s, use_embedded=embedded, audit_db=audit_db, messages=300, console=console)
        else:
            run = run_dossier_demo(s, use_embedded=embedded, audit_db=audit_db, dossiers=dossiers, console=console)
        summary = asyncio.run(run)
    except ConfigurationError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    if not summary.get("ok", False):
        raise typer.Exit(1)


@app.command("config")
def config(markdown: Annotated[bool, typer.Option("--markdown", help="The README table.")] = False) -> None:
    """Show the effective settings (LIENTHONG_* environment variables)."""
    if markdown:
        sys.stdout.write(settings_markdown_table() + "\n")
        return
    for k, v in Settings().model_dump().items():
        shown = "***" if ("key" in k or "dsn" in k) and v else v
        out.print(f"LIENTHONG_{k.upper()}={shown}", highlight=False)


def main() -> None:
    """Entry point of the `lienthong` script."""
    app()


if __name__ == "__main__":
    main()
