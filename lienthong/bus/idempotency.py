"""Idempotency store for outbound effects: a key derived from the message is stored with the result.

A duplicate delivery (redelivery after a crash, a replay, a redrive) finds the stored result and makes
no second call to the peer. SQLAlchemy async core: aiosqlite embedded, asyncpg in production.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_meta = MetaData()
effects = Table(
    "idempotency",
    _meta,
    Column("key", String(128), primary_key=True),
    Column("scope", String(64), nullable=False),
    Column("result", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def effect_key(scope: str, *parts: str) -> str:
    """A stable key for an effect: scope (peer + operation) and the message's identity."""
    return f"{scope}:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:48]


def sqlalchemy_url(dsn: str) -> str:
    """lienthong DSN (`sqlite:///p`, `postgresql://...`) to a SQLAlchemy async URL."""
    if dsn.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + dsn.removeprefix("sqlite:///")
    if dsn.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + dsn.split("://", 1)[1]
    raise ValueError(
        f"unsupported DSN scheme {dsn.split(':', maxsplit=1)[0]!r}: use sqlite:///PATH or postgresql://..."
    )


def open_engine(dsn: str) -> tuple[AsyncEngine, bool]:
    """An async engine for a lienthong DSN (creating a SQLite file's folder) and whether it is PostgreSQL."""
    url = sqlalchemy_url(dsn)
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite+aiosqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_async_engine(url), url.startswith("postgresql")


SCHEMA_LOCK_KEY = 0x6C69656E74686F6E  # "lienthon": one advisory lock for every store's schema creation
"""PostgreSQL advisory-lock key taken around `create_all`."""


async def create_tables(engine: AsyncEngine, metadata: MetaData) -> None:
    """Create `metadata`'s missing tables and indexes.

    On PostgreSQL the transaction first takes an advisory lock: workers opening a fresh database at the
    same moment would otherwise race in `create_all` (both see no table, one fails on the duplicate).
    """
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_KEY})
        await conn.run_sync(metadata.create_all)


class IdempotencyStore:
    """Stored results of outbound effects, by key."""

    def __init__(self, dsn: str) -> None:
        self.engine, self._pg = open_engine(dsn)

    async def open(self) -> None:
        """Create the table if missing."""
        await create_tables(self.engine, _meta)

    async def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        """Stored results of the keys that have one."""
        wanted = list(keys)
        if not wanted:
            return {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(effects.c.key, effects.c.result).where(effects.c.key.in_(wanted)))
            return {row[0]: row[1] for row in rows}

    async def put_many(self, scope: str, results: dict[str, str]) -> None:
        """Store results; a key stored already keeps its first result."""
        if not results:
            return
        now = datetime.now(UTC)
        rows = [{"key": k, "scope": scope, "result": v, "created_at": now} for k, v in results.items()]
        stmt = (pg_insert(effects) if self._pg else sqlite_insert(effects)).on_conflict_do_nothing(
            index_elements=["key"]
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def once(self, scope: str, key: str, effect: Callable[[], Awaitable[str]]) -> tuple[str, bool]:
        """Run `effect` unless `key` has a stored result. Returns (result, True if it ran now)."""
        stored = await self.get_many([key])
        if key in stored:
            return stored[key], False
        result = await effect()
        await self.put_many(scope, {key: result})
        return result, True

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()
