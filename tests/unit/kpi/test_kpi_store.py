"""The KPI projection on SQLite: newest version wins, one statement per batch, alert flags re-armed."""

import random
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from lienthong.calendar.config import VIETNAM_TZ
from lienthong.demo.workload import synthetic_dossier
from lienthong.kpi.report import load_report
from lienthong.kpi.store import KpiStore, project
from lienthong.schemas.dossier import Channel, Dossier, DossierStatus

RECEIVED = datetime(2025, 7, 3, 9, 0, tzinfo=VIETNAM_TZ)


def dossier(seq: int = 1, *, version: int = 1, received_at: datetime = RECEIVED, **changes: Any) -> Dossier:
    d = synthetic_dossier(random.Random(seq), agency_code="000.00.12.H52", received_at=received_at, seq=seq,
                          channel="counter")  # fmt: skip
    return d.model_copy(update={"version": version, **changes})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[KpiStore]:
    s = KpiStore(f"sqlite:///{tmp_path / 'sub' / 'kpi.db'}")
    await s.open()
    yield s
    await s.close()


async def stored(store: KpiStore, d: Dossier):
    return (await store.get_many([d.code]))[d.code]


# -- the projection of one dossier (pure) -------------------------------------------------------------


def test_agency_is_the_dossier_codes_part_before_the_date() -> None:
    row = project(dossier(42))
    assert (row.dossier_code, row.agency_code) == ("000.00.12.H52-250703-0042", "000.00.12.H52")


def test_refused_dossier_is_not_accepted_and_is_placed_by_its_refusal_moment() -> None:
    refused_at = RECEIVED + timedelta(hours=1)
    row = project(dossier(status=DossierStatus.REFUSED, received_at=RECEIVED, refused_at=refused_at).model_copy(
        update={"received_at": None}))  # fmt: skip
    assert (row.accepted, row.refused, row.received_at) == (False, True, refused_at)


def test_pending_submission_without_any_date_is_placed_on_its_code_date() -> None:
    row = project(dossier(status=DossierStatus.SUBMITTED).model_copy(update={"received_at": None,
                                                                              "submitted_at": None}))  # fmt: skip
    assert not row.accepted
    assert row.received_at == datetime(2025, 7, 3, tzinfo=VIETNAM_TZ)


@pytest.mark.parametrize(("received_at", "accepted"), [(None, False), (RECEIVED, True)])
def test_withdrawn_dossier_is_accepted_only_if_it_was_received(received_at: datetime | None, accepted: bool) -> None:
    row = project(dossier(status=DossierStatus.WITHDRAWN).model_copy(update={"received_at": received_at}))
    assert (row.accepted, row.withdrawn) == (accepted, True)


# -- writes -----------------------------------------------------------------------------------------


async def test_a_newer_version_replaces_the_row(store: KpiStore) -> None:
    await store.upsert_many([dossier(version=1)])
    await store.upsert_many([dossier(version=2, status=DossierStatus.PROCESSING)])
    row = await stored(store, dossier())
    assert (row.version, row.status) == (2, DossierStatus.PROCESSING)


async def test_an_older_version_never_overwrites_a_newer_one(store: KpiStore) -> None:
    await store.upsert_many([dossier(version=5, status=DossierStatus.PROCESSING)])
    await store.upsert_many([dossier(version=4, status=DossierStatus.REFUSED)])
    row = await stored(store, dossier())
    assert (row.version, row.status) == (5, DossierStatus.PROCESSING)


async def test_the_same_version_again_changes_nothing(store: KpiStore) -> None:
    await store.upsert_many([dossier(version=3)])
    before = await stored(store, dossier())
    await store.upsert_many([dossier(version=3, status=DossierStatus.PROCESSING)])
    assert await stored(store, dossier()) == before


@pytest.mark.parametrize("seed", range(5))
async def test_versions_arriving_in_any_order_and_batching_never_go_backwards(store: KpiStore, seed: int) -> None:
    rng = random.Random(seed)
    versions = list(range(1, 13))
    rng.shuffle(versions)
    highest = 0
    while versions:
        cut = rng.randint(1, min(4, len(versions)))
        batch, versions = versions[:cut], versions[cut:]
        await store.upsert_many([dossier(version=v) for v in batch])
        highest = max(highest, *batch)
        assert (await stored(store, dossier())).version == highest


async def test_the_highest_version_in_one_batch_wins_whatever_its_position(store: KpiStore) -> None:
    await store.upsert_many(
        [dossier(version=2), dossier(version=7, status=DossierStatus.PROCESSING), dossier(version=3)]
    )
    assert (await stored(store, dossier())).version == 7


