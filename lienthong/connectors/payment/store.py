"""Payment records: one row per `MaThamChieu`, settled once.

The state moves `pending` -> `paid` or `failed` by one conditional UPDATE (`... WHERE state = 'pending'`),
so two concurrent identical callbacks, or a callback racing a `QUERY` answer, record the payment once:
exactly one of them sees its UPDATE change a row. `published` is the outbox flag of the settling event
(`payment.confirmed` / `payment.failed`): set only after the event is durable on the bus, so a crash
between recording and publishing leaves `published = false`, and reconciliation publishes it again
with the same deterministic `ce_id`.

SQLAlchemy async core, like `lienthong.bus.idempotency`: SQLite embedded, PostgreSQL in production
(schema creation under the shared advisory lock). Times are epoch milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping

from lienthong.bus.idempotency import create_tables, open_engine
from lienthong.schemas.payment import FeeLine, PaymentChannel, PaymentState

_meta = MetaData()
payments = Table(
    "payments",
    _meta,
    Column("reference", String(64), primary_key=True),
    Column("dossier_code", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("amount_vnd", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("fees", Text, nullable=False),
    Column("pay_url", Text),
    Column("created_ms", BigInteger, nullable=False),
    Column("initiated_ms", BigInteger),
    Column("settled_ms", BigInteger),
    Column("confirmed_by", String(16)),
    Column("transaction_id", String(255)),
    Column("bank_code", String(255)),
    Column("paid_at", String(40)),
    Column("reason", Text),
    Column("receipt_ref", String(255)),
    Column("answer", Text),
    Column("callback_digest", String(64)),
    Column("paused_at", String(40)),
    Column("previous_due_at", String(40)),
    Column("published", Boolean, nullable=False, default=False),
    Index("ix_payments_dossier", "dossier_code"),
    Index("ix_payments_state_created", "state", "created_ms"),
)


def _sqlite_wal(dbapi_conn: Any, _: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def now_ms() -> int:
    """Current epoch milliseconds."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    """One payment as stored."""

    reference: str
    """`MaThamChieu`."""
    dossier_code: str
    """`MaHoSo`."""
    attempt: int
    """Attempt number for the dossier."""
    channel: PaymentChannel
    """Online or counter."""
    state: PaymentState
    """pending, paid or failed."""
    amount_vnd: int
    """Amount initiated, whole dong."""
    currency: str
    """`MaTienTe`."""
    fees: tuple[FeeLine, ...]
    """Fee lines (no personal data)."""
    created_ms: int
    """When the record was made."""
    pay_url: str | None = None
    """`UrlThanhToan` once `INIT` succeeded."""
    initiated_ms: int | None = None
    """When `INIT` succeeded."""
    settled_ms: int | None = None
    """When it became paid or failed."""
    confirmed_by: str | None = None
    """callback, query or counter."""
    transaction_id: str | None = None
    """`MaGiaoDich`."""
    bank_code: str | None = None
    """`MaNganHang`."""
    paid_at: str | None = None
    """`ThoiGianGD` of the payment, ISO 8601."""
    reason: str | None = None
    """Why it failed."""
    receipt_ref: str | None = None
    """The e-receipt reference from `GET_BILL`."""
    answer: str | None = None
    """The signed answer given to the callback that settled it (returned unchanged to an exact repeat)."""
    callback_digest: str | None = None
    """SHA-256 of the settling callback's signed fields (recognises an exact repeat)."""
    paused_at: str | None = None
    """When the dossier's clock paused for this payment, ISO 8601."""
    previous_due_at: str | None = None
    """The dossier's due date during the pause, ISO 8601."""
    published: bool = False
    """The settling event is durable on the bus."""

    def as_json(self) -> dict[str, Any]:
        """A JSON-able view (for `payments show --json`, `list --json`)."""
        out = {k: getattr(self, k) for k in self.__slots__}
        out["fees"] = [f.model_dump() for f in self.fees]
        out["channel"], out["state"] = self.channel.value, self.state.value
        return out


