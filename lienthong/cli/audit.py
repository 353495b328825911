"""`lienthong audit`: verify the hash chain, trace one dossier."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lienthong.cli._shared import audit_app, err, fail, out
from lienthong.settings import Settings


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
        raise fail(f"no audit records for dossier {dossier_code}")
    if as_json:
        for r in records:
            sys.stdout.write(json.dumps({k: getattr(r, k) for k in ("seq", "at", "flow", "direction", "peer",
                                        "outcome", "event_type", "correlation_id", "detail")}) + "\n")  # fmt: skip
        return
    t = Table("seq", "at", "flow", "direction", "peer", "outcome", "event", "detail", title=dossier_code)
    for r in records:
        t.add_row(str(r.seq), r.at, r.flow, r.direction, r.peer, r.outcome, r.event_type, r.detail[:60])
    out.print(t)
