"""`lienthong tap` and `lienthong dlq`: read topics, inspect and redrive dead letters."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import Progress
from rich.table import Table

from lienthong.cli._shared import Bootstrap, app, dlq_app, err, fail, ms_of, out, require_broker, settings_from


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

    s = settings_from(bootstrap_servers=bootstrap)
    require_broker(s.bootstrap_servers)

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
        raise fail(str(exc), 1) from exc


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str | None, typer.Option(help="Main topic (or its .dlq); default all.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object: counts and each dead letter's position.")
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Count dead letters by source topic and reason (`--json`: also each one's position for `dlq show`).

    Example: lienthong dlq list --topic dossier.events --json
    """
    from lienthong.ops.dlq import DlqFilter, collect, dead_letter_view, summarise

    s = settings_from(bootstrap_servers=bootstrap)
    require_broker(s.bootstrap_servers)
    records = asyncio.run(collect(s, topic, DlqFilter()))
    if as_json:
        doc = {
            "total": len(records),
            "by_source": [{"source_topic": src, "reason": why, "count": n}
                          for (src, why), n in sorted(summarise(records).items())],
            "records": [dead_letter_view(r) for r in records],
        }  # fmt: skip
        sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        return
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
    """Show one dead letter decoded: error headers, original headers, payload (personal data masked).

    Example: lienthong dlq show dossier.events.dlq/0/42
    """
    from lienthong.ops.tap import read_topic, record_view

    s = settings_from(bootstrap_servers=bootstrap)
    try:
        topic, part, off = position.rsplit("/", 2)
        want = (int(part), int(off))
    except ValueError as exc:
        raise fail("position must look like dossier.events.dlq/0/42", 2) from exc
    require_broker(s.bootstrap_servers)

    async def run() -> dict[str, Any] | None:
        async for rec in read_topic(s.bootstrap_servers, topic):
            if (rec.partition, rec.offset) == want:
                return record_view(rec)
        return None

    view = asyncio.run(run())
    if view is None:
        raise fail(f"no record at {position}; `lienthong dlq list --json` shows the positions", 1)
    sys.stdout.write(json.dumps(view, indent=2, ensure_ascii=False) + "\n")


MAX_PATCH_BYTES = 1_048_576
"""Largest JSON Patch file `dlq redrive --patch` reads."""


@dlq_app.command("redrive")
def dlq_redrive(
    reason_text: Annotated[str, typer.Option("--why", help="Why you redrive (goes into the audit chain).")],
    topic: Annotated[str | None, typer.Option(help="Main topic (or its .dlq); default all.")] = None,
    dossier: Annotated[str | None, typer.Option(help="Only this dossier code.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this error class (transient, permanent, ...).")] = None,
    since: Annotated[str | None, typer.Option(help="Last failure at/after this ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Last failure before this ISO time.")] = None,
    position: Annotated[
        str | None, typer.Option(help="Only the dead letter at TOPIC.dlq/PARTITION/OFFSET (`dlq list --json`).")
    ] = None,
    patch: Annotated[
        Path | None,
        typer.Option("--patch", help="RFC 6902 JSON Patch file applied to each payload before it is redriven."),
    ] = None,
    rate: Annotated[float, typer.Option(help="Records per second at most.")] = 200.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be redriven.")] = False,
    operator: Annotated[str | None, typer.Option(help="Your name (default LIENTHONG_OPERATOR or $USER).")] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Republish matching dead letters to their source topic with new ids linked by causation.

    With --patch, each payload is edited with the JSON Patch first (checked on every record before any is
    published); the audit chain keeps the original's digest, the patch, the operator and the reason.
    Example: lienthong dlq redrive --position dossier.events.dlq/0/42 --patch fix.json --why "wrong status"
    """
    from lienthong.audit.writer import AuditWriter
    from lienthong.ops.dlq import DlqFilter, PatchError, collect, load_patch, redrive, redrive_record, summarise

    s = settings_from(bootstrap_servers=bootstrap)
    who = operator or s.operator or os.environ.get("USER") or getpass.getuser()
    if position is not None and position.count("/") < 2:
        raise fail("--position must look like dossier.events.dlq/0/42")
    flt = DlqFilter(dossier_code=dossier, reason=reason, since_ms=ms_of(since), until_ms=ms_of(until, "--until"),
                    position=position)  # fmt: skip
    edit = None
    if patch is not None:
        try:
            if patch.stat().st_size > MAX_PATCH_BYTES:
                raise fail(f"--patch {patch}: larger than {MAX_PATCH_BYTES} bytes; a patch edits a few fields")
            edit = load_patch(patch.read_text(encoding="utf-8"))
        except OSError as exc:
            raise fail(f"--patch {patch}: cannot read it ({exc.strerror})") from None
        except PatchError as exc:
            raise fail(f"--patch {patch}: {exc}") from None
    if topic is None and position is not None:
        topic = position.rsplit("/", 2)[0]
    require_broker(s.bootstrap_servers)

    async def run() -> int:
        records = await collect(s, topic, flt)
        for (src, why), n in sorted(summarise(records).items()):
            out.print(f"{n} from {src} ({why})")
        if edit is not None:
            try:
                for r in records:
                    redrive_record(r, edit)
            except PatchError as exc:
                raise fail(f"nothing redriven: {exc}") from None
        if dry_run or not records:
            out.print(f"dry run: {len(records)} record(s) would be redriven" if dry_run else "nothing matches")
            return 0
        writer = await AuditWriter.from_dsn(s.resolved_audit_dsn())
        try:
            with Progress(console=err) as progress:
                task = progress.add_task("redriving", total=len(records))
                return await redrive(s, records, operator=who, reason=reason_text, audit=writer, rate_per_s=rate,
                                     progress=lambda n: progress.advance(task, n), patch=edit)  # fmt: skip
        finally:
            await writer.close()

    n = asyncio.run(run())
    if n:
        edited = " (edited with the patch)" if edit is not None else ""
        out.print(f"redriven {n} record(s){edited}, recorded in the audit chain as operator {who!r}")
