"""The DVCQG sync state: what the portal holds of each dossier as far as lienthong knows (the version guard).

Table `dvcqg_sync_state`, one row per dossier: the last version the portal accepted with its status and
steps, and `pending_version`, a higher version whose send may have reached the portal without an answer
(an ambiguous timeout). SQLAlchemy async core: aiosqlite embedded, asyncpg in production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    case,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lienthong.bus.idempotency import create_tables, open_engine
from lienthong.mappings.dvcqg_sync import SyncState

__all__ = ["SyncState", "SyncStateStore", "sync_state"]

_meta = MetaData()
sync_state = Table(
    "dvcqg_sync_state",
    _meta,
    Column("dossier_code", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("steps_synced", Integer, nullable=False),
    Column("steps_key", String(64), nullable=False),
    Column("synced_at", DateTime(timezone=True), nullable=False),
    Column("pending_version", BigInteger, nullable=True),
)
"""The table; `version` -1 marks a dossier with only a pending (unconfirmed) send."""


def _columns(conn: Connection) -> set[str]:
    return {column["name"] for column in inspect(conn).get_columns("dvcqg_sync_state")}


class SyncStateStore:
    """The `dvcqg_sync_state` table behind a DSN (`sqlite:///PATH` or `postgresql://...`)."""

    def __init__(self, dsn: str) -> None:
        self.engine, self._pg = open_engine(dsn)

    async def open(self) -> None:
        """Create the table if missing; add `pending_version` to a table made by an older release."""
        await create_tables(self.engine, _meta)
        async with self.engine.begin() as conn:
            columns = await conn.run_sync(_columns)
            if "pending_version" not in columns:
                exists = " IF NOT EXISTS" if self._pg else ""  # concurrent openers on PostgreSQL
                await conn.execute(text(f"ALTER TABLE dvcqg_sync_state ADD COLUMN{exists} pending_version BIGINT"))

    async def load(self, codes: Iterable[str]) -> dict[str, SyncState]:
        """Stored state of those of `codes` that have one (one query)."""
        wanted = list(codes)
        if not wanted:
            return {}
        c = sync_state.c
        query = select(c.dossier_code, c.version, c.status, c.steps_synced, c.steps_key, c.pending_version).where(
            c.dossier_code.in_(wanted)
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return {row[0]: SyncState(row[1], row[2], row[3], row[4], row[5]) for row in rows}

    async def save(self, states: Mapping[str, SyncState]) -> None:
        """Upsert confirmed states in one statement; a stored newer version is never overwritten by an
        older one, and a pending version is cleared once a version at least as high is confirmed."""
        if not states:
            return
        now = datetime.now(UTC)
        rows = [
            {"dossier_code": code, "version": s.version, "status": s.status, "steps_synced": s.steps_synced,
             "steps_key": s.steps_key, "synced_at": now, "pending_version": None}
            for code, s in states.items()
        ]  # fmt: skip
        insert = (pg_insert if self._pg else sqlite_insert)(sync_state)
        new, t = insert.excluded, sync_state.c
        stmt = insert.on_conflict_do_update(
            index_elements=["dossier_code"],
            set_={"version": new.version, "status": new.status, "steps_synced": new.steps_synced,
                  "steps_key": new.steps_key, "synced_at": new.synced_at,
                  "pending_version": case((t.pending_version > new.version, t.pending_version), else_=None)},
            where=t.version <= new.version,
        )  # fmt: skip
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def mark_pending(self, pending: Mapping[str, int]) -> None:
        """Record sends that may have reached the portal unanswered (`code -> version`), keeping the highest;
        a dossier never confirmed gets a placeholder row with version -1."""
        if not pending:
            return
        now = datetime.now(UTC)
        rows = [
            {"dossier_code": code, "version": -1, "status": 0, "steps_synced": 0, "steps_key": "", "synced_at": now,
             "pending_version": v}
            for code, v in pending.items()
        ]  # fmt: skip
        insert = (pg_insert if self._pg else sqlite_insert)(sync_state)
        new, t = insert.excluded, sync_state.c
        stmt = insert.on_conflict_do_update(
            index_elements=["dossier_code"],
            set_={"pending_version": case(
                (t.pending_version.is_(None), new.pending_version),
                (t.pending_version < new.pending_version, new.pending_version),
                else_=t.pending_version,
            )},
            where=t.version < new.pending_version,
        )  # fmt: skip
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()
