"""The ministry endpoint's state: claimed message ids (idempotency of `GuiKetQuaXuLy`) and the dossier view.

`claim()` is the atomic reservation: exactly one of many concurrent identical requests owns a message
id (an insert on the primary key); the others see it `busy` until the owner marks it `done` (published
and audited) or releases it (publish failed). A claim left by a killed process is taken over after
`lease_s` by a compare-and-set on its claim time, so a message is never stuck; the record's id derives
from the message id, so a second publish after such a crash is the same event.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Column, DateTime, MetaData, SmallInteger, String, Table, Text, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lienthong.bus.idempotency import create_tables, open_engine
from lienthong.schemas.ministry import DossierView

_meta = MetaData()
messages = Table(
    "ministry_messages",
    _meta,
    Column("key", String(200), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("state", String(8), nullable=False),
    Column("ce_id", String(64), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
)
views = Table(
    "ministry_dossier_view",
    _meta,
    Column("dossier_code", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("due_at", DateTime(timezone=True)),
    Column("last_step_at", DateTime(timezone=True)),
    Column("last_step_status", SmallInteger),
    Column("last_step_department", Text),
    Column("last_step_content", Text),
    Column("synced_at", DateTime(timezone=True), nullable=False),
)


class Claim(enum.Enum):
    """Result of `MinistryStore.claim`."""

    OWNER = "owner"
    """This request owns the message: publish it, then `done()` (or `release()` on failure)."""
    DONE = "done"
    """Published and audited before: answer as accepted, publish nothing."""
    BUSY = "busy"
    """Another request is publishing it now: wait and claim again."""
    CONFLICT = "conflict"
    """The id was used for a different message: refuse."""


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MinistryStore:
    """SQLAlchemy async core on the `LIENTHONG_SOAP_STATE_DSN` database (aiosqlite or asyncpg)."""

    def __init__(self, dsn: str, *, lease_s: float = 30.0) -> None:
        self.engine, self._pg = open_engine(dsn)
        self.lease = timedelta(seconds=lease_s)

    async def open(self) -> None:
        """Create the tables if missing."""
        await create_tables(self.engine, _meta)

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()

    def _insert(self, table: Table) -> object:
        return (pg_insert if self._pg else sqlite_insert)(table)

    async def claim(self, key: str, digest: str, ce_id: str) -> tuple[Claim, str]:
        """Reserve `key` for a message with content `digest`; (outcome, ce_id of the stored claim)."""
        now = datetime.now(UTC)
        stmt = (pg_insert if self._pg else sqlite_insert)(messages).on_conflict_do_nothing(index_elements=["key"])
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                stmt, {"key": key, "digest": digest, "state": "pending", "ce_id": ce_id, "claimed_at": now}
            )
            if inserted.rowcount == 1:
                return Claim.OWNER, ce_id
            row = (
                await conn.execute(
                    select(messages.c.digest, messages.c.state, messages.c.ce_id, messages.c.claimed_at).where(
                        messages.c.key == key
                    )
                )
            ).one_or_none()
            if row is None:  # released between our insert and select: try again
                return Claim.BUSY, ce_id
            if row[0] != digest:
                return Claim.CONFLICT, row[2]
            if row[1] == "done":
                return Claim.DONE, row[2]
            if _utc(row[3]) > now - self.lease:
                return Claim.BUSY, row[2]
            taken = await conn.execute(
                update(messages)
                .where(messages.c.key == key, messages.c.state == "pending", messages.c.claimed_at == row[3])
                .values(claimed_at=now)
            )
            return (Claim.OWNER if taken.rowcount == 1 else Claim.BUSY), row[2]

    async def done(self, key: str) -> None:
        """The message is durable on the bus and audited."""
        async with self.engine.begin() as conn:
            await conn.execute(update(messages).where(messages.c.key == key).values(state="done"))

    async def release(self, key: str) -> None:
        """Publishing failed: forget the claim so the ministry's next attempt can own it."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(messages).where(messages.c.key == key, messages.c.state == "pending"))

    # -- dossier view ----------------------------------------------------------------------------

    async def save_views(self, items: Iterable[DossierView]) -> None:
        """Upsert views; a stored newer version is never replaced by an older one."""
        rows = [v.model_dump() for v in items]
        if not rows:
            return
        insert = (pg_insert if self._pg else sqlite_insert)(views)
        new = insert.excluded
        cols = ("version", "status", "due_at", "last_step_at", "last_step_status", "last_step_department",
                "last_step_content", "synced_at")  # fmt: skip
        stmt = insert.on_conflict_do_update(
            index_elements=["dossier_code"],
            set_={c: getattr(new, c) for c in cols},
            where=views.c.version <= new.version,
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def view(self, dossier_code: str) -> DossierView | None:
        """The stored view of one dossier, if any."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(views).where(views.c.dossier_code == dossier_code))).mappings().first()
        if row is None:
            return None
        data = dict(row)
        for k in ("due_at", "last_step_at", "synced_at"):
            if data[k] is not None:
                data[k] = _utc(data[k])
        return DossierView(**data)


__all__ = ["Claim", "MinistryStore"]
