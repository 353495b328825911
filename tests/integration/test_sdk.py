"""lienthong.sdk and the example subscriber, on the real broker: CloudEvents attributes parsed (deprecated
header names too), each `ce_id` applied once, an older event never overwrites a newer state (`ce_time`)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from aiokafka import AIOKafkaProducer

from lienthong.bus.envelope import Envelope, new_id
from lienthong.bus.topics import TopicSpec, create_topics
from lienthong.demo.workload import synthetic_dossier
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import DossierEvent, DossierEventKind, DossierStatus
from lienthong.sdk import StoreSeenIds, cloudevent_of, standard_event
from lienthong.testing import wait_for

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dossier_subscriber.py"
T0 = datetime(2025, 7, 3, 2, 0, tzinfo=UTC)


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dossier_subscriber", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(
    code_seq: int, status: DossierStatus, version: int, at: datetime, event_id: str, *, deprecated_names: bool = False
) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    dossier = synthetic_dossier(
        random.Random(code_seq),
        agency_code="000.00.12.H52",
        received_at=datetime(2025, 7, 3, 9, tzinfo=VN_TZ),
        seq=code_seq,
        channel="counter",
    )
    dossier = dossier.model_copy(update={"status": status, "version": version})
    event = DossierEvent(
        event_id=new_id(), kind=DossierEventKind.STATUS_CHANGED, occurred_at=at, source="onestop", dossier=dossier
    )
    env = Envelope(
        id=event_id,
        source="/lienthong/onestop",
        type=event.event_type,
        subject=dossier.code,
        time=at.isoformat().replace("+00:00", "Z"),
        correlation_id=f"corr-{code_seq}",
    )
    headers = env.to_headers()
    if deprecated_names:  # a record written by a pre-0.2 producer
        headers = [(k, v) for k, v in headers if k not in ("ce_correlationid", "ce_causationid")]
    return event.model_dump_json().encode(), headers, dossier.code.encode()


@pytest.fixture
async def sdk_topic(kafka: str) -> str:
    name = f"sdk{uuid.uuid4().hex[:8]}"
    spec = TopicSpec(
        name,
        key="dossier code",
        description="test",
        payload="lienthong.schemas.dossier.DossierEvent",
        event_types=(),
        companions=False,
    )
    await create_topics(kafka, partitions=2, specs=[spec])
    return name


async def produce(kafka: str, topic: str, records: list[tuple[bytes, list[tuple[str, bytes]], bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value, headers, key in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


def workload() -> tuple[list[tuple[bytes, list[tuple[str, bytes]], bytes]], dict[str, int]]:
    a1, a2, a_old, b1 = (str(uuid.uuid4()) for _ in range(4))
    records = [
        record(101, DossierStatus.ACCEPTED, 1, T0, a1),
        record(101, DossierStatus.PROCESSING, 2, T0 + timedelta(minutes=5), a2),
        record(101, DossierStatus.PROCESSING, 2, T0 + timedelta(minutes=5), a2),  # redelivered: same ce_id
        record(101, DossierStatus.ACCEPTED, 1, T0 - timedelta(minutes=1), a_old),  # a replay of the past
        record(102, DossierStatus.ACCEPTED, 1, T0, b1, deprecated_names=True),
    ]
    code_a = records[0][2].decode()
    code_b = records[4][2].decode()
    return records, {code_a: int(DossierStatus.PROCESSING), code_b: int(DossierStatus.ACCEPTED)}


async def test_the_example_subscriber_applies_each_event_once_and_never_goes_backwards(
    kafka: str, sdk_topic: str, tmp_path: Path
) -> None:
    records, expected = workload()
    await produce(kafka, sdk_topic, records)
    seen = StoreSeenIds(f"sqlite:///{tmp_path / 'seen.db'}")
    stream, board = example().build(kafka, f"g-{sdk_topic}", sdk_topic, seen)
    broker = stream.broker
    assert broker is not None
    await broker.start()
    try:
        await wait_for(
            lambda: board.once.applied + board.once.skipped + board.stale == 5, timeout=60, what="5 deliveries handled"
        )
    finally:
        await broker.stop()
    assert board.status == expected
    assert (board.once.applied, board.once.skipped, board.stale) == (3, 1, 1)
    # The ids survive in the store: a restarted subscriber would skip them.
    assert await seen.seen(records[0][1][1][1].decode())
    await seen.close()


def test_attributes_are_parsed_from_cloudevents_and_deprecated_names() -> None:
    records, _ = workload()
    new = cloudevent_of(records[0][1])
    old = cloudevent_of(records[4][1])
    assert new.correlation_id == "corr-101"
    assert old.correlation_id == "corr-102"  # read from the deprecated `correlation_id` header
    assert new.time == T0
    assert new.dataschema.endswith("/schemas/DossierEvent.json")
    event = standard_event(records[0][0], records[0][1])
    assert event.get_extension("correlationid") == "corr-101"
    assert event.get_data()["dossier"]["status"] == int(DossierStatus.ACCEPTED)


async def test_the_example_runs_as_a_process_and_prints_each_status_once(kafka: str, sdk_topic: str) -> None:
    records, expected = workload()
    await produce(kafka, sdk_topic, records)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        "--bootstrap",
        kafka,
        "--group",
        f"p-{sdk_topic}",
        "--topic",
        sdk_topic,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while len(lines) < 3:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
            assert line, "the subscriber exited early"
            if "-> status" in line.decode():
                lines.append(line.decode())
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)
    codes = [line.split()[1] for line in lines]
    assert sorted(codes) == sorted([*expected, next(iter(expected))])  # A twice (v1, v2), B once
