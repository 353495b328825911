"""`lienthong replay`: re-run a time window of a topic through a flow's handler (an audited operator action)."""

from __future__ import annotations

import asyncio
import difflib
import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lienthong.cli._shared import CHECK_FAILED, Bootstrap, app, err, fail, iso_time, out, require_broker, settings_from
from lienthong.settings import Settings

if TYPE_CHECKING:
    from lienthong.ops.replay import ReplayReport, ReplayWindow


def resolve_flow(topic: str, flow: str | None) -> str:
    """The flow whose handler replays `topic`: the given one (checked) or the only one consuming it."""
    from lienthong.app import all_flows
    from lienthong.bus.selftest import TOPIC as SELFTEST_TOPIC

    main = topic.removesuffix(".retry")
    topics = {name: spec.topic for name, spec in all_flows().items()}
    topics["selftest"] = SELFTEST_TOPIC
    if flow is not None:
        if flow not in topics:
            close = difflib.get_close_matches(flow, list(topics), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise fail(f"unknown flow {flow!r}.{hint} Known flows: {', '.join(topics)}")
        if topics[flow] != main:
            raise fail(f"flow {flow!r} consumes {topics[flow]}, not {main}: pick a flow of that topic "
                       f"({', '.join(n for n, t in topics.items() if t == main) or 'none'})")  # fmt: skip
        return flow
    candidates = [n for n, t in topics.items() if t == main]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise fail(f"no flow consumes {main}; `lienthong connectors` lists the flows and their topics")
    raise fail(f"several flows consume {main} ({', '.join(candidates)}): choose one with --flow")


@app.command("replay")
def replay_command(
    topic: Annotated[str, typer.Option("--topic", help="Topic to read (a main topic or its .retry).")],
    since: Annotated[str, typer.Option("--since", help="Window start, ISO 8601 (record timestamps, inclusive).")],
    until: Annotated[str, typer.Option("--until", help="Window end, ISO 8601 (exclusive).")],
    reason_text: Annotated[str, typer.Option("--why", help="Why you replay (goes into the audit chain).")],
    dossier: Annotated[str | None, typer.Option("--dossier", help="Only this dossier code (ce_subject).")] = None,
    flow: Annotated[
        str | None, typer.Option("--flow", help="Flow whose handler runs (default: the only flow of the topic).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be replayed.")] = False,
    rate: Annotated[float, typer.Option("--rate", help="Records per second at most (0 = no limit).")] = 500.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as one JSON object.")] = False,
    operator: Annotated[str | None, typer.Option(help="Your name (default LIENTHONG_OPERATOR or $USER).")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Re-run a window of a topic through a flow's handler (not the live consumer group).

    Effects are idempotent, so records already delivered are counted as `skipped` and nothing is applied
    twice; `applied` counts effects made now. The replay (who, why, window, counts) is an operator action in
    the audit chain. Exit 1 when some records still failed (they stay on the topic; replay again).
    Example: lienthong replay --topic dossier.events --flow dossier_sync --since 2025-07-03T08:00+07:00
    --until 2025-07-03T12:00+07:00 --why "DVCQG lost updates" --dry-run
    """
    from lienthong.ops.replay import ReplayWindow, list_window

    if rate < 0:
        raise fail(f"--rate {rate}: give records per second (0 = no limit)")
    start, end = iso_time(since, "--since"), iso_time(until, "--until")
    if end <= start:
        raise fail(f"--until {until} is not after --since {since}")
    window = ReplayWindow(topic, int(start.timestamp() * 1000), int(end.timestamp() * 1000), dossier)
    s = settings_from(bootstrap_servers=bootstrap)
    name = resolve_flow(topic, flow)
    who = operator or s.operator or os.environ.get("USER") or getpass.getuser()
    require_broker(s.bootstrap_servers)

    if dry_run:
        try:
            rows = asyncio.run(list_window(s.bootstrap_servers, window))
        except LookupError as exc:
            raise fail(str(exc)) from exc
        if as_json:
            doc = {"dry_run": True, "flow": name, "read": len(rows), "applied": 0, "skipped": 0, "records": rows}
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
            return
        t = Table("position", "time (ms)", "dossier", "type", title=f"would replay through {name}")
        for r in rows:
            t.add_row(str(r["position"]), str(r["timestamp_ms"]), str(r["dossier_code"]), str(r["ce_type"]))
        out.print(t)
        out.print(f"dry run: {len(rows)} record(s) would be replayed through {name}")
        return

    report = asyncio.run(_run(s, window, name, who, reason_text, rate))
    counts = report.as_dict()
    if as_json:
        sys.stdout.write(json.dumps({"flow": name, "topic": topic, **counts}) + "\n")
    else:
        out.print(f"replayed {report.read} record(s) through {name}: {report.applied} applied, "
                  f"{report.skipped} skipped as already applied, {report.rejected} rejected, {report.failed} failed; "
                  f"recorded in the audit chain as operator {who!r}")  # fmt: skip
    if report.failed:
        raise typer.Exit(CHECK_FAILED)


async def _run(settings: Settings, window: ReplayWindow, name: str, who: str, why: str, rate: float) -> ReplayReport:
    from lienthong.app import build_flow
    from lienthong.audit.writer import AuditWriter
    from lienthong.bus.idempotency import IdempotencyStore
    from lienthong.connectors.base import FlowContext
    from lienthong.ops.replay import replay

    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn(), encryption_key=settings.audit_encryption_key)
    idem = IdempotencyStore(settings.resolved_idempotency_dsn())
    try:
        await idem.open()
        flow, close = await build_flow(settings, name, ctx=FlowContext(idempotency=idem, audit=audit))
        try:
            with Progress(SpinnerColumn(), TextColumn("replaying {task.completed} record(s)"), TimeElapsedColumn(),
                          console=err, transient=True) as progress:  # fmt: skip
                task = progress.add_task("replay", total=None)
                report = await replay(
                    settings, window, flow, operator=who, reason=why, audit=audit, rate_per_s=rate,
                    progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
        except LookupError as exc:
            raise fail(str(exc)) from exc
        finally:
            await close()
    finally:
        await idem.close()
        await audit.close()
    return report
