"""Operators redrive dead letters: new ids linked by causation, effects once, every action audited."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from lienthong.audit.verify import verify_chain
from lienthong.bus.selftest import SelfTestHandler, make_message
from lienthong.bus.worker import Flow, Worker
from lienthong.ops.dlq import DlqFilter, collect, redrive, summarise
from lienthong.testing import consume_all, wait_for

pytestmark = pytest.mark.integration


async def test_redrive_from_dlq_delivers_once_with_causation_link_and_audited_operator(
    settings, topic, audit, peer, idempotency
) -> None:
    recorder, url = peer
    recorder.down = True
    s = settings.model_copy(update={"retry_attempts": 0, "circuit_failure_threshold": 1000})
    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    sent_ids = []
    for i in range(5):
        value, headers = make_message(i, body_size=50)
        sent_ids.append(dict(headers)["ce_id"].decode())
        await producer.send(topic, value, key=f"k{i}".encode(), headers=headers)
    await producer.flush()
    await producer.stop()

    handler = SelfTestHandler(peer_url=url, idempotency=idempotency, out_topic=f"{topic}.out")
    worker = Worker(Flow("selftest", topic, handler, peer="selftest-peer"), s, audit)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: worker.stats["dead_lettered"] == 5, timeout=30, what="5 dead letters")
        dead = await collect(s, topic, DlqFilter(reason="retries_exhausted"))
        assert len(dead) == 5
        assert summarise(dead) == {(topic, "retries_exhausted"): 5}
        only_two = await collect(s, topic, DlqFilter(dossier_code="selftest-00000002"))
        assert len(only_two) == 1

        recorder.down = False
        n = await redrive(s, dead, operator="chi.tran", reason="DVCQG back up", audit=audit, rate_per_s=1000)
        assert n == 5
        await wait_for(lambda: worker.stats["delivered"] == 5, timeout=30, what="5 redriven deliveries")
    finally:
        await worker.stop()
        await task
        await handler.close()

    assert len(recorder.applied) == 5 and set(recorder.applied.values()) == {1}
    redriven = await consume_all(s.bootstrap_servers, topic, expect=10)
    again = [dict(r.headers) for r in redriven[5:]] if len(redriven) == 10 else []
    by_cause = {h["causation_id"].decode(): h["ce_id"].decode() for h in (dict(r.headers) for r in redriven)
                if "causation_id" in h}  # fmt: skip
    assert set(by_cause) == set(sent_ids)
    assert all(new != old for old, new in by_cause.items())
    assert all(not any(k.startswith("lt_") for k in h) for h in again)
    actions = [r async for r in audit.store.records() if r.flow == "ops"]
    assert [a.outcome for a in actions].count("redriven") == 5
    assert all("chi.tran" in a.detail and "DVCQG back up" in a.detail for a in actions)
    assert (await verify_chain(audit.store)).ok


async def test_dry_run_filter_matches_nothing_outside_the_time_range(settings, topic) -> None:
    dead = await collect(settings, topic, DlqFilter(since_ms=0, until_ms=1))
    assert dead == []
