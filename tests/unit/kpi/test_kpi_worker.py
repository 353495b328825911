"""The `kpi` flow's batch handler: one result per record, one write per batch, database failures transient."""

import random
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import event, text

from lienthong.bus.envelope import new_envelope
from lienthong.bus.worker import Inbound, Outcome
from lienthong.calendar.config import VIETNAM_TZ
from lienthong.demo.workload import synthetic_dossier
from lienthong.errors import PermanentError, TransientError
from lienthong.kpi.store import KpiStore
from lienthong.kpi.worker import KpiProjection, build_kpi_flow
from lienthong.schemas.dossier import DossierEvent, DossierEventKind
from lienthong.settings import Settings

RECEIVED = datetime(2025, 7, 3, 9, 0, tzinfo=VIETNAM_TZ)


def inbound(value: bytes, offset: int = 0) -> Inbound:
    env = new_envelope(type="vn.gov.lienthong.dossier.created.v1", source="/test", subject="x")
    record = ConsumerRecord("dossier.events", 0, offset, 0, 0, b"k", value, None, 1, len(value), env.to_headers())
    return Inbound(record, env, 0)


def event_bytes(seq: int, version: int = 1) -> bytes:
    d = synthetic_dossier(random.Random(seq), agency_code="000.00.12.H52", received_at=RECEIVED, seq=seq,
                          channel="post")  # fmt: skip
    ev = DossierEvent(event_id=f"e-{seq}-{version}", kind=DossierEventKind.CREATED, occurred_at=RECEIVED,
                      source="onestop", dossier=d.model_copy(update={"version": version}))  # fmt: skip
    return ev.model_dump_json().encode()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[KpiStore]:
    s = KpiStore(f"sqlite:///{tmp_path / 'kpi.db'}")
    await s.open()
    yield s
    await s.close()


async def test_every_valid_event_is_projected_in_one_write(store: KpiStore) -> None:
    inserts: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT"):
            inserts.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    results = await KpiProjection(store)([inbound(event_bytes(i), i) for i in range(1, 51)])
    event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert all(isinstance(r, Outcome) and r.result == "projected" for r in results)
    assert len(results) == 50
    assert len(inserts) == 1
    assert await store.count() == 50


async def test_an_invalid_payload_fails_alone_as_permanent(store: KpiStore) -> None:
    batch = [inbound(event_bytes(1)), inbound(b'{"not": "an event"}', 1), inbound(event_bytes(2), 2)]
    results = await KpiProjection(store)(batch)
    assert [type(r) for r in results] == [Outcome, PermanentError, Outcome]
    assert await store.count() == 2


async def test_the_error_for_an_invalid_payload_does_not_echo_its_content(store: KpiStore) -> None:
    [result] = await KpiProjection(store)([inbound(b'{"event_id": "Nguyen Van An 001090123456"}')])
    assert "Nguyen" not in str(result)
    assert "001090123456" not in str(result)


async def test_a_database_failure_makes_the_valid_records_transient(store: KpiStore) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text("DROP TABLE dossier_kpi"))
    results = await KpiProjection(store)([inbound(event_bytes(1)), inbound(b"{}", 1)])
    assert [type(r) for r in results] == [TransientError, PermanentError]
    assert isinstance(results[0], TransientError)
    assert results[0].peer == "kpi-store"


async def test_build_kpi_flow_defaults_to_kpi_db_under_the_state_dir(tmp_path: Path) -> None:
    flow, close = await build_kpi_flow(Settings(state_dir=tmp_path))
    try:
        assert (flow.name, flow.topic, flow.peer) == ("kpi", "dossier.events", "kpi-store")
        assert (tmp_path / "kpi.db").is_file()
        [result] = await flow.handler([inbound(event_bytes(1))])
        assert isinstance(result, Outcome)
    finally:
        await close()


async def test_build_kpi_flow_takes_a_topic_and_a_dsn(tmp_path: Path) -> None:
    flow, close = await build_kpi_flow(Settings(state_dir=tmp_path), topic="t.events",
                                       dsn=f"sqlite:///{tmp_path / 'other.db'}")  # fmt: skip
    await close()
    assert flow.topic == "t.events"
    assert (tmp_path / "other.db").is_file()
    assert not (tmp_path / "kpi.db").exists()
