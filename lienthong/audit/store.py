"""Append-only audit stores: SQLite (embedded default) and PostgreSQL (production).

Each `append()` is one transaction that takes the store's write lock, reads the chain head *inside*
the transaction and inserts the batch after it, plus one anchor row (seq, hash) so that a cut-off tail
is detectable. Several writer processes can share a store: the lock serialises them and the chain never
forks (a UNIQUE seq would refuse a fork anyway).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from lienthong.audit.record import COLUMNS, GENESIS, AuditRecord, seal, utc_now_text

_COLS = ", ".join(COLUMNS)
_SQL_TABLES = """
CREATE TABLE IF NOT EXISTS audit_log (
  seq BIGINT PRIMARY KEY, at TEXT NOT NULL, flow TEXT NOT NULL, direction TEXT NOT NULL,
  peer TEXT NOT NULL, outcome TEXT NOT NULL, dossier_code TEXT NOT NULL, correlation_id TEXT NOT NULL,
  event_type TEXT NOT NULL, digest TEXT NOT NULL, detail TEXT NOT NULL, body_enc TEXT NOT NULL,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_dossier ON audit_log (dossier_code);
CREATE TABLE IF NOT EXISTS audit_anchor (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, at TEXT NOT NULL);
"""
_SQLITE_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_anchor_no_update BEFORE UPDATE ON audit_anchor
BEGIN SELECT RAISE(ABORT, 'audit anchors are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN SELECT RAISE(ABORT, 'audit anchors are append-only: DELETE refused'); END;
"""
_PG_TRIGGERS = """
CREATE OR REPLACE FUNCTION lienthong_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit log is append-only: % refused on %', TG_OP, TG_TABLE_NAME; END $$;
DO $$ DECLARE t text; BEGIN
  FOREACH t IN ARRAY ARRAY['audit_log', 'audit_anchor'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = t || '_append_only') THEN
      EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW
                      EXECUTE FUNCTION lienthong_audit_refuse()', t || '_append_only', t);
      EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT
                      EXECUTE FUNCTION lienthong_audit_refuse()', t || '_no_truncate', t);
    END IF;
  END LOOP;
END $$;
"""
PG_WRITER_ROLE_SQL = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lienthong_audit_writer') THEN
    CREATE ROLE lienthong_audit_writer NOLOGIN;
  END IF;
END $$;
REVOKE ALL ON audit_log, audit_anchor FROM lienthong_audit_writer;
GRANT SELECT, INSERT ON audit_log, audit_anchor TO lienthong_audit_writer;
"""
"""Creates the insert-only role; grant it to the login role the workers use."""

_LOCK_KEY = 0x6C69656E  # "lien": advisory lock id serialising PostgreSQL writers


class AuditStore(Protocol):
    """What the writer and the verifier need from a backend."""

    async def open(self) -> None:
        """Create tables and triggers if missing."""

    async def append(self, entries: Sequence[tuple[Any, str]]) -> int:
        """Append (entry, body_enc) pairs as one transaction; return the last sequence number."""

    def records(self, from_seq: int = 1, page: int = 5000) -> AsyncIterator[AuditRecord]:
        """Records in sequence order."""

    async def anchors(self) -> list[tuple[int, str]]:
        """(seq, hash) of every committed batch's last record."""

    async def head(self) -> tuple[int, str]:
        """(seq, hash) of the last record, (0, GENESIS) when empty."""

    async def by_dossier(self, dossier_code: str) -> list[AuditRecord]:
        """Every record about one dossier, in sequence order."""

    async def close(self) -> None:
        """Release connections."""


def _seal_batch(entries: Sequence[tuple[Any, str]], seq: int, prev: str) -> list[AuditRecord]:
    at = utc_now_text()
    out: list[AuditRecord] = []
    for entry, body_enc in entries:
        seq += 1
        rec = seal(entry, seq=seq, at=at, prev_hash=prev, body_enc=body_enc)
        prev = rec.hash
        out.append(rec)
    return out


def _row(rec: AuditRecord) -> tuple[Any, ...]:
    return (
        rec.seq, rec.at, rec.flow, rec.direction, rec.peer, rec.outcome, rec.dossier_code,
        rec.correlation_id, rec.event_type, rec.digest, rec.detail, rec.body_enc, rec.prev_hash, rec.hash,
    )  # fmt: skip


class SqliteAuditStore:
    """SQLite store; all I/O on one dedicated thread (sqlite3 connections are not shared)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed batch survives a crash of the machine, not only of the process.
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(_SQL_TABLES + _SQLITE_TRIGGERS)
            self._conn = conn
        return self._conn

    async def open(self) -> None:
        """Create the file, tables and triggers."""
        await self._run(self._connect)

    def _append(self, entries: Sequence[tuple[Any, str]]) -> int:
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")  # the write lock, before reading the head
        try:
            row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
            recs = _seal_batch(entries, seq, prev)
            conn.executemany(
                f"INSERT INTO audit_log ({_COLS}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [_row(r) for r in recs],
            )
            last = recs[-1]
            conn.execute("INSERT INTO audit_anchor VALUES (?, ?, ?)", (last.seq, last.hash, last.at))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return last.seq

    async def append(self, entries: Sequence[tuple[Any, str]]) -> int:
        """Append a batch in one transaction."""
        return int(await self._run(self._append, entries))

    def _page(self, from_seq: int, page: int) -> list[AuditRecord]:
        cur = self._connect().execute(
            f"SELECT {_COLS} FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?", (from_seq, page)
        )
        return [AuditRecord(*r) for r in cur.fetchall()]

    async def records(self, from_seq: int = 1, page: int = 5000) -> AsyncIterator[AuditRecord]:
        """Records in sequence order, fetched a page at a time."""
        while True:
            rows: list[AuditRecord] = await self._run(self._page, from_seq, page)
            for r in rows:
                yield r
            if len(rows) < page:
                return
            from_seq = rows[-1].seq + 1

    async def anchors(self) -> list[tuple[int, str]]:
        """Committed batch anchors."""

        def q() -> list[tuple[int, str]]:
            return [(int(a), str(b)) for a, b in self._connect().execute(
                "SELECT seq, hash FROM audit_anchor ORDER BY seq")]  # fmt: skip

        return list(await self._run(q))

    async def head(self) -> tuple[int, str]:
        """Last (seq, hash)."""

        def q() -> tuple[int, str]:
            r = self._connect().execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            return (int(r[0]), str(r[1])) if r else (0, GENESIS)

        head: tuple[int, str] = await self._run(q)
        return head

    async def by_dossier(self, dossier_code: str) -> list[AuditRecord]:
        """A dossier's records."""

        def q() -> list[AuditRecord]:
            cur = self._connect().execute(
                f"SELECT {_COLS} FROM audit_log WHERE dossier_code = ? ORDER BY seq", (dossier_code,)
            )
            return [AuditRecord(*r) for r in cur.fetchall()]

        return list(await self._run(q))

    async def close(self) -> None:
        """Close the connection and the thread."""

        def c() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._run(c)
        self._pool.shutdown(wait=True)


class PostgresAuditStore:
    """PostgreSQL store (asyncpg). Writers serialise on a transaction-scoped advisory lock."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._pool: Any = None

    async def open(self) -> None:
        """Connect, create tables and the append-only triggers."""
        import asyncpg

        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)
        async with self._pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass('audit_anchor') IS NOT NULL"):
                return  # schema in place: an insert-only role must not (and need not) run DDL
            await conn.execute(f"SELECT pg_advisory_lock({_LOCK_KEY})")
            try:
                await conn.execute(_SQL_TABLES)
                await conn.execute(_PG_TRIGGERS)
            finally:
                await conn.execute(f"SELECT pg_advisory_unlock({_LOCK_KEY})")

    async def append(self, entries: Sequence[tuple[Any, str]]) -> int:
        """Append a batch in one transaction under the writers' lock."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
            row = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            seq, prev = (int(row["seq"]), str(row["hash"])) if row else (0, GENESIS)
            recs = _seal_batch(entries, seq, prev)
            await conn.copy_records_to_table("audit_log", records=[_row(r) for r in recs], columns=COLUMNS)
            last = recs[-1]
            await conn.execute("INSERT INTO audit_anchor VALUES ($1, $2, $3)", last.seq, last.hash, last.at)
        return last.seq

    async def records(self, from_seq: int = 1, page: int = 5000) -> AsyncIterator[AuditRecord]:
        """Records in sequence order."""
        while True:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT {_COLS} FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2", from_seq, page
                )
            for r in rows:
                yield AuditRecord(*r)
            if len(rows) < page:
                return
            from_seq = int(rows[-1]["seq"]) + 1

    async def anchors(self) -> list[tuple[int, str]]:
        """Committed batch anchors."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT seq, hash FROM audit_anchor ORDER BY seq")
        return [(int(r[0]), str(r[1])) for r in rows]

    async def head(self) -> tuple[int, str]:
        """Last (seq, hash)."""
        async with self._pool.acquire() as conn:
            r = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        return (int(r[0]), str(r[1])) if r else (0, GENESIS)

    async def by_dossier(self, dossier_code: str) -> list[AuditRecord]:
        """A dossier's records."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT {_COLS} FROM audit_log WHERE dossier_code = $1 ORDER BY seq", dossier_code)
        return [AuditRecord(*r) for r in rows]

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()


def open_store(dsn: str) -> AuditStore:
    """A store for `sqlite:///path` or `postgresql://...` (not yet opened)."""
    if dsn.startswith("sqlite:///"):
        return SqliteAuditStore(dsn.removeprefix("sqlite:///"))
    if dsn.startswith(("postgresql://", "postgres://")):
        return PostgresAuditStore(dsn)
    raise ValueError(f"unsupported audit DSN {dsn.split(':', maxsplit=1)[0]!r}: use sqlite:///PATH or postgresql://...")
