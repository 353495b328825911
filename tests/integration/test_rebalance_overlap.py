"""Two group members never work on one partition's records at once, even while a rebalance happens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer

from lienthong.bus.envelope import new_envelope
from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome, Worker
from lienthong.settings import Settings
from lienthong.testing import wait_for

RECORDS = 60


class Recorder:
    """A handler that notes which member handled which record and when; member A can be held."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, int, int, float, float]] = []  # member, partition, offset, start, end
        self.entered_a = asyncio.Event()
        self.release_a = asyncio.Event()

    def handler(self, member: str):
        async def handle(batch: Sequence[Inbound]) -> list[BatchResult]:
            start = time.monotonic()
            if member == "A" and not self.release_a.is_set():
                self.entered_a.set()
                await self.release_a.wait()  # A is slow: its batch is still in progress during the rebalance
            end = time.monotonic()
            self.spans += [(member, m.record.partition, m.record.offset, start, end) for m in batch]
            return [Outcome() for _ in batch]

        return handle


async def produce(settings: Settings, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i in range(RECORDS):
            env = new_envelope(type="vn.gov.lienthong.selftest.v1", source="/t", subject=f"k{i}")
            await producer.send_and_wait(topic, b"{}", key=f"k{i}".encode(), headers=env.to_headers())
    finally:
        await producer.stop()


async def test_a_member_gives_up_its_partitions_only_after_its_batch_is_settled(settings, topic, audit) -> None:
    await produce(settings, topic)
    rec = Recorder()
    s = settings.model_copy(update={"consume_batch_max": RECORDS})
    a = Worker(Flow("overlap", topic, rec.handler("A"), peer="-"), s, audit)
    b = Worker(Flow("overlap", topic, rec.handler("B"), peer="-"), s, audit)
    await a.start()
    task_a = asyncio.create_task(a.run())
    task_b = None
    try:
        await asyncio.wait_for(rec.entered_a.wait(), timeout=60)
        held_at = time.monotonic()
        await b.start()
        task_b = asyncio.create_task(b.run())
        # While A holds its batch, B must not be handed any of A's records.
        with pytest.raises(TimeoutError):
            await wait_for(lambda: any(m == "B" for m, *_ in rec.spans), timeout=5)
        rec.release_a.set()
        await wait_for(lambda: len({(p, o) for _, p, o, _, _ in rec.spans}) == RECORDS, timeout=60)
    finally:
        rec.release_a.set()
        a.request_stop()
        b.request_stop()
        await asyncio.gather(task_a, *([task_b] if task_b else []), return_exceptions=True)
    b_spans = [span for span in rec.spans if span[0] == "B"]
    assert all(start >= held_at for _, _, _, start, _ in b_spans)
    # No record handled by both members while A's batch was open.
    a_batch = {(p, o) for m, p, o, start, _ in rec.spans if m == "A" and start < held_at + 1}
    assert not a_batch & {(p, o) for _, p, o, _, _ in b_spans}
