"""KPI end to end on the real broker: dossier events → kpi worker → projection → report, and SLA alerts
published to Kafka once; the projection's upsert on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import new_envelope
from lienthong.bus.topics import TopicSpec, create_topics
from lienthong.bus.worker import Worker
from lienthong.calendar.config import VIETNAM_TZ
from lienthong.demo.workload import synthetic_dossier
from lienthong.kpi import KpiStore, build_kpi_flow, build_sla_watch, default_kpi_dsn, load_report
from lienthong.schemas.dossier import Dossier, DossierEvent, DossierEventKind, DossierStatus
from lienthong.settings import Settings
from lienthong.testing import consume_all, wait_for

pytestmark = pytest.mark.integration

AGENCY = "000.00.12.H52"
RECEIVED = datetime(2025, 7, 1, 9, 0, tzinfo=VIETNAM_TZ)
NOW = datetime(2025, 7, 3, 9, 0, tzinfo=VIETNAM_TZ)  # Thursday; one working day ends Friday 09:00


def dossier(seq: int, channel: str = "counter", **changes: Any) -> Dossier:
    d = synthetic_dossier(random.Random(seq), agency_code=AGENCY, received_at=RECEIVED, seq=seq, channel=channel)
    return d.model_copy(update={"due_at": RECEIVED + timedelta(days=10), **changes})


def returned(seq: int, finished_at: datetime, channel: str = "counter") -> Dossier:
    return dossier(seq, channel, version=3, status=DossierStatus.RETURNED, due_at=datetime(2025, 7, 2, 16, 0,
                   tzinfo=VIETNAM_TZ), finished_at=finished_at, returned_at=finished_at)  # fmt: skip


def refused(seq: int) -> Dossier:
    return dossier(seq, "online", version=2, status=DossierStatus.REFUSED, received_at=None, refused_at=RECEIVED,
                   due_at=None)  # fmt: skip


def record(d: Dossier) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    kind = DossierEventKind.CREATED if d.version == 1 else DossierEventKind.STATUS_CHANGED
    event = DossierEvent(event_id=f"{d.code}/{d.version}", kind=kind, occurred_at=RECEIVED, source="onestop",
                         dossier=d)  # fmt: skip
    env = new_envelope(type=event.event_type, source="/lienthong/onestop", subject=d.code)
    return event.model_dump_json().encode(), env.to_headers(), d.code.encode()


def workload() -> list[Dossier]:
    """Eight dossiers, in the order their events are produced (one per event)."""
    due = datetime(2025, 7, 2, 16, 0, tzinfo=VIETNAM_TZ)
    events = [dossier(seq, "online" if seq % 2 else "counter") for seq in range(1, 9)]
    events += [
        returned(1, due - timedelta(days=1), "online"),  # early
        returned(2, due - timedelta(hours=5)),  # the due day, before the hour: on time
        returned(3, due + timedelta(hours=3), "online"),  # same day, after the due hour: on time
        returned(4, due + timedelta(days=1)),  # late
        refused(5),
        dossier(6, version=2, status=DossierStatus.PROCESSING, due_at=datetime(2025, 7, 4, 9, 0, tzinfo=VIETNAM_TZ)),
        dossier(7, "online", version=2, status=DossierStatus.PROCESSING, due_at=NOW - timedelta(hours=1)),
        dossier(8, version=3, status=DossierStatus.PROCESSING),
        dossier(8, version=2, status=DossierStatus.REFUSED),  # an older version arriving late: ignored
    ]
    return events


async def produce(settings: Settings, topic: str, dossiers: list[Dossier]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value, headers, key in map(record, dossiers):
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def test_dossier_events_become_a_report_and_sla_alerts_on_kafka(
    settings: Settings, topic: str, audit: AuditWriter
) -> None:
    events = workload()
    await produce(settings, topic, events)
    flow, close_flow = await build_kpi_flow(settings, topic=topic)
    worker = Worker(flow, settings, audit)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: worker.stats["delivered"] == len(events), timeout=20, what="all events projected")
    finally:
        await worker.stop()
        await task
        await close_flow()
    assert worker.stats["dead_lettered"] == 0

    store = KpiStore(default_kpi_dsn(settings))
    await store.open()
    try:
        rows = await store.get_many(d.code for d in events)
        assert {code[-4:]: r.version for code, r in rows.items()} == {
            "0001": 3, "0002": 3, "0003": 3, "0004": 3, "0005": 2, "0006": 2, "0007": 2, "0008": 3,
        }  # fmt: skip
        # 1..3 July: every dossier received on 1 July, every return and finish inside the period.
        report = await load_report(store, received_from=date(2025, 7, 1), received_to=date(2025, 7, 3),
                                   group_by=("channel",), now=NOW)  # fmt: skip
    finally:
        await store.close()
    t = report.total
    # The refused one (5, online) is not received: 7 received, 3 of them online.
    assert (t.received, t.accepted, t.refused, t.returned, t.online) == (7, 7, 1, 4, 3)
    assert (t.early, t.on_time, t.late, t.overdue_open) == (1, 2, 1, 1)
    assert t.on_time_rate == 0.75
    assert [(r.channel, r.received) for r in report.rows] == [("counter", 4), ("online", 3)]

    alerts_topic = f"{topic}.alerts"
    spec = TopicSpec(alerts_topic, key="dossier code", description="test", payload="x.y", event_types=(),
                     companions=False)  # fmt: skip
    await create_topics(settings.bootstrap_servers, partitions=settings.partitions, specs=[spec])
    watch, close_watch = await build_sla_watch(settings, topic=alerts_topic)
    try:
        published = await watch.scan(NOW)
        assert await watch.scan(NOW + timedelta(minutes=1)) == []
    finally:
        await close_watch()
    assert len(published) == 2

    consumed = await consume_all(settings.bootstrap_servers, alerts_topic, expect=2, timeout=20)
    by_subject = {}
    for rec in consumed:
        ce = from_binary_event(KafkaMessage(headers=dict(rec.headers), key=rec.key, value=rec.value))
        by_subject[ce.get_subject()] = (ce.get_type(), ce.get_id(), orjson.loads(rec.value))
    code6, code7 = events[5].code, events[6].code
    assert set(by_subject) == {code6, code7}
    assert by_subject[code6][0] == "vn.gov.lienthong.dossier.due_soon.v1"
    assert by_subject[code6][2]["working_hours_left"] == 8.0
    assert by_subject[code7][0] == "vn.gov.lienthong.dossier.overdue.v1"
    assert by_subject[code7][2]["working_hours_left"] == -1.0
    assert {i for _, i, _ in by_subject.values()} == {dict(r.headers)["ce_id"].decode() for r in published}


@pytest.fixture
async def pg_kpi(pg_dsn: str) -> AsyncIterator[KpiStore]:
    """A KPI store on a fresh PostgreSQL database."""
    name = f"kpi_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    store = KpiStore(pg_dsn.rsplit("/", 1)[0] + f"/{name}")
    await store.open()
    yield store
    await store.close()


async def test_postgres_projection_keeps_the_newest_version_and_rearms_alerts(pg_kpi: KpiStore) -> None:
    first = dossier(1, version=2, status=DossierStatus.PROCESSING)
    # The same dossier twice in one batch, older first, then an older version in a later batch.
    await pg_kpi.upsert_many([dossier(1, version=1), first, dossier(2)])
    await pg_kpi.upsert_many([dossier(1, version=1, status=DossierStatus.REFUSED)])
    row = (await pg_kpi.get_many([first.code]))[first.code]
    assert (row.version, row.status, row.due_at) == (2, DossierStatus.PROCESSING, first.due_at)

    assert first.due_at is not None
    await pg_kpi.mark_alerted([("due_soon", first.code, first.due_at)])
    await pg_kpi.upsert_many([dossier(1, version=3, status=DossierStatus.PROCESSING)])
    assert (await pg_kpi.get_many([first.code]))[first.code].alerted_due_soon
    await pg_kpi.upsert_many([dossier(1, version=4, due_at=first.due_at + timedelta(days=1))])
    assert not (await pg_kpi.get_many([first.code]))[first.code].alerted_due_soon

    due = await pg_kpi.open_due_by(first.due_at + timedelta(days=1))
    assert [r.dossier_code for r in due] == [dossier(2).code, first.code]
