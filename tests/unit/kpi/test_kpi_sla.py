"""The SLA watch with a fixed `now`: which dossiers get which alert, once, marked only after the acks."""

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from lienthong.bus.envelope import derived_id
from lienthong.bus.producer import Outbound
from lienthong.calendar.config import VIETNAM_TZ
from lienthong.demo.workload import synthetic_dossier
from lienthong.kpi.sla import SlaWatch
from lienthong.kpi.store import KpiStore
from lienthong.schemas.dossier import Dossier, DossierStatus

# Thursday 3 July 2025, 09:00: from here one working day (8 h) ends Friday 09:00.
NOW = datetime(2025, 7, 3, 9, 0, tzinfo=VIETNAM_TZ)
ONE_DAY_LEFT = datetime(2025, 7, 4, 9, 0, tzinfo=VIETNAM_TZ)


def dossier(seq: int, due_at: datetime | None, *, version: int = 1, **changes: Any) -> Dossier:
    d = synthetic_dossier(random.Random(seq), agency_code="000.00.12.H52", received_at=NOW - timedelta(days=7),
                          seq=seq, channel="online")  # fmt: skip
    return d.model_copy(update={"due_at": due_at, "version": version, **changes})


class Broker:
    """Stands in for `publish_all`: records what was acknowledged; can be told to fail."""

    def __init__(self) -> None:
        self.attempted: list[Outbound] = []
        self.acked: list[Outbound] = []
        self.fail = False

    async def __call__(self, records: Sequence[Outbound]) -> None:
        self.attempted.extend(records)
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.acked.extend(records)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[KpiStore]:
    s = KpiStore(f"sqlite:///{tmp_path / 'kpi.db'}")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def broker() -> Broker:
    return Broker()


@pytest.fixture
def watch(store: KpiStore, broker: Broker) -> SlaWatch:
    return SlaWatch(store, broker, topic="alerts.test")


def ce_id(record: Outbound) -> str:
    return dict(record.headers)["ce_id"].decode()


def kinds(records: Sequence[Outbound]) -> dict[str, str]:
    """Dossier sequence number -> alert kind."""
    return {r.key.decode()[-4:]: orjson.loads(r.value)["kind"] for r in records if r.key}


async def test_scan_picks_due_soon_and_overdue_dossiers_and_nothing_else(store: KpiStore, watch: SlaWatch) -> None:
    await store.upsert_many([
        dossier(1, ONE_DAY_LEFT),  # exactly one working day left: due soon
        dossier(2, ONE_DAY_LEFT + timedelta(minutes=1)),  # a minute more: not yet
        dossier(3, NOW - timedelta(hours=1)),  # past: overdue
        dossier(4, NOW),  # due this very moment: not past yet, no time left
        dossier(5, NOW - timedelta(days=1), status=DossierStatus.SUPPLEMENT_REQUESTED),  # paused
        dossier(6, NOW - timedelta(days=1), status=DossierStatus.FINISHED, finished_at=NOW),  # finished
        dossier(7, None),  # no time limit
        dossier(8, NOW + timedelta(days=30)),  # far away
    ])  # fmt: skip
    published = await watch.scan(NOW)
    assert kinds(published) == {"0001": "due_soon", "0003": "overdue", "0004": "due_soon"}


async def test_working_time_not_calendar_time_decides_due_soon(store: KpiStore, watch: SlaWatch) -> None:
    # Friday 17:30 -> Monday 09:00 is two and a half calendar days but only two working hours.
    friday_evening = datetime(2025, 7, 4, 17, 30, tzinfo=VIETNAM_TZ)
    await store.upsert_many([dossier(1, datetime(2025, 7, 7, 9, 0, tzinfo=VIETNAM_TZ))])
    [alert] = await watch.scan(friday_evening)
    assert orjson.loads(alert.value)["working_hours_left"] == 2.0


async def test_an_alert_is_a_cloudevents_record_with_a_small_payload(store: KpiStore, watch: SlaWatch) -> None:
    d = dossier(3, NOW - timedelta(hours=1))
    await store.upsert_many([d])
    [alert] = await watch.scan(NOW)
    headers = {k: v.decode() for k, v in alert.headers}
    assert (alert.topic, alert.key) == ("alerts.test", d.code.encode())
    assert headers["ce_type"] == "vn.gov.lienthong.dossier.overdue.v1"
    assert headers["ce_subject"] == d.code
    assert headers["ce_source"] == "/lienthong/kpi/sla"
    assert headers["content-type"] == "application/json"
    assert orjson.loads(alert.value) == {
        "dossier_code": d.code,
        "agency": "000.00.12.H52",
        "due_at": "2025-07-03T08:00:00+07:00",
        "working_hours_left": -1.0,
        "kind": "overdue",
    }


