"""The audit chain on SQLite and real PostgreSQL: tampering is detected and located; writers never fork."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from lienthong.audit.record import AuditEntry
from lienthong.audit.store import PostgresAuditStore, SqliteAuditStore
from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.cli import app

pytestmark = pytest.mark.integration


def entry(i: int) -> AuditEntry:
    return AuditEntry(flow="dossier_sync", direction="out", peer="dvcqg", outcome="sent",
                      dossier_code=f"000.00.12.H52-250703-{i:04d}", correlation_id=f"c{i}",
                      event_type="DongBoHoSoMC", digest=f"{i:064x}")  # fmt: skip


async def fill(writer: AuditWriter, n: int) -> None:
    for start in range(1, n + 1, 10):
        await writer.append([entry(i) for i in range(start, min(n, start + 9) + 1)])


# Each way of tampering, and the first record verification must name.
TAMPERING = pytest.mark.parametrize(
    ("sql", "broken"),
    [
        (["UPDATE audit_log SET outcome = 'delivered' WHERE seq = 12"], 12),
        (["DELETE FROM audit_log WHERE seq = 17"], 17),
        (
            [
                "UPDATE audit_log SET seq = -1 WHERE seq = 5",
                "UPDATE audit_log SET seq = 5 WHERE seq = 6",
                "UPDATE audit_log SET seq = 6 WHERE seq = -1",
            ],
            5,
        ),
        (["DELETE FROM audit_log WHERE seq > 25"], 26),
    ],
    ids=["edit-field", "delete-record", "swap-two-records", "truncate-tail"],
)


# -- SQLite -------------------------------------------------------------------------------------------


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "audit.db"
    writer = AuditWriter(SqliteAuditStore(path))
    await writer.store.open()
    writer.start()
    await fill(writer, 30)
    await writer.close()
    yield path


def tamper_sqlite(path: Path, *sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_no_update")  # an attacker with the file can drop triggers
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DROP TRIGGER audit_anchor_no_delete")
    for stmt in sql:
        conn.execute(stmt)
    conn.commit()
    conn.close()


async def verify_sqlite(path: Path):
    store = SqliteAuditStore(path)
    await store.open()
    try:
        return await verify_chain(store)
    finally:
        await store.close()


async def test_intact_sqlite_chain_verifies(sqlite_db: Path) -> None:
    result = await verify_sqlite(sqlite_db)
    assert result.ok and result.records == 30


async def test_sqlite_triggers_refuse_update_and_delete(sqlite_db: Path) -> None:
    conn = sqlite3.connect(sqlite_db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET outcome = 'x' WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 3")


@TAMPERING
async def test_sqlite_tampering_is_detected_and_the_first_broken_record_named(
    sqlite_db: Path, sql: list[str], broken: int
) -> None:
    tamper_sqlite(sqlite_db, *sql)
    result = await verify_sqlite(sqlite_db)
    assert not result.ok
    assert result.first_broken_seq == broken


def test_cli_verify_exits_nonzero_and_names_the_record(sqlite_db: Path) -> None:
    tamper_sqlite(sqlite_db, "UPDATE audit_log SET peer = 'evil' WHERE seq = 9")
    result = CliRunner().invoke(app, ["audit", "verify", "--db", str(sqlite_db)])
    assert result.exit_code == 1
    assert "record 9" in result.output


def test_cli_verify_exits_zero_on_intact_chain(sqlite_db: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "verify", "--db", str(sqlite_db)])
    assert result.exit_code == 0, result.output
    assert "30 records" in result.output


async def test_concurrent_sqlite_writers_never_fork_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    writers = []
    for _ in range(3):
        w = AuditWriter(SqliteAuditStore(path))  # separate connections, as separate processes would have
        await w.store.open()
        w.start()
        writers.append(w)
    await asyncio.gather(*(fill(w, 200) for w in writers))
    for w in writers:
        await w.close()
    result = await verify_sqlite(path)
    assert result.ok and result.records == 600


# -- PostgreSQL ---------------------------------------------------------------------------------------


@pytest.fixture
async def pg_audit(pg_dsn: str) -> AsyncIterator[str]:
    """A fresh database with 30 chained records; yields its DSN."""
    name = f"audit_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    dsn = pg_dsn.rsplit("/", 1)[0] + f"/{name}"
    writer = AuditWriter(PostgresAuditStore(dsn))
    await writer.store.open()
    writer.start()
    await fill(writer, 30)
    await writer.close()
    yield dsn


async def verify_pg(dsn: str):
    store = PostgresAuditStore(dsn)
    await store.open()
    try:
        return await verify_chain(store)
    finally:
        await store.close()


async def test_postgres_triggers_refuse_update_delete_and_truncate(pg_audit: str) -> None:
    conn = await asyncpg.connect(pg_audit)
    try:
        for stmt in ("UPDATE audit_log SET outcome = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 1",
                     "TRUNCATE audit_log"):  # fmt: skip
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute(stmt)
    finally:
        await conn.close()
    assert (await verify_pg(pg_audit)).ok


async def test_postgres_insert_only_role_cannot_update(pg_audit: str) -> None:
    from lienthong.audit.store import PG_WRITER_ROLE_SQL

    conn = await asyncpg.connect(pg_audit)
    try:
        await conn.execute(PG_WRITER_ROLE_SQL)
        await conn.execute("SET ROLE lienthong_audit_writer")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE audit_log SET outcome = 'x' WHERE seq = 1")
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 30
    finally:
        await conn.close()


@TAMPERING
async def test_postgres_tampering_is_detected_and_the_first_broken_record_named(
    pg_audit: str, sql: list[str], broken: int
) -> None:
    conn = await asyncpg.connect(pg_audit)
    try:
        # A superuser bypassing the triggers, as a real attacker with DBA rights would.
        await conn.execute("SET session_replication_role = replica")
        for stmt in sql:
            await conn.execute(stmt)
    finally:
        await conn.close()
    result = await verify_pg(pg_audit)
    assert not result.ok
    assert result.first_broken_seq == broken


async def test_concurrent_postgres_writers_never_fork_the_chain(pg_audit: str) -> None:
    writers = []
    for _ in range(3):
        w = AuditWriter(PostgresAuditStore(pg_audit))
        await w.store.open()
        w.start()
        writers.append(w)
    await asyncio.gather(*(fill(w, 100) for w in writers))
    for w in writers:
        await w.close()
    result = await verify_pg(pg_audit)
    assert result.ok and result.records == 330
