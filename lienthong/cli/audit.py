"""`lienthong audit`: verify the hash chain, trace one dossier."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lienthong.audit.redact import mask_text
from lienthong.cli._shared import audit_app, err, fail, out
from lienthong.settings import Settings

if TYPE_CHECKING:
    from lienthong.audit.store import AuditStore


def _audit_dsn(db: Path | None, dsn: str | None) -> str:
    """The DSN the options name, checked: a supported scheme, and an existing file for SQLite."""
    found = f"sqlite:///{db}" if db is not None else dsn or Settings().resolved_audit_dsn()
    scheme = found.split(":", 1)[0] if ":" in found else found[:20]
    if not found.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise fail(f"unsupported audit DSN scheme {scheme!r}: use --db PATH, --dsn sqlite:///PATH or "
                   "--dsn postgresql://USER@HOST/DB")  # fmt: skip
    if found.startswith("sqlite:///") and not Path(found.removeprefix("sqlite:///")).is_file():
        raise fail(f"no audit store at {found.removeprefix('sqlite:///')}: check --db/--dsn or LIENTHONG_AUDIT_DSN")
    return found


async def _open(dsn: str) -> AuditStore:
    """The audit store at `dsn`, opened; a CliError (one line, exit 2) when it cannot be."""
    from sqlalchemy.exc import SQLAlchemyError

    from lienthong.audit.store import open_store

    store = open_store(dsn)
    try:
        await store.open()
    except (OSError, SQLAlchemyError, ValueError) as exc:
        where = redact_dsn(dsn)
        raise fail(f"cannot open the audit store at {where} ({type(exc).__name__}: {mask_text(str(exc))[:160]}); "
                   "check the DSN, the server and the credentials") from None  # fmt: skip
    except Exception as exc:  # asyncpg's own errors (bad password, missing database) are not OSErrors
        where = redact_dsn(dsn)
        raise fail(f"cannot open the audit store at {where} ({type(exc).__name__}); "
                   "check the DSN, the server and the credentials") from None  # fmt: skip
    return store


def redact_dsn(dsn: str) -> str:
    """A DSN with its password hidden, for error lines."""
    scheme, sep, rest = dsn.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{creds}{at}{host}"


@audit_app.command("verify")
def audit_verify(
    db: Annotated[Path | None, typer.Option("--db", help="SQLite audit file.")] = None,
    dsn: Annotated[str | None, typer.Option("--dsn", help="postgresql://... or sqlite:///...")] = None,
    expect_head: Annotated[str | None, typer.Option(help="SEQ:HASH kept elsewhere that the chain must reach.")] = None,
) -> None:
    """Walk the hash chain; exit 0 when intact, 1 naming the first broken record.

    Example: lienthong audit verify --dsn postgresql://auditor@db/lienthong --expect-head 1234:9f2c...
    """
    from lienthong.audit.verify import verify_chain

    head = None
    if expect_head:
        seq, _, h = expect_head.partition(":")
        if not (seq.isdecimal() and h):
            raise fail("--expect-head must be SEQ:HASH as the last `audit verify` printed, e.g. 1234:9f2c...")
        head = (int(seq), h)

    where = _audit_dsn(db, dsn)

    async def run() -> Any:
        store = await _open(where)
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
    """Print one dossier's timeline across flows.

    Example: lienthong audit trace 000.00.12.H52-250703-0042
    """

    where = _audit_dsn(db, dsn)

    async def run() -> list[Any]:
        store = await _open(where)
        try:
            return await store.by_dossier(dossier_code)
        finally:
            await store.close()

    records = asyncio.run(run())
    if not records:
        raise fail(f"no audit records for dossier {dossier_code}; check the code, or --db/--dsn", 1)
    if as_json:
        for r in records:
            sys.stdout.write(json.dumps({k: getattr(r, k) for k in ("seq", "at", "flow", "direction", "peer",
                                        "outcome", "event_type", "correlation_id", "detail")}) + "\n")  # fmt: skip
        return
    t = Table("seq", "at", "flow", "direction", "peer", "outcome", "event", "detail", title=dossier_code)
    for r in records:
        t.add_row(str(r.seq), r.at, r.flow, r.direction, r.peer, r.outcome, r.event_type, r.detail[:60])
    out.print(t)
