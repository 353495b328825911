"""The payment flow over a real broker, the sandbox platform and lienthong's routes under uvicorn:
INIT from a dossier event, the signed callback, repeats, callback/QUERY races, crash recovery."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import httpx
import orjson
import pytest

from lienthong.bus.envelope import header, new_envelope
from lienthong.bus.producer import Outbound, make_producer, publish_all
from lienthong.bus.worker import Worker
from lienthong.connectors.payment.events import DOSSIER_ATTRIBUTE
from lienthong.connectors.payment.testing import (
    PaymentHarness,
    payment_records,
    status6_event,
    types_of,
)
from lienthong.connectors.payment.testing import unique_dossier_code as unique_code
from lienthong.connectors.payment.worker import build_payment_request_flow
from lienthong.mappings.wire import VN_TZ, format_dvcqg_time
from lienthong.schemas.payment import PaymentState
from lienthong.testing import wait_for

pytestmark = pytest.mark.integration


async def post(url: str, body: dict) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=orjson.dumps(body), headers={"Content-Type": "application/json"})


async def test_a_status_6_dossier_event_initiates_one_payment_and_publishes_the_pay_link(
    settings, audit, topic
) -> None:
    code = unique_code()
    async with PaymentHarness(settings, audit) as h:
        flow, close = await build_payment_request_flow(settings, payment=h.payment, topic=topic)
        worker = Worker(flow, settings, audit)
        await worker.start()
        task = asyncio.create_task(worker.run())
        producer = make_producer(settings)
        await producer.start()
        try:
            value = status6_event(code)
            env = new_envelope(type="vn.gov.lienthong.dossier.status_changed.v1", source="/test", subject=code)
            # The same event twice (a redelivery): still one INIT, one payment.requested id.
            rec = Outbound(topic, value, code.encode(), env.to_headers())
            await publish_all(producer, [rec, rec])
            ref = f"{code}-TT01"
            records = await payment_records(settings.bootstrap_servers, ref, expect=1)
            await wait_for(lambda: worker.stats["delivered"] >= 2, what="both deliveries handled")
        finally:
            worker.request_stop()
            await task
            await close()
            await producer.stop()
        event = orjson.loads(records[0].value)
        assert event["kind"] == "requested"
        assert event["pay_url"] == h.sandbox.transactions[ref].url
        assert event["amount_vnd"] == 150000
        assert header(records[0].headers, DOSSIER_ATTRIBUTE) == code
        assert h.sandbox.calls["INIT"] == 1
        assert len({header(r.headers, "ce_id") for r in records}) == 1


async def test_a_paid_callback_is_recorded_once_published_and_an_exact_repeat_gets_the_same_answer(
    settings, audit
) -> None:
    code = unique_code()
    async with PaymentHarness(settings, audit) as h:
        record = await h.initiate(code, 250000)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].callbacks_ok == 1, what="callback answered 00")
        txn = h.sandbox.transactions[record.reference]
        body = h.sandbox.callback_body(txn)
        first = await post(h.confirm_url, body)
        second = await post(h.confirm_url, body)
        stored = await h.store.get(record.reference)
        records = await payment_records(settings.bootstrap_servers, record.reference, expect=1)
    assert first.json()["MaLoi"] == "00"
    assert first.content == second.content
    assert stored.state is PaymentState.PAID
    assert stored.confirmed_by == "callback"
    assert stored.transaction_id == txn.transaction_id
    assert set(types_of(records)) == {"vn.gov.lienthong.payment.confirmed.v1"}


async def test_the_answer_is_signed_the_same_way_as_the_callback(settings, audit) -> None:
    from lienthong.connectors.payment.signature import MessageKind, verify

    async with PaymentHarness(settings, audit, signature="sha256-suffix", secret="other-secret") as h:
        record = await h.initiate(unique_code(), 10000)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].callbacks_ok == 1, what="callback 00")
        answer = (await post(h.confirm_url, h.sandbox.callback_body(h.sandbox.transactions[record.reference]))).json()
    assert set(answer) == {"MaLoi", "MoTaLoi", "MaDoiTac", "MaThamChieu", "ThoiGianGD", "MaXacThuc"}
    assert verify(MessageKind.ANSWER, answer, answer["MaXacThuc"], secret="other-secret", scheme="sha256-suffix")


async def test_an_abandoned_payment_publishes_payment_failed(settings, audit) -> None:
    async with PaymentHarness(settings, audit) as h:
        record = await h.initiate(unique_code(), 10000)
        h.sandbox.abandon(record.reference)
        records = await payment_records(settings.bootstrap_servers, record.reference, expect=1)
        stored = await h.store.get(record.reference)
    assert types_of(records) == {"vn.gov.lienthong.payment.failed.v1": 1}
    assert stored.state is PaymentState.FAILED


async def test_a_lost_callback_is_confirmed_by_query_and_the_late_callback_records_nothing_more(
    settings, audit
) -> None:
    async with PaymentHarness(settings, audit, reconcile_after_s=1) as h:
        h.sandbox.set_faults(late=1.0)
        record = await h.initiate(unique_code(), 90000)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].state == "paid", what="citizen paid")
        report = await h.reconciler().run_once(now=record.created_ms + 2000)
        # The late callback comes after the QUERY; it must be answered "00" and change nothing.
        await wait_for(lambda: h.sandbox.transactions[record.reference].callbacks_sent == 1, what="late callback")
        await wait_for(lambda: h.sandbox.transactions[record.reference].callbacks_ok == 1, what="late callback 00")
        stored = await h.store.get(record.reference)
        records = await payment_records(settings.bootstrap_servers, record.reference, expect=1)
    assert report.confirmed == 1
    assert stored.confirmed_by == "query"
    assert set(types_of(records)) == {"vn.gov.lienthong.payment.confirmed.v1"}


async def test_concurrent_identical_callbacks_racing_a_query_record_the_payment_once(settings, audit) -> None:
    async with PaymentHarness(settings, audit, reconcile_after_s=1) as h:
        h.sandbox.set_faults(lose=1.0)
        record = await h.initiate(unique_code(), 70000)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].state == "paid", what="citizen paid")
        body = h.sandbox.callback_body(h.sandbox.transactions[record.reference])
        # The callbacks go through the API (its own store connection and ledger), the QUERY through this
        # harness's, as the API and the reconcile worker are two processes: whichever wins records the payment
        # once; a loser that cannot see the winner's publish republishes the same event (same ce_id).
        answers = await asyncio.gather(
            *(post(h.confirm_url, body) for _ in range(8)),
            h.reconciler().run_once(now=record.created_ms + 2000),
        )
        records = await payment_records(settings.bootstrap_servers, record.reference, expect=1)
        stored = await h.store.get(record.reference)
    assert all(a.json()["MaLoi"] == "00" for a in answers[:8])
    assert stored.state is PaymentState.PAID
    assert stored.confirmed_by in ("callback", "query")
    assert len({header(r.headers, "ce_id") for r in records}) == 1
    assert set(types_of(records)) == {"vn.gov.lienthong.payment.confirmed.v1"}


async def test_a_crash_between_recording_and_publishing_is_published_by_reconciliation(settings, audit) -> None:
    async with PaymentHarness(settings, audit) as h:
        record = await h.initiate(unique_code(), 120000)
        # What a process killed right after the store's commit leaves: recorded, not published.
        won = await h.store.settle(record.reference, PaymentState.PAID, confirmed_by="callback",
                                   transaction_id="GD1", paid_at=datetime.now(VN_TZ).isoformat())  # fmt: skip
        assert won is not None
        assert (await h.store.get(record.reference)).published is False
        report = await h.reconciler().run_once(now=record.created_ms + 60_000)
        records = await payment_records(settings.bootstrap_servers, record.reference, expect=1)
        again = await h.reconciler().run_once(now=record.created_ms + 120_000)
        stored = await h.store.get(record.reference)
    assert report.republished == 1
    assert again.republished == 0
    assert stored.published is True
    assert set(types_of(records)) == {"vn.gov.lienthong.payment.confirmed.v1"}


async def test_query_leaves_pending_payments_pending_and_failed_ones_failed(settings, audit) -> None:
    async with PaymentHarness(settings, audit, reconcile_after_s=1) as h:
        h.sandbox.set_faults(lose=1.0)
        waiting = await h.initiate(unique_code(), 1000)
        gone = await h.initiate(unique_code(), 2000)
        h.sandbox.abandon(gone.reference)
        await wait_for(lambda: h.sandbox.transactions[gone.reference].state == "failed", what="abandoned")
        report = await h.reconciler().run_once(now=max(waiting.created_ms, gone.created_ms) + 2000)
        assert (await h.store.get(waiting.reference)).state is PaymentState.PENDING
        assert (await h.store.get(gone.reference)).state is PaymentState.FAILED
    assert report.still_pending == 1
    assert report.failed == 1


async def test_payments_older_than_the_lookback_are_not_queried(settings, audit) -> None:
    async with PaymentHarness(settings, audit, reconcile_after_s=1, reconcile_lookback_s=60) as h:
        record = await h.initiate(unique_code(), 1000)
        report = await h.reconciler().run_once(now=record.created_ms + int(timedelta(minutes=5).total_seconds() * 1000))
    assert report.queried == 0
    assert h.sandbox.calls.get("QUERY", 0) == 0


async def test_receipt_reference_is_kept_after_get_bill(settings, audit) -> None:
    async with PaymentHarness(settings, audit) as h:
        record = await h.initiate(unique_code(), 5000)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].callbacks_ok == 1, what="callback 00")
        report = await h.reconciler().run_once()
        stored = await h.store.get(record.reference)
    assert report.receipts >= 1
    assert stored.receipt_ref == h.sandbox.transactions[record.reference].receipt != ""


async def test_counter_payment_ends_in_payment_confirmed_once(settings, audit) -> None:
    code = unique_code()
    body = {"MaHoSo": code, "SoTien": "80000", "MaGiaoDich": "POS-778899", "MaNganHang": "VCB",
            "ThoiGianGD": format_dvcqg_time(datetime.now(VN_TZ))}  # fmt: skip
    async with PaymentHarness(settings, audit) as h:
        first = await post(h.api_url + "/payments/counter", body)
        second = await post(h.api_url + "/payments/counter", body)
        ref = first.json()["MaThamChieu"]
        records = await payment_records(settings.bootstrap_servers, ref, expect=1)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["duplicate"] is True
    event = orjson.loads(records[0].value)
    assert event["kind"] == "confirmed"
    assert event["confirmed_by"] == "counter"
    assert event["fees"][0]["collection_method"] == 2
    assert len(records) == 1