def _record(row: RowMapping) -> PaymentRecord:
    data = dict(row)
    data["fees"] = tuple(FeeLine.model_validate(f) for f in orjson.loads(data["fees"]))
    data["channel"] = PaymentChannel(data["channel"])
    data["state"] = PaymentState(data["state"])
    data["published"] = bool(data["published"])
    return PaymentRecord(**data)


class PaymentStore:
    """The payment records of one deployment (the API and every payment worker share it)."""

    def __init__(self, dsn: str) -> None:
        self.engine, self._pg = open_engine(dsn)
        if not self._pg:
            # WAL with synchronous=NORMAL: a commit appends to the log without an fsync (the log is synced
            # at checkpoints), readers never wait for the writer. A killed process loses nothing committed;
            # a power cut may lose the last commits, which the platform's repeated callback or QUERY then
            # records again, publishing the same ce_id. PostgreSQL is the production store. Measured in
            # bench/payments.py: fsync per commit capped the callbacks near 250/s with a long tail.
            event.listen(self.engine.sync_engine, "connect", _sqlite_wal)
        # SQLite has one writer: in-process writers queue here instead of meeting SQLITE_BUSY, whose
        # retry sleeps (up to 100 ms each) made the callback's latency tail (bench/payments.py).
        self._write_lock = None if self._pg else asyncio.Lock()

    def _writing(self) -> contextlib.AbstractAsyncContextManager[object]:
        return self._write_lock if self._write_lock is not None else contextlib.nullcontext()

    async def open(self) -> None:
        """Create the table if missing."""
        await create_tables(self.engine, _meta)

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()

    async def create(self, record: PaymentRecord) -> tuple[PaymentRecord, bool]:
        """Insert `record` unless its reference exists; returns the stored record and whether it is new."""
        row = {k: getattr(record, k) for k in record.__slots__}
        row["fees"] = orjson.dumps([f.model_dump() for f in record.fees]).decode()
        row["channel"], row["state"] = record.channel.value, record.state.value
        insert = pg_insert(payments) if self._pg else sqlite_insert(payments)
        async with self._writing(), self.engine.begin() as conn:
            result = await conn.execute(insert.values(**row).on_conflict_do_nothing(index_elements=["reference"]))
            created = result.rowcount == 1
        stored = await self.get(record.reference)
        if stored is None:  # pragma: no cover - inserted or found above
            raise RuntimeError(f"payment {record.reference} vanished after insert")
        return stored, created

    async def get(self, reference: str) -> PaymentRecord | None:
        """The record of `reference`, or None."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(payments).where(payments.c.reference == reference))).mappings().first()
        return None if row is None else _record(row)

    async def list_payments(
        self, *, dossier_code: str | None = None, state: PaymentState | None = None, limit: int = 1000
    ) -> list[PaymentRecord]:
        """Records, newest first, optionally of one dossier and/or one state."""
        query = select(payments).order_by(payments.c.created_ms.desc(), payments.c.reference).limit(limit)
        if dossier_code is not None:
            query = query.where(payments.c.dossier_code == dossier_code)
        if state is not None:
            query = query.where(payments.c.state == state.value)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record(r) for r in rows]

    async def count_by_state(self) -> dict[str, int]:
        """How many records are in each state."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(payments.c.state, func.count()).group_by(payments.c.state))
            return {str(state): int(n) for state, n in rows}

    async def next_attempt(self, dossier_code: str) -> int:
        """One more than the highest online attempt of the dossier (1 for the first)."""
        async with self.engine.connect() as conn:
            top = await conn.scalar(
                select(func.max(payments.c.attempt)).where(
                    payments.c.dossier_code == dossier_code, payments.c.channel == PaymentChannel.ONLINE.value
                )
            )
        return int(top or 0) + 1

    async def set_initiated(self, reference: str, pay_url: str) -> None:
        """Keep the pay URL of a successful `INIT`."""
        async with self._writing(), self.engine.begin() as conn:
            await conn.execute(
                update(payments)
                .where(payments.c.reference == reference)
                .values(pay_url=pay_url, initiated_ms=func.coalesce(payments.c.initiated_ms, now_ms()))
            )

    async def settle(
        self,
        reference: str,
        state: PaymentState,
        *,
        confirmed_by: str,
        transaction_id: str | None = None,
        bank_code: str | None = None,
        paid_at: str | None = None,
        reason: str | None = None,
        answer: str | None = None,
        callback_digest: str | None = None,
        expect_amount: int | None = None,
        expect_channel: PaymentChannel | None = None,
    ) -> PaymentRecord | None:
        """Move a pending payment to `state`: the record when this call did it, None when it was settled
        already, is unknown, or has not `expect_amount` / `expect_channel`. One conditional
        `UPDATE ... RETURNING`: of racing callers, one wins."""
        if state is PaymentState.PENDING:
            raise ValueError("settle() moves a payment out of pending")
        values: dict[str, Any] = {
            "state": state.value, "settled_ms": now_ms(), "confirmed_by": confirmed_by,
            "transaction_id": transaction_id, "bank_code": bank_code, "paid_at": paid_at, "reason": reason,
            "answer": answer, "callback_digest": callback_digest, "published": False,
        }  # fmt: skip
        where = [payments.c.reference == reference, payments.c.state == PaymentState.PENDING.value]
        if expect_amount is not None:
            where.append(payments.c.amount_vnd == expect_amount)
        if expect_channel is not None:
            where.append(payments.c.channel == expect_channel.value)
        async with self._writing(), self.engine.begin() as conn:
            result = await conn.execute(update(payments).where(*where).values(**values).returning(*payments.c))
            row = result.mappings().first()
            return None if row is None else _record(row)

    async def mark_published(self, reference: str) -> None:
        """The settling event is durable on the bus."""
        async with self._writing(), self.engine.begin() as conn:
            await conn.execute(update(payments).where(payments.c.reference == reference).values(published=True))

    async def mark_published_many(self, references: Sequence[str]) -> None:
        """The settling events of `references` are durable on the bus (one commit)."""
        if not references:
            return
        async with self._writing(), self.engine.begin() as conn:
            await conn.execute(
                update(payments).where(payments.c.reference.in_(list(references))).values(published=True)
            )

    async def set_receipt(self, reference: str, receipt_ref: str) -> None:
        """Keep the e-receipt reference from `GET_BILL`."""
        async with self._writing(), self.engine.begin() as conn:
            await conn.execute(
                update(payments).where(payments.c.reference == reference).values(receipt_ref=receipt_ref)
            )

    async def due_for_query(self, *, now: int, after_s: int, lookback_s: int, limit: int = 500) -> list[PaymentRecord]:
        """Online payments still pending `after_s` after creation, created within `lookback_s`."""
        query = (
            select(payments)
            .where(
                payments.c.state == PaymentState.PENDING.value,
                payments.c.channel == PaymentChannel.ONLINE.value,
                payments.c.created_ms <= now - after_s * 1000,
                payments.c.created_ms >= now - lookback_s * 1000,
            )
            .order_by(payments.c.created_ms)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_record(r) for r in (await conn.execute(query)).mappings().all()]

    async def unpublished(self, *, limit: int = 500) -> list[PaymentRecord]:
        """Settled payments whose settling event is not known to be on the bus (the outbox)."""
        query = (
            select(payments)
            .where(payments.c.state != PaymentState.PENDING.value, payments.c.published.is_(False))
            .order_by(payments.c.settled_ms)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_record(r) for r in (await conn.execute(query)).mappings().all()]

    async def without_receipt(self, *, limit: int = 500) -> list[PaymentRecord]:
        """Online payments confirmed paid that have no e-receipt reference yet."""
        query = (
            select(payments)
            .where(
                payments.c.state == PaymentState.PAID.value,
                payments.c.channel == PaymentChannel.ONLINE.value,
                payments.c.receipt_ref.is_(None),
            )
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_record(r) for r in (await conn.execute(query)).mappings().all()]

    async def references(self, refs: Sequence[str]) -> dict[str, PaymentRecord]:
        """The records of the given references that exist."""
        if not refs:
            return {}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(payments).where(payments.c.reference.in_(list(refs))))).mappings().all()
        return {r["reference"]: _record(r) for r in rows}


__all__ = ["PaymentRecord", "PaymentStore", "now_ms", "payments"]
