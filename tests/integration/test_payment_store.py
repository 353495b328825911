"""The payment store on SQLite and PostgreSQL: settled once under concurrency, the outbox, the query window."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest

from lienthong.connectors.payment.store import PaymentRecord, PaymentStore, now_ms
from lienthong.schemas.payment import FeeLine, PaymentChannel, PaymentState

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    dsn = f"sqlite:///{tmp_path / 'payments.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_dsn")
    s = PaymentStore(dsn)
    await s.open()
    yield s
    await s.close()


def pending(ref: str, *, created_ms: int | None = None) -> PaymentRecord:
    return PaymentRecord(
        reference=ref, dossier_code=ref.rsplit("-", 1)[0], attempt=1, channel=PaymentChannel.ONLINE,
        state=PaymentState.PENDING, amount_vnd=150000, currency="VND",
        fees=(FeeLine(name="Lệ phí", amount_vnd=150000),), created_ms=created_ms or now_ms(),
    )  # fmt: skip


def new_ref() -> str:
    return f"000.00.12.H52-250703-{uuid.uuid4().int % 9000 + 1000:04d}-TT{uuid.uuid4().int % 90 + 10:02d}"


async def test_of_eight_concurrent_settlements_exactly_one_wins(store) -> None:
    ref = new_ref()
    await store.create(pending(ref))
    results = await asyncio.gather(*(
        store.settle(ref, PaymentState.PAID if i % 2 else PaymentState.FAILED, confirmed_by=f"caller-{i}",
                     transaction_id=f"GD{i}")
        for i in range(8)
    ))  # fmt: skip
    winners = [r for r in results if r is not None]
    stored = await store.get(ref)
    assert len(winners) == 1
    assert stored.state is winners[0].state
    assert stored.confirmed_by == winners[0].confirmed_by
    assert stored.published is False


async def test_creating_an_existing_reference_keeps_the_first_record(store) -> None:
    ref = new_ref()
    _, created = await store.create(pending(ref))
    again, created_again = await store.create(replace(pending(ref), amount_vnd=1))
    assert (created, created_again) == (True, False)
    assert again.amount_vnd == 150000


async def test_settled_but_unpublished_records_form_the_outbox_until_marked(store) -> None:
    ref = new_ref()
    await store.create(pending(ref))
    await store.settle(ref, PaymentState.PAID, confirmed_by="callback")
    assert ref in {r.reference for r in await store.unpublished(limit=100_000)}
    await store.mark_published_many([ref])
    assert ref not in {r.reference for r in await store.unpublished(limit=100_000)}


async def test_only_payments_pending_past_the_delay_and_inside_the_lookback_are_due_for_query(store) -> None:
    now = now_ms()
    fresh, due, old = new_ref(), new_ref(), new_ref()
    await store.create(pending(fresh, created_ms=now - 60_000))
    await store.create(pending(due, created_ms=now - 31 * 60_000))
    await store.create(pending(old, created_ms=now - 4 * 24 * 3600_000))
    found = {r.reference for r in await store.due_for_query(now=now, after_s=1800, lookback_s=3 * 24 * 3600,
                                                              limit=100_000)}  # fmt: skip
    assert due in found
    assert fresh not in found
    assert old not in found
