"""Dossier sync through a real broker into the DVCQG sandbox under uvicorn: latest state, once, never backwards."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from lienthong.audit.record import AuditRecord
from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import new_envelope, new_id
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.worker import Inbound, Outcome, Worker
from lienthong.connectors.dvcqg.client import DvcqgClient
from lienthong.connectors.dvcqg.sandbox import DvcqgSandboxState, create_dvcqg_sandbox, sandbox_state
from lienthong.connectors.dvcqg.settings import DvcqgSettings
from lienthong.connectors.dvcqg.worker import (
    TOPIC,
    DossierSyncHandler,
    SyncState,
    SyncStateStore,
    build_dossier_sync_flow,
)
from lienthong.demo.workload import synthetic_dossier
from lienthong.errors import BusinessRejection, TransientError
from lienthong.mappings.dvcqg import dossier_to_dvcqg, steps_to_dvcqg
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import Dossier, DossierEvent, DossierEventKind, DossierStatus, ProcessingStep
from lienthong.settings import Settings
from lienthong.testing import ServedApp, consume_all, wait_for

pytestmark = pytest.mark.integration

AGENCY = "000.00.12.H52"
RECEIVED = datetime(2025, 7, 3, 9, 0, tzinfo=VN_TZ)
Record = tuple[bytes, list[tuple[str, bytes]], bytes]


# -- workload ---------------------------------------------------------------------------------------


def accepted_dossiers(n: int, *, seed: int, first_seq: int = 1) -> list[Dossier]:
    rng = random.Random(seed)
    return [
        synthetic_dossier(rng, agency_code=AGENCY, received_at=RECEIVED, seq=first_seq + i, channel="counter")
        for i in range(n)
    ]


def versions(v1: Dossier) -> list[Dossier]:
    """v1 accepted (status 2), v2 processing (4) with a step, v3 finished (9) with another step."""
    start = v1.received_at or RECEIVED
    review = ProcessingStep(handler_name="Lê Văn Cường", processed_at=start + timedelta(hours=1),
                            status=DossierStatus.PROCESSING, content="Thẩm định hồ sơ")  # fmt: skip
    v2 = v1.model_copy(update={"version": 2, "status": DossierStatus.PROCESSING, "steps": (*v1.steps, review)})
    done_at = start + timedelta(hours=2)
    finish = ProcessingStep(handler_name="Phạm Thị Dung", processed_at=done_at, status=DossierStatus.FINISHED,
                            content="Ký duyệt kết quả")  # fmt: skip
    v3 = v2.model_copy(update={"version": 3, "status": DossierStatus.FINISHED, "finished_at": done_at,
                               "steps": (*v2.steps, finish)})  # fmt: skip
    return [v1, v2, v3]


def record(dossier: Dossier, kind: DossierEventKind = DossierEventKind.UPDATED) -> Record:
    event = DossierEvent(event_id=new_id(), kind=kind, occurred_at=datetime.now(UTC), source="onestop",
                         dossier=dossier)  # fmt: skip
    env = new_envelope(type=event.event_type, source="/onestop", subject=dossier.code)
    return event.model_dump_json().encode(), env.to_headers(), dossier.code.encode()


async def produce(settings: Settings, topic: str, records: list[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value, headers, key in records:
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


# -- harness ----------------------------------------------------------------------------------------


@pytest.fixture
async def portal() -> AsyncIterator[tuple[DvcqgSandboxState, str]]:
    """The DVCQG sandbox under uvicorn: (its state, its URL)."""
    app = create_dvcqg_sandbox()
    async with ServedApp(app) as served:
        yield sandbox_state(app), served.url


@asynccontextmanager
async def running_sync(
    settings: Settings,
    topic: str,
    audit: AuditWriter,
    idempotency: IdempotencyStore,
    url: str,
    **dvcqg: Any,
) -> AsyncIterator[tuple[Worker, DossierSyncHandler]]:
    """A dossier-sync worker on `topic`; rejections go to `<topic>.out`. A generous call timeout keeps a
    loaded CI machine from turning a slow answer into a retry the assertions would count."""
    flow, close = await build_dossier_sync_flow(
        settings,
        idempotency=idempotency,
        dvcqg=DvcqgSettings(url=url, **{"timeout_s": 10.0, **dvcqg}),
        topic=topic,
        rejection_topic=f"{topic}.out",
    )
    assert isinstance(flow.handler, DossierSyncHandler)
    worker = Worker(flow, settings, audit)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        yield worker, flow.handler
    finally:
        await worker.stop()
        await task
        await close()


def holds(state: DvcqgSandboxState, dossiers: list[Dossier]) -> bool:
    """The portal holds every dossier in exactly this state, steps included."""
    for d in dossiers:
        rec = state.dossier(d.code)
        if rec is None or rec.item != dossier_to_dvcqg(d) or rec.steps != steps_to_dvcqg(d):
            return False
    return True


async def audit_records(audit: AuditWriter) -> list[AuditRecord]:
    return [r async for r in audit.store.records()]


def version_of(item: dict[str, Any], history: list[Dossier]) -> int:
    return next(d.version for d in history if dossier_to_dvcqg(d) == item)


# -- behaviour --------------------------------------------------------------------------------------


async def test_every_dossier_reaches_dvcqg_in_its_latest_state_and_every_write_is_audited(
    settings, topic, audit, idempotency, portal
) -> None:
    state, url = portal
    latest = {}
    records = []
    for v1 in accepted_dossiers(300, seed=1):
        vs = versions(v1)
        latest[v1.code] = vs[-1]
        records += [record(v) for v in vs]
    await produce(settings, topic, records)
    async with running_sync(settings, topic, audit, idempotency, url) as (worker, _):
        await wait_for(lambda: worker.stats["delivered"] == len(records), timeout=30, what="900 records settled")
    assert holds(state, list(latest.values()))
    assert worker.stats["dead_lettered"] == worker.stats["retried"] == worker.stats["rejected"] == 0
    sent = Counter(r.dossier_code for r in await audit_records(audit)
                   if r.outcome == "sent" and r.event_type == "DongBoHoSoMC")  # fmt: skip
    assert {code: state.dossier(code).writes for code in latest} == dict(sent)  # type: ignore[union-attr]
    assert (await verify_chain(audit.store)).ok


async def test_dvcqg_down_then_back_delivers_every_dossier_once_and_dead_letters_nothing(
    settings, topic, audit, idempotency, portal
) -> None:
    state, url = portal
    state.set_down(True)
    s = settings.model_copy(update={"circuit_failure_threshold": 2, "circuit_open_s": 0.3})
    dossiers = accepted_dossiers(100, seed=2)
    await produce(s, topic, [record(d, DossierEventKind.CREATED) for d in dossiers])
    async with running_sync(s, topic, audit, idempotency, url) as (worker, _):
        await wait_for(lambda: worker.circuit.opened_count >= 2, timeout=20, what="circuit to open and re-open")
        state.set_down(False)
        await wait_for(lambda: holds(state, dossiers), timeout=30, what="every dossier after recovery")
        await wait_for(lambda: worker.stats["delivered"] == len(dossiers), what="every record settled")
    assert {state.dossier(d.code).writes for d in dossiers} == {1}  # type: ignore[union-attr]
    assert worker.stats["dead_lettered"] == 0
    assert worker.stats["paused"] > 0


async def test_reordered_and_replayed_updates_never_move_a_dossier_backwards(
    settings, topic, audit, idempotency, portal
) -> None:
    state, url = portal
    histories = [versions(v1) for v1 in accepted_dossiers(50, seed=3)]
    reordered = [record(vs[i]) for vs in histories for i in (2, 0, 1)]
    latest = [vs[-1] for vs in histories]
    async with running_sync(settings, topic, audit, idempotency, url) as (worker, handler):
        await produce(settings, topic, reordered)
        await wait_for(lambda: worker.stats["delivered"] == 150, what="the reordered updates settled")
        writes = {d.code: state.dossier(d.code).writes for d in latest}  # type: ignore[union-attr]
        await produce(settings, topic, [record(v) for vs in histories for v in vs])
        await wait_for(lambda: worker.stats["delivered"] == 300, what="the replayed updates settled")
    assert holds(state, latest)
    assert {d.code: state.dossier(d.code).writes for d in latest} == writes  # type: ignore[union-attr]
    assert handler.stats["skipped_stale"] + handler.stats["superseded"] >= 250, handler.stats
    for vs in histories:
        written = [version_of(item, vs) for _, item in state.dossier(vs[0].code).history]  # type: ignore[union-attr]
        assert written == sorted(written)
        assert written[-1] == 3


async def test_session_expiry_mid_run_is_handled_without_retries(settings, topic, audit, idempotency, portal) -> None:
    state, url = portal
    first, second = accepted_dossiers(100, seed=4), accepted_dossiers(100, seed=5, first_seq=101)
    async with running_sync(settings, topic, audit, idempotency, url) as (worker, handler):
        await produce(settings, topic, [record(d) for d in first])
        await wait_for(lambda: holds(state, first), what="the first 100 dossiers")
        state.expire_sessions()
        await produce(settings, topic, [record(d) for d in second])
        await wait_for(lambda: holds(state, second), what="the next 100 dossiers after the portal forgot sessions")
    assert handler.client.logins == 2
    assert state.stats.replies_by_error_code[-2] >= 1
    assert worker.stats["retried"] == worker.stats["dead_lettered"] == 0


async def test_create_answered_exists_is_retried_as_update(settings, topic, audit, idempotency, portal) -> None:
    state, url = portal
    state.set_duplicate(True)
    dossiers = accepted_dossiers(50, seed=6)
    await produce(settings, topic, [record(d, DossierEventKind.CREATED) for d in dossiers])
    async with running_sync(settings, topic, audit, idempotency, url) as (worker, _):
        await wait_for(lambda: holds(state, dossiers), what="every dossier through the exists -> update fallback")
        await wait_for(lambda: worker.stats["delivered"] == len(dossiers), what="every record settled")
    assert state.stats.replies_by_error_code[3] >= 1
    assert all(not state.dossier(d.code).seeded and state.dossier(d.code).writes == 1 for d in dossiers)  # type: ignore[union-attr]
    writes = [r for r in await audit_records(audit) if r.event_type == "DongBoHoSoMC"]
    assert len(writes) == len(dossiers)
    assert {orjson.loads(r.detail)["is_updating"] for r in writes} == {True}


async def test_content_rejection_is_reported_on_outcomes_not_dead_lettered(
    settings, topic, audit, idempotency, portal
) -> None:
    state, url = portal
    state.reject_next(1, message="Thông tin hồ sơ không hợp lệ (mô phỏng)")
    [dossier] = accepted_dossiers(1, seed=7)
    await produce(settings, topic, [record(dossier, DossierEventKind.CREATED)])
    async with running_sync(settings, topic, audit, idempotency, url) as (worker, _):
        await wait_for(lambda: worker.stats["rejected"] == 1, what="the rejection")
    [out] = await consume_all(settings.bootstrap_servers, f"{topic}.out", expect=1)
    event = orjson.loads(out.value)
    assert (event["dossier_code"], event["peer"], event["code"]) == (dossier.code, "dvcqg", "-1")
    assert "không hợp lệ" in event["reason"]
    assert worker.stats["dead_lettered"] == 0
    assert state.dossier(dossier.code) is None


async def test_one_refused_dossier_in_a_batch_does_not_hold_back_the_others(
    settings, topic, audit, idempotency, portal
) -> None:
    state, url = portal
    dossiers = accepted_dossiers(40, seed=8)
    # Received but without a due date (NgayHenTra), which the portal requires: it refuses the content.
    refused = dossiers[17].model_copy(update={"due_at": None})
    good = dossiers[:17] + dossiers[18:]
    await produce(settings, topic, [record(d, DossierEventKind.CREATED) for d in [*good, refused]])
    async with running_sync(settings, topic, audit, idempotency, url) as (worker, _):
        await wait_for(lambda: worker.stats["delivered"] + worker.stats["rejected"] == 40, what="40 records settled")
    assert holds(state, good)
    assert state.dossier(refused.code) is None
    assert worker.stats["rejected"] == 1
    [out] = await consume_all(settings.bootstrap_servers, f"{topic}.out", expect=1)
    assert orjson.loads(out.value)["dossier_code"] == refused.code


async def test_with_strict_transitions_an_unlisted_status_change_is_rejected_without_calling_dvcqg(
    settings, topic, audit, idempotency, portal
) -> None:
    state, url = portal
    [v1] = accepted_dossiers(1, seed=9)
    returned = v1.model_copy(update={"version": 2, "status": DossierStatus.RETURNED})  # 2 -> 10 skips 4 and 9
    async with running_sync(settings, topic, audit, idempotency, url, strict_transitions=True) as (worker, _):
        await produce(settings, topic, [record(v1)])
        await wait_for(lambda: holds(state, [v1]), what="version 1")
        await produce(settings, topic, [record(returned)])
        await wait_for(lambda: worker.stats["rejected"] == 1, what="the refused transition")
    [out] = await consume_all(settings.bootstrap_servers, f"{topic}.out", expect=1)
    assert orjson.loads(out.value)["code"] == "invalid_transition"
    assert state.dossier(v1.code).writes == 1  # type: ignore[union-attr]


@pytest.fixture(params=["sqlite", "postgresql"])
async def state_dsn(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh sync-state database: an SQLite file, or a new database on the harness's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dvcqg_sync.db'}"
    pg_dsn: str = request.getfixturevalue("pg_dsn")
    name = f"dvcqg_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    return pg_dsn.rsplit("/", 1)[0] + f"/{name}"


async def test_the_sync_state_store_never_replaces_a_newer_version_with_an_older_one(state_dsn: str) -> None:
    store = SyncStateStore(state_dsn)
    await store.open()
    await store.open()  # idempotent: a restarted worker opens an existing table
    try:
        code = "000.00.12.H52-250703-0001"
        await store.save({code: SyncState(3, 9, 3, "k3")})
        await store.save({code: SyncState(2, 4, 2, "k2"), "000.00.12.H52-250703-0002": SyncState(1, 2, 1, "k1")})
        loaded = await store.load([code, "000.00.12.H52-250703-0002", "000.00.12.H52-250703-0003"])
        assert loaded == {code: SyncState(3, 9, 3, "k3"), "000.00.12.H52-250703-0002": SyncState(1, 2, 1, "k1")}
        await store.save({code: SyncState(4, 10, 3, "k3")})
        assert await store.load([code]) == {code: SyncState(4, 10, 3, "k3")}
    finally:
        await store.close()


# -- issue 7: superseded versions, ambiguous timeouts, dossiers without NgayTiepNhan ------------------


def inbound(dossier: Dossier, offset: int) -> Inbound:
    value, headers, key = record(dossier)
    rec = ConsumerRecord(TOPIC, 0, offset, 0, 0, key, value, None, len(key), len(value), headers)
    return Inbound(rec, new_envelope(type="vn.gov.lienthong.dossier.updated.v1", source="/onestop",
                                     subject=dossier.code), 0)  # fmt: skip


@asynccontextmanager
async def direct_handler(
    url: str, tmp_path: Any, **dvcqg: Any
) -> AsyncIterator[tuple[DossierSyncHandler, SyncStateStore]]:
    store = SyncStateStore(f"sqlite:///{tmp_path / 'state.db'}")
    await store.open()
    client = DvcqgClient(DvcqgSettings(url=url, **{"timeout_s": 10.0, **dvcqg}))
    try:
        yield DossierSyncHandler(client, store), store
    finally:
        await client.close()
        await store.close()


def sent_item(state: DvcqgSandboxState, d: Dossier) -> bool:
    record_ = state.dossier(d.code)
    return record_ is not None and orjson.loads(orjson.dumps(record_.item)) == dossier_to_dvcqg(d)


async def test_an_older_version_is_not_marked_done_while_the_newest_of_its_batch_fails(portal, tmp_path) -> None:
    state, url = portal
    v1, v2, v3 = versions(accepted_dossiers(1, seed=21)[0])
    async with direct_handler(url, tmp_path) as (handler, _):
        assert isinstance((await handler([inbound(v1, 0)]))[0], Outcome)
        state.fail_next(1, 503)  # the one DongBoHoSoMC call carrying v3 (v2 is held back with it)
        older, newest = await handler([inbound(v2, 1), inbound(v3, 2)])
        assert isinstance(newest, TransientError)
        assert isinstance(older, TransientError), "v2 settled as done although v3, which superseded it, failed"
        # Both go round the retry path; together again, the newest wins and the older is done with it.
        older, newest = await handler([inbound(v2, 1), inbound(v3, 2)])
        assert isinstance(newest, Outcome) and isinstance(older, Outcome)
        assert older.result == "superseded"
    assert sent_item(state, v3)


async def test_an_older_version_survives_when_the_newest_of_its_batch_is_refused(portal, tmp_path) -> None:
    state, url = portal
    v1, v2, v3 = versions(accepted_dossiers(1, seed=22)[0])
    async with direct_handler(url, tmp_path) as (handler, _):
        await handler([inbound(v1, 0)])
        state.reject_next(1, message="Nội dung bị từ chối (mô phỏng)", service="DongBoHoSoMC")
        older, newest = await handler([inbound(v2, 1), inbound(v3, 2)])
        assert isinstance(newest, BusinessRejection)
        assert isinstance(older, TransientError)
        [alone] = await handler([inbound(v2, 1)])  # its retry round
        assert isinstance(alone, Outcome)
    assert sent_item(state, v2)


async def test_after_an_ambiguous_timeout_an_older_version_never_lands_after_the_newer_one(portal, tmp_path) -> None:
    state, url = portal
    v1, v2, v3 = versions(accepted_dossiers(1, seed=23)[0])
    async with direct_handler(url, tmp_path, timeout_s=0.3) as (handler, store):
        await handler([inbound(v1, 0)])
        state.set_latency(1200)
        [timed_out] = await handler([inbound(v3, 2)])
        assert isinstance(timed_out, TransientError)
        assert timed_out.code == "ambiguous"
        await wait_for(lambda: sent_item(state, v3), what="the timed-out v3 landing at the portal anyway")
        state.set_latency(0)
        [older] = await handler([inbound(v2, 1)])  # v2 coming back from the retry topic
        assert isinstance(older, Outcome) and older.result == "skipped_stale"
        assert sent_item(state, v3), "v2 overwrote v3 at the portal"
        [retried] = await handler([inbound(v3, 2)])  # v3's own retry re-sends the full newest state
        assert isinstance(retried, Outcome) and retried.result == "delivered"
        assert (await store.load([v3.code]))[v3.code].pending_version is None
    assert sent_item(state, v3)


async def test_a_dossier_without_reception_date_is_pushed_only_once_it_has_one(portal, tmp_path) -> None:
    state, url = portal
    accepted = accepted_dossiers(1, seed=24)[0]
    submitted = accepted.model_copy(update={"status": DossierStatus.SUBMITTED, "received_at": None, "due_at": None,
                                            "version": 1, "steps": ()})  # fmt: skip
    refused = submitted.model_copy(update={"status": DossierStatus.REFUSED, "version": 2})
    async with direct_handler(url, tmp_path) as (handler, _):
        first, second = await handler([inbound(submitted, 0), inbound(refused, 1)])
        assert isinstance(first, Outcome) and first.result == "skipped_not_received"
        assert isinstance(second, Outcome) and second.result == "skipped_not_received"
        assert state.dossier(accepted.code) is None
        later = accepted.model_copy(update={"version": 3})
        [pushed] = await handler([inbound(later, 2)])
        assert isinstance(pushed, Outcome) and pushed.result == "delivered"
    assert sent_item(state, later)
    assert state.stats.replies_by_error_code[-1] == 0


async def test_an_unlisted_transition_is_forwarded_with_an_audit_note(portal, tmp_path) -> None:
    state, url = portal
    [v1] = accepted_dossiers(1, seed=25)
    returned = v1.model_copy(update={"version": 2, "status": DossierStatus.RETURNED})  # 2 -> 10
    async with direct_handler(url, tmp_path) as (handler, _):
        await handler([inbound(v1, 0)])
        [result] = await handler([inbound(returned, 1)])
    assert isinstance(result, Outcome)
    notes = [e for e in result.audit if e.outcome == "warning"]
    assert notes and "2 -> 10" in notes[0].detail["warning"]
    assert sent_item(state, returned)


async def test_a_long_summary_is_cut_for_dvcqg_with_a_warning_in_the_audit(portal, tmp_path) -> None:
    state, url = portal
    [v1] = accepted_dossiers(1, seed=26)
    long = v1.model_copy(update={"summary": "Đề nghị " + "a" * 1500})
    async with direct_handler(url, tmp_path) as (handler, _):
        [result] = await handler([inbound(long, 0)])
    assert isinstance(result, Outcome)
    assert any("TrichYeuHoSo" in e.detail.get("warning", "") for e in result.audit)
    stored = state.dossier(long.code)
    assert stored is not None and len(stored.item["TrichYeuHoSo"]) == 998
