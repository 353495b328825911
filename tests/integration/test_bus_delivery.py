"""Delivery through the real broker: produce → worker → effect/output, retries, DLQ, CloudEvents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import new_envelope
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.selftest import EVENT_TYPE, SelfTestHandler, make_message
from lienthong.bus.worker import Flow, Worker
from lienthong.settings import Settings
from lienthong.testing import consume_all, wait_for

pytestmark = pytest.mark.integration


@asynccontextmanager
async def running_worker(
    settings: Settings, topic: str, audit: AuditWriter, *, peer_url: str | None = None,
    idempotency: IdempotencyStore | None = None,
) -> AsyncIterator[Worker]:  # fmt: skip
    handler = SelfTestHandler(peer_url=peer_url, idempotency=idempotency, out_topic=f"{topic}.out")
    worker = Worker(Flow("selftest", topic, handler, peer="selftest-peer"), settings, audit)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.stop()
        await task
        await handler.close()


async def produce(settings: Settings, topic: str, records: list[tuple[bytes, list[tuple[str, bytes]], bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value, headers, key in records:
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


def selftest(seq: int, fail_times: int = 0) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    value, headers = make_message(seq, body_size=100, fail_times=fail_times)
    return value, headers, f"selftest-{seq:08d}".encode()


async def test_records_flow_from_topic_through_worker_to_output_topic(settings, topic, audit) -> None:
    await produce(settings, topic, [selftest(i) for i in range(50)])
    async with running_worker(settings, topic, audit) as worker:
        await wait_for(lambda: worker.stats["delivered"] == 50, what="50 deliveries")
    out = await consume_all(settings.bootstrap_servers, f"{topic}.out", expect=50)
    assert sorted(orjson.loads(r.value)["so_thu_tu"] for r in out) == list(range(50))
    assert (await verify_chain(audit.store)).ok


async def test_output_records_parse_as_cloudevents_with_the_sdk_kafka_binding(settings, topic, audit) -> None:
    await produce(settings, topic, [selftest(1)])
    async with running_worker(settings, topic, audit) as worker:
        await wait_for(lambda: worker.stats["delivered"] == 1)
    [rec] = await consume_all(settings.bootstrap_servers, f"{topic}.out", expect=1)
    event = from_binary_event(KafkaMessage(headers=dict(rec.headers), key=rec.key, value=rec.value))
    assert event.get_type() == "vn.gov.lienthong.selftest.mapped.v1"
    assert event.get_subject() == "selftest-00000001"
    assert event.get_data()["so_thu_tu"] == 1
    assert dict(rec.headers)["causation_id"]


async def test_transient_failure_is_retried_via_retry_topic_then_succeeds_with_one_effect(
    settings, topic, audit, peer, idempotency
) -> None:
    recorder, url = peer
    # 3 in-process attempts fail, the first retry-topic round fails, the second succeeds.
    await produce(settings, topic, [selftest(7, fail_times=4)])
    async with running_worker(settings, topic, audit, peer_url=url, idempotency=idempotency) as worker:
        await wait_for(lambda: worker.stats["delivered"] == 1, timeout=30, what="delivery after retries")
        assert worker.stats["retried"] >= 1
    key = next(iter(recorder.calls))
    assert recorder.calls[key] == 5
    assert recorder.applied[key] == 1
    assert worker.stats["dead_lettered"] == 0


async def test_poison_message_goes_to_dlq_with_original_bytes_and_next_message_is_processed(
    settings, topic, audit
) -> None:
    env = new_envelope(type=EVENT_TYPE, source="/test", subject="poison")
    poison = b"\x00{definitely not json"
    await produce(settings, topic, [(poison, env.to_headers(), b"selftest-00000001"), selftest(1)])
    async with running_worker(settings, topic, audit) as worker:
        await wait_for(lambda: worker.stats["delivered"] == 1 and worker.stats["dead_lettered"] == 1)
        # Both records share a key, so a partition: its committed offset must move past both.
        await wait_for(lambda: 2 in worker._committed.values(), what="offset commit past both records")
        [tp] = worker._committed
        committed = await worker.consumer.committed(tp)
    [dead] = await consume_all(settings.bootstrap_servers, f"{topic}.dlq", expect=1)
    assert dead.value == poison
    headers = dict(dead.headers)
    assert headers["ce_id"] == env.id.encode()
    assert headers["lt_error_class"] == b"permanent"
    assert headers["lt_source_topic"] == topic.encode()
    assert headers["lt_source_offset"] == b"0"
    assert committed == 2


async def test_record_without_cloudevents_headers_is_dead_lettered_not_dropped(settings, topic, audit) -> None:
    await produce(settings, topic, [(b'{"id": "x"}', [], b"k")])
    async with running_worker(settings, topic, audit) as worker:
        await wait_for(lambda: worker.stats["dead_lettered"] == 1)
    [dead] = await consume_all(settings.bootstrap_servers, f"{topic}.dlq", expect=1)
    assert dead.value == b'{"id": "x"}'
    assert b"missing header" in dict(dead.headers)["lt_error_message"]


async def test_retries_exhausted_go_to_dlq_with_attempt_count(settings, topic, audit, peer, idempotency) -> None:
    recorder, url = peer
    recorder.down = True
    s = settings.model_copy(update={"retry_attempts": 1, "circuit_failure_threshold": 1000})
    await produce(s, topic, [selftest(3)])
    async with running_worker(s, topic, audit, peer_url=url, idempotency=idempotency) as worker:
        await wait_for(lambda: worker.stats["dead_lettered"] == 1, timeout=30)
    [dead] = await consume_all(s.bootstrap_servers, f"{topic}.dlq", expect=1)
    h = dict(dead.headers)
    assert h["lt_error_class"] == b"retries_exhausted"
    assert h["lt_attempt"] == b"2"
    assert h["lt_source_topic"] == topic.encode()
    assert int(h["lt_first_failure"]) <= int(h["lt_last_failure"])


async def test_peer_down_opens_circuit_pauses_consumers_and_loses_nothing(
    settings, topic, audit, peer, idempotency
) -> None:
    recorder, url = peer
    recorder.down = True
    s = settings.model_copy(update={"circuit_failure_threshold": 2, "circuit_open_s": 0.3})
    await produce(s, topic, [selftest(i) for i in range(40)])
    async with running_worker(s, topic, audit, peer_url=url, idempotency=idempotency) as worker:
        await wait_for(lambda: worker.circuit.opened_count >= 2, timeout=30, what="circuit to open and re-open")
        recorder.down = False
        await wait_for(lambda: len(recorder.applied) == 40, timeout=60, what="all 40 effects after recovery")
    assert worker.stats["dead_lettered"] == 0
    assert set(recorder.applied.values()) == {1}
    # Paused records were not burnt as attempts: far fewer retry-topic rounds than records.
    assert worker.stats["paused"] > 0
