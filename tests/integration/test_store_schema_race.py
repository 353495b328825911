"""Workers opening a fresh PostgreSQL database at the same moment all start (no `create_all` race)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from lienthong.bus.idempotency import IdempotencyStore
from lienthong.connectors.dvcqg.worker import SyncStateStore
from lienthong.kpi.store import KpiStore

pytestmark = pytest.mark.integration

OPENERS = 8


@pytest.fixture
async def fresh_db(pg_dsn: str) -> AsyncIterator[str]:
    """A new, empty database on the test cluster; dropped afterwards."""
    name = f"race_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = pg_dsn.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(pg_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.mark.parametrize("store_class", [IdempotencyStore, SyncStateStore, KpiStore], ids=lambda c: c.__name__)
async def test_concurrent_openers_of_a_fresh_database_all_succeed(fresh_db: str, store_class: type) -> None:
    stores = [store_class(fresh_db) for _ in range(OPENERS)]
    try:
        results = await asyncio.gather(*(s.open() for s in stores), return_exceptions=True)
        failures = [type(r).__name__ for r in results if isinstance(r, BaseException)]
        assert failures == []
    finally:
        for s in stores:
            await s.close()
