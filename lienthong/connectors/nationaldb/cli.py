"""`lienthong lookups log`: who looked at this citizen's (or dossier's) data, and why."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer

app = typer.Typer(help="Registry look-ups: the purpose log.", no_args_is_help=True)


def _matches(rec: Any, detail: dict[str, Any], *, dossier: str | None, officer: str | None,
             since: datetime | None, subjects: set[str]) -> bool:  # fmt: skip
    if dossier and rec.dossier_code != dossier:
        return False
    if officer and detail.get("officer") != officer:
        return False
    if since is not None and datetime.fromisoformat(rec.at.replace("Z", "+00:00")) < since:
        return False
    return not subjects or detail.get("subject") in subjects


@app.command("log")
def log_command(
    citizen: Annotated[
        str | None, typer.Argument(help="Personal ID (or tax code) looked at; matched by keyed hash, never stored.")
    ] = None,
    dossier: Annotated[str | None, typer.Option("--dossier", help="Only look-ups for this dossier code.")] = None,
    officer: Annotated[str | None, typer.Option("--officer", help="Only look-ups by this officer (MaCanBo).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only look-ups at or after this ISO time.")] = None,
    citizen_opt: Annotated[str | None, typer.Option("--citizen", help="Same as the CITIZEN argument.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    dsn: Annotated[str | None, typer.Option("--dsn", help="Audit store DSN (default: LIENTHONG_AUDIT_DSN).")] = None,
) -> None:
    """Who looked up what, when and why. Example: lienthong lookups log 052099012345 --since 2025-07-01"""
    from lienthong.audit.store import open_store
    from lienthong.connectors.nationaldb.policy import hash_key, subject_hash
    from lienthong.connectors.nationaldb.service import FLOW
    from lienthong.connectors.nationaldb.settings import LookupSettings
    from lienthong.schemas.lookup import Register
    from lienthong.settings import Settings

    settings = Settings()
    who = citizen or citizen_opt
    key = hash_key(LookupSettings().hash_key.get_secret_value(), settings.state_dir)
    subjects = {subject_hash(key, r, who.strip()) for r in Register} if who else set()
    try:
        when = datetime.fromisoformat(since) if since else None
    except ValueError:
        sys.stderr.write("--since must be an ISO 8601 time, e.g. 2025-07-01T00:00:00+07:00\n")
        raise typer.Exit(2) from None
    if when is not None and when.tzinfo is None:
        from lienthong.mappings.wire import VN_TZ

        when = when.replace(tzinfo=VN_TZ)

    async def scan() -> list[dict[str, Any]]:
        store = open_store(dsn or settings.resolved_audit_dsn())
        await store.open()
        found: list[dict[str, Any]] = []
        try:
            async for rec in store.records():
                if rec.flow != FLOW:
                    continue
                detail = json.loads(rec.detail) if rec.detail else {}
                if _matches(rec, detail, dossier=dossier, officer=officer, since=when, subjects=subjects):
                    found.append({
                        "seq": rec.seq, "at": rec.at, "register": rec.peer, "outcome": rec.outcome,
                        "officer": detail.get("officer", ""), "procedure": detail.get("procedure", ""),
                        "dossier": rec.dossier_code, "legal_basis": detail.get("legal_basis", ""),
                        "fields": detail.get("fields", []), "channel": detail.get("channel", ""),
                        "reason": detail.get("reason", ""),
                    })  # fmt: skip
        finally:
            await store.close()
        return found

    rows = asyncio.run(scan())
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("at", "officer", "register", "outcome", "procedure", "dossier", "legal basis", "fields",
                  title=f"{len(rows)} look-up(s)")  # fmt: skip
    for r in rows:
        table.add_row(r["at"], r["officer"], r["register"], r["outcome"], r["procedure"], r["dossier"],
                      r["legal_basis"], ", ".join(r["fields"]))  # fmt: skip
    Console().print(table)


__all__ = ["app"]