async def test_alert_ids_are_derived_from_dossier_kind_and_due_moment(store: KpiStore, watch: SlaWatch) -> None:
    d = dossier(1, ONE_DAY_LEFT)
    await store.upsert_many([d])
    [alert] = await watch.scan(NOW)
    assert ce_id(alert) == derived_id(d.code, "due_soon/20250704T020000Z")


async def test_a_second_scan_alerts_nothing_again(store: KpiStore, watch: SlaWatch, broker: Broker) -> None:
    await store.upsert_many([dossier(1, ONE_DAY_LEFT), dossier(3, NOW - timedelta(hours=1))])
    assert len(await watch.scan(NOW)) == 2
    assert await watch.scan(NOW + timedelta(minutes=5)) == []
    assert len(broker.acked) == 2


async def test_a_dossier_alerted_due_soon_is_alerted_overdue_once_its_due_moment_passes(
    store: KpiStore, watch: SlaWatch
) -> None:
    await store.upsert_many([dossier(1, ONE_DAY_LEFT)])
    assert kinds(await watch.scan(NOW)) == {"0001": "due_soon"}
    assert kinds(await watch.scan(ONE_DAY_LEFT + timedelta(minutes=1))) == {"0001": "overdue"}
    assert await watch.scan(ONE_DAY_LEFT + timedelta(days=3)) == []


async def test_a_failed_publish_marks_nothing_and_the_next_scan_sends_the_same_ids(
    store: KpiStore, watch: SlaWatch, broker: Broker
) -> None:
    await store.upsert_many([dossier(1, ONE_DAY_LEFT), dossier(3, NOW - timedelta(hours=1))])
    broker.fail = True
    with pytest.raises(ConnectionError):
        await watch.scan(NOW)
    rows = await store.get_many([dossier(1, None).code, dossier(3, None).code])
    assert not any(r.alerted_due_soon or r.alerted_overdue for r in rows.values())
    broker.fail = False
    retried = await watch.scan(NOW)
    assert [ce_id(r) for r in retried] == [ce_id(r) for r in broker.attempted[:2]]
    assert await watch.scan(NOW) == []


async def test_a_crash_between_publish_and_mark_republishes_with_the_same_ids(store: KpiStore, broker: Broker) -> None:
    await store.upsert_many([dossier(1, ONE_DAY_LEFT)])

    class CrashError(Exception):
        pass

    async def publish_then_crash(records: Sequence[Outbound]) -> None:
        await broker(records)
        raise CrashError  # the process dies after the acks, before the rows are marked

    with pytest.raises(CrashError):
        await SlaWatch(store, publish_then_crash).scan(NOW)
    await SlaWatch(store, broker).scan(NOW)
    first, second = broker.acked
    assert ce_id(first) == ce_id(second)


async def test_a_new_due_moment_rearms_the_alert_with_a_new_id(store: KpiStore, watch: SlaWatch) -> None:
    await store.upsert_many([dossier(1, ONE_DAY_LEFT)])
    [first] = await watch.scan(NOW)
    # A pause moved the due moment back by two hours; the new moment is again within a working day.
    await store.upsert_many([dossier(1, ONE_DAY_LEFT - timedelta(hours=2), version=2)])
    [second] = await watch.scan(NOW)
    assert ce_id(first) != ce_id(second)


async def test_scan_refuses_a_naive_moment(watch: SlaWatch) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await watch.scan(NOW.replace(tzinfo=None))


async def test_run_keeps_scanning_after_a_failed_scan_until_stopped(store: KpiStore) -> None:
    await store.upsert_many([dossier(3, datetime(2020, 1, 2, 8, 0, tzinfo=VIETNAM_TZ))])
    calls: list[int] = []

    async def flaky(records: Sequence[Outbound]) -> None:
        calls.append(len(records))
        if len(calls) == 1:
            raise ConnectionError("broker unreachable")
        watch.stop()

    watch = SlaWatch(store, flaky)
    await asyncio.wait_for(watch.run(interval_s=0.01), timeout=10)
    assert calls == [1, 1]
    assert (await store.get_many([dossier(3, None).code]))[dossier(3, None).code].alerted_overdue
