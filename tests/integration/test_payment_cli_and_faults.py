"""`lienthong payments ...` as a real process, and platform faults: down during INIT, slow QUERY,
the bus failing between recording a callback and publishing it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import httpx
import orjson
import pytest
from aiokafka.errors import KafkaConnectionError

from lienthong.bus.envelope import header, new_envelope
from lienthong.bus.producer import Outbound, make_producer, publish_all
from lienthong.bus.worker import Worker
from lienthong.connectors.payment.events import TOPIC
from lienthong.connectors.payment.testing import (
    PaymentHarness,
    payment_records,
    status6_event,
    types_of,
)
from lienthong.connectors.payment.testing import unique_dossier_code as unique_code
from lienthong.connectors.payment.worker import build_payment_request_flow
from lienthong.schemas.payment import PaymentState
from lienthong.testing import consume_all, wait_for

pytestmark = pytest.mark.integration


async def run_cli(settings, harness: PaymentHarness, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "LIENTHONG_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LIENTHONG_STATE_DIR": str(settings.state_dir),
        "LIENTHONG_AUDIT_DSN": settings.resolved_audit_dsn().replace("audit.db", "audit-cli.db"),
        "LIENTHONG_PAYMENT_URL": harness.payment.url,
        "LIENTHONG_PAYMENT_STATE_DSN": harness.payment.state_dsn,
        "LIENTHONG_PAYMENT_SECRET": harness.payment.secret.get_secret_value(),
        "LIENTHONG_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lienthong.cli", "payments", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_payments_init_json_gives_the_reference_and_pay_url_and_publishes_payment_requested(
    settings, audit
) -> None:
    code = unique_code()
    async with PaymentHarness(settings, audit) as h:
        rc, out, err = await run_cli(settings, h, "init", "--dossier", code, "--amount", "150000", "--json")
        assert rc == 0, err[-2000:]
        result = json.loads(out)
        ref = result["MaThamChieu"]
        records = await payment_records(settings.bootstrap_servers, ref, expect=1)
        again_rc, again_out, _ = await run_cli(settings, h, "init", "--dossier", code, "--amount", "150000", "--json")
        listed_rc, listed, _ = await run_cli(settings, h, "list", "--dossier", code, "--state", "pending", "--json")
        shown_rc, shown, _ = await run_cli(settings, h, "show", ref, "--json")
        missing_rc, _, missing_err = await run_cli(settings, h, "show", f"{code}-TT77")
    assert ref == f"{code}-TT01"
    assert result["UrlThanhToan"] == h.sandbox.transactions[ref].url
    assert types_of(records)["vn.gov.lienthong.payment.requested.v1"] >= 1
    assert again_rc == 0
    assert json.loads(again_out)["MaThamChieu"] == ref  # a pending payment of the same amount is reused
    assert h.sandbox.calls["INIT"] == 1
    assert listed_rc == 0
    assert [p["reference"] for p in json.loads(listed)] == [ref]
    assert shown_rc == 0
    assert json.loads(shown)["amount_vnd"] == 150000
    assert missing_rc == 1
    assert "no payment" in missing_err


async def test_payments_reconcile_confirms_a_payment_whose_callback_was_lost(settings, audit) -> None:
    async with PaymentHarness(settings, audit) as h:
        h.sandbox.set_faults(lose=1.0)
        record = await h.initiate(unique_code(), 30000, age_s=5)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].state == "paid", what="citizen paid")
        os.environ["LIENTHONG_PAYMENT_RECONCILE_AFTER_S"] = "1"
        try:
            rc, out, err = await run_cli(settings, h, "reconcile", "--json")
        finally:
            del os.environ["LIENTHONG_PAYMENT_RECONCILE_AFTER_S"]
        stored = await h.store.get(record.reference)
    assert rc == 0, err[-2000:]
    assert json.loads(out)["confirmed"] == 1
    assert stored.state is PaymentState.PAID
    assert stored.confirmed_by == "query"


async def test_init_while_the_platform_is_down_is_retried_and_requested_once_it_is_back(settings, audit, topic) -> None:
    code = unique_code()
    async with PaymentHarness(settings, audit) as h:
        h.sandbox.set_down(True)
        flow, close = await build_payment_request_flow(settings, payment=h.payment, topic=topic)
        worker = Worker(flow, settings, audit)
        await worker.start()
        task = asyncio.create_task(worker.run())
        producer = make_producer(settings)
        await producer.start()
        try:
            env = new_envelope(type="vn.gov.lienthong.dossier.status_changed.v1", source="/test", subject=code)
            await publish_all(producer, [Outbound(topic, status6_event(code), code.encode(), env.to_headers())])
            await wait_for(lambda: worker.stats["retried"] >= 1, what="INIT retried while the platform is down")
            h.sandbox.set_down(False)
            records = await payment_records(settings.bootstrap_servers, f"{code}-TT01", expect=1)
        finally:
            worker.request_stop()
            await task
            await close()
            await producer.stop()
    assert types_of(records) == {"vn.gov.lienthong.payment.requested.v1": 1}
    assert len(h.sandbox.transactions) == 1
    assert worker.stats["dead_lettered"] == 0


async def test_a_slow_query_times_out_leaves_the_payment_pending_and_the_next_round_confirms_it(
    settings, audit
) -> None:
    async with PaymentHarness(settings, audit, reconcile_after_s=1, timeout_s=0.3) as h:
        h.sandbox.set_faults(lose=1.0)
        record = await h.initiate(unique_code(), 40000)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].state == "paid", what="citizen paid")
        h.sandbox.set_query_latency(2000)
        slow = await h.reconciler().run_once(now=record.created_ms + 2000)
        pending = (await h.store.get(record.reference)).state
        h.sandbox.set_query_latency(0)
        fast = await h.reconciler().run_once(now=record.created_ms + 4000)
        stored = await h.store.get(record.reference)
    assert (slow.errors, slow.confirmed, pending) == (1, 0, PaymentState.PENDING)
    assert fast.confirmed == 1
    assert stored.state is PaymentState.PAID


async def test_bus_failure_after_recording_answers_99_and_the_repeat_publishes_once(settings, audit) -> None:
    async with PaymentHarness(settings, audit) as h:
        h.sandbox.set_faults(lose=1.0)
        record = await h.initiate(unique_code(), 60000)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].state == "paid", what="citizen paid")
        body = orjson.dumps(h.sandbox.callback_body(h.sandbox.transactions[record.reference]))
        real_send = h.publisher.producer.send
        calls = {"n": 0}

        async def broker_unreachable_once(*args, **kwargs):
            # Stands in for the broker failing at this one moment (aiokafka's own error type).
            calls["n"] += 1
            if calls["n"] == 1:
                raise KafkaConnectionError("broker unreachable")
            return await real_send(*args, **kwargs)

        h.publisher.producer.send = broker_unreachable_once
        async with httpx.AsyncClient(timeout=30) as client:
            first = await client.post(h.confirm_url, content=body)
            recorded = await h.store.get(record.reference)
            second = await client.post(h.confirm_url, content=body)
            third = await client.post(h.confirm_url, content=body)
        records = await payment_records(settings.bootstrap_servers, record.reference, expect=1)
        everything = await consume_all(settings.bootstrap_servers, TOPIC, expect=10**9, timeout=2)
    assert (first.status_code, first.json()["MaLoi"]) == (503, "99")
    assert recorded.state is PaymentState.PAID
    assert recorded.published is False
    assert second.json()["MaLoi"] == "00"
    assert third.content == second.content
    mine = [r for r in everything if r.key == record.reference.encode()]
    assert [header(r.headers, "ce_type") for r in mine] == ["vn.gov.lienthong.payment.confirmed.v1"]
    assert len(records) == 1
    assert uuid.UUID(header(mine[0].headers, "ce_id") or "")