async def test_a_batch_is_written_in_one_statement(store: KpiStore) -> None:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await store.upsert_many([dossier(i) for i in range(1, 201)]) == 200
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert [s.split()[0] for s in statements] == ["INSERT"]
    assert await store.count() == 200


async def test_an_empty_batch_writes_nothing(store: KpiStore) -> None:
    assert await store.upsert_many([]) == 0


async def test_datetimes_come_back_aware_and_equal(store: KpiStore) -> None:
    d = dossier()
    await store.upsert_many([d])
    row = await stored(store, d)
    assert row.received_at == d.received_at
    assert row.due_at == d.due_at
    assert row.due_at is not None
    assert row.due_at.tzinfo is not None
    assert row.updated_at is not None


# -- alert flags --------------------------------------------------------------------------------------


async def test_alert_flags_survive_a_newer_version_with_the_same_due_moment(store: KpiStore) -> None:
    d = dossier()
    assert d.due_at is not None
    await store.upsert_many([d])
    await store.mark_alerted([("due_soon", d.code, d.due_at)])
    await store.upsert_many([dossier(version=2, status=DossierStatus.PROCESSING)])
    assert (await stored(store, d)).alerted_due_soon


async def test_a_moved_due_moment_rearms_the_alerts(store: KpiStore) -> None:
    d = dossier()
    assert d.due_at is not None
    await store.upsert_many([d])
    await store.mark_alerted([("due_soon", d.code, d.due_at), ("overdue", d.code, d.due_at)])
    await store.upsert_many([dossier(version=2, due_at=d.due_at + timedelta(days=2))])
    row = await stored(store, d)
    assert (row.alerted_due_soon, row.alerted_overdue) == (False, False)


async def test_a_mark_for_a_due_moment_that_has_moved_is_ignored(store: KpiStore) -> None:
    d = dossier()
    assert d.due_at is not None
    await store.upsert_many([d, dossier(version=2, due_at=d.due_at + timedelta(days=2))])
    await store.mark_alerted([("overdue", d.code, d.due_at)])
    assert not (await stored(store, d)).alerted_overdue


# -- reads ----------------------------------------------------------------------------------------------


async def test_open_due_by_lists_only_open_dossiers_due_by_the_moment(store: KpiStore) -> None:
    due = RECEIVED + timedelta(days=1)
    await store.upsert_many([
        dossier(1, due_at=due),
        dossier(2, due_at=due, status=DossierStatus.PROCESSING),
        dossier(3, due_at=due, status=DossierStatus.SUPPLEMENT_REQUESTED),
        dossier(4, due_at=due, status=DossierStatus.FINISHED, finished_at=due),
        dossier(5, due_at=due + timedelta(seconds=1)),
        dossier(6, due_at=None),
    ])  # fmt: skip
    found = await store.open_due_by(due)
    assert [r.dossier_code[-4:] for r in found] == ["0001", "0002"]
    await store.mark_alerted([("overdue", found[0].dossier_code, due)])
    assert [r.dossier_code[-4:] for r in await store.open_due_by(due, unalerted_only=True)] == ["0002"]


async def test_report_period_is_by_local_receipt_date(store: KpiStore) -> None:
    late_evening = datetime(2025, 7, 3, 23, 30, tzinfo=VIETNAM_TZ)  # 16:30 UTC, still 3 July in Vietnam
    next_morning = datetime(2025, 7, 4, 0, 10, tzinfo=VIETNAM_TZ)  # 3 July 17:10 UTC, 4 July in Vietnam
    await store.upsert_many([dossier(1, received_at=late_evening), dossier(2, received_at=next_morning)])
    report = await load_report(store, received_from=date(2025, 7, 3), received_to=date(2025, 7, 3), group_by=(),
                               now=next_morning)  # fmt: skip
    assert report.total.received == 1
    everything = await load_report(store, received_from=None, received_to=None, group_by=("channel",))
    assert [(r.channel, r.received) for r in everything.rows] == [(Channel.COUNTER.value, 2)]


async def test_reads_stream_in_chunks(store: KpiStore) -> None:
    await store.upsert_many([dossier(i) for i in range(1, 12)])
    sizes = [len(chunk) async for chunk in store.iter_received(chunk=5)]
    assert sizes == [5, 5, 1]


async def test_the_table_holds_no_personal_data_columns(store: KpiStore) -> None:
    async with store.engine.connect() as conn:
        columns = {row[1] for row in await conn.execute(text("PRAGMA table_info(dossier_kpi)"))}
    assert columns == {
        "dossier_code", "version", "agency_code", "field_code", "channel", "status", "accepted", "received_at",
        "due_at", "finished_at", "returned_at", "closed_at", "refused", "withdrawn", "alerted_due_soon",
        "alerted_overdue", "updated_at",
    }  # fmt: skip
