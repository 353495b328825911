"""`lienthong replay` as a process, on the real broker, through the dossier_sync handler into the DVCQG sandbox.

A window replayed after delivery applies nothing again (the sandbox receives no new call); a window whose
effects were lost is applied once, and only once; every replay is an operator action in the audit chain.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from lienthong.audit.store import open_store
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import new_envelope, new_id
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.topics import create_topics
from lienthong.bus.worker import Worker
from lienthong.connectors.dvcqg.sandbox import DvcqgSandboxState, create_dvcqg_sandbox, sandbox_state
from lienthong.connectors.dvcqg.settings import DvcqgSettings
from lienthong.connectors.dvcqg.worker import build_dossier_sync_flow
from lienthong.demo.workload import synthetic_dossier
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import DossierEvent, DossierEventKind
from lienthong.settings import Settings
from lienthong.testing import ServedApp, wait_for

pytestmark = pytest.mark.integration

TOPIC = "dossier.events"
AGENCY = "000.00.12.H52"


@pytest.fixture
async def portal() -> AsyncIterator[tuple[DvcqgSandboxState, str]]:
    app = create_dvcqg_sandbox()
    async with ServedApp(app) as served:
        yield sandbox_state(app), served.url


async def produce_dossiers(settings: Settings, n: int, seed: int) -> list[str]:
    """n accepted dossiers, one record each, on dossier.events; returns their codes."""
    await create_topics(settings.bootstrap_servers, partitions=settings.partitions)
    rng = random.Random(seed)
    received = datetime(2025, 7, 3, 9, 0, tzinfo=VN_TZ)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    codes = []
    try:
        for i in range(n):
            dossier = synthetic_dossier(
                rng, agency_code=AGENCY, received_at=received, seq=seed * 100 + i, channel="counter"
            )
            event = DossierEvent(
                event_id=new_id(),
                kind=DossierEventKind.CREATED,
                occurred_at=datetime.now(UTC),
                source="onestop",
                dossier=dossier,
            )
            env = new_envelope(type=event.event_type, source="/onestop", subject=dossier.code)
            await producer.send(
                TOPIC, event.model_dump_json().encode(), key=dossier.code.encode(), headers=env.to_headers()
            )
            codes.append(dossier.code)
        await producer.flush()
    finally:
        await producer.stop()
    return codes


async def lienthong(settings: Settings, portal_url: str, *args: str) -> tuple[int, str, str]:
    """Run the `lienthong` command as its own process, configured like an operator's shell."""
    env = {
        **os.environ,
        "LIENTHONG_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LIENTHONG_STATE_DIR": str(settings.state_dir),
        "LIENTHONG_DVCQG_URL": portal_url,
        "LIENTHONG_DVCQG_TIMEOUT_S": "10",
        "LIENTHONG_OPERATOR": "ops-test",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lienthong.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, stdout.decode(), stderr.decode()


def window(since: datetime, until: datetime) -> list[str]:
    return ["--since", since.isoformat(), "--until", until.isoformat()]


async def replay_json(settings: Settings, url: str, since: datetime, until: datetime, *extra: str) -> dict[str, int]:
    code, stdout, stderr = await lienthong(
        settings,
        url,
        "replay",
        "--topic",
        TOPIC,
        "--flow",
        "dossier_sync",
        *window(since, until),
        "--why",
        "DVCQG lost updates",
        "--json",
        *extra,
    )
    assert code == 0, stderr
    doc: dict[str, int] = json.loads(stdout.strip().splitlines()[-1])
    return doc


def synced_calls(state: DvcqgSandboxState) -> int:
    return state.stats.calls_by_service["DongBoHoSoMC"]


async def test_replaying_a_delivered_window_applies_nothing_again(settings: Settings, portal: tuple) -> None:
    state, url = portal
    since = datetime.now(UTC) - timedelta(seconds=1)
    codes = await produce_dossiers(settings, 12, seed=11)
    until = datetime.now(UTC) + timedelta(seconds=1)

    # The live worker delivers the window first.
    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn())
    idem = IdempotencyStore(settings.resolved_idempotency_dsn())
    await idem.open()
    flow, close = await build_dossier_sync_flow(settings, idempotency=idem, dvcqg=DvcqgSettings(url=url, timeout_s=10))
    worker = Worker(flow, settings, audit)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(
            lambda: all(state.dossier(c) is not None for c in codes), timeout=60, what="12 dossiers at DVCQG"
        )
    finally:
        await worker.stop()
        await task
        await close()
        await audit.close()
        await idem.close()
    calls_before = synced_calls(state)

    counts = await replay_json(settings, url, since, until)

    assert (counts["read"], counts["applied"], counts["skipped"]) == (12, 0, 12)
    assert synced_calls(state) == calls_before


async def test_a_lost_window_is_applied_once_and_a_second_replay_applies_nothing(
    settings: Settings, portal: tuple
) -> None:
    state, url = portal
    since = datetime.now(UTC) - timedelta(seconds=1)
    codes = await produce_dossiers(settings, 9, seed=12)
    until = datetime.now(UTC) + timedelta(seconds=1)
    assert all(state.dossier(c) is None for c in codes)  # no worker ran: the effects were "lost"

    first = await replay_json(settings, url, since, until, "--rate", "100")
    assert (first["read"], first["applied"], first["skipped"]) == (9, 9, 0)
    assert all(state.dossier(c) is not None for c in codes)
    calls_after_first = synced_calls(state)

    second = await replay_json(settings, url, since, until)
    assert (second["read"], second["applied"], second["skipped"]) == (9, 0, 9)
    assert synced_calls(state) == calls_after_first

    # Each replay is an operator action: who, why, window, counts.
    store = open_store(settings.resolved_audit_dsn())
    await store.open()
    try:
        records = await store.by_dossier("")
    finally:
        await store.close()
    finished = [r for r in records if r.event_type == "replay.finished"]
    assert len(finished) == 2
    detail = finished[0].detail if isinstance(finished[0].detail, dict) else json.loads(finished[0].detail)
    assert detail["operator"] == "ops-test"
    assert detail["reason"] == "DVCQG lost updates"
    assert detail["since_ms"] == int(since.timestamp() * 1000)
    assert (detail["read"], detail["applied"], detail["skipped"]) == (9, 9, 0)


async def test_dry_run_lists_the_window_and_filters_by_dossier_without_calling_the_peer(
    settings: Settings, portal: tuple
) -> None:
    state, url = portal
    since = datetime.now(UTC) - timedelta(seconds=1)
    codes = await produce_dossiers(settings, 5, seed=13)
    until = datetime.now(UTC) + timedelta(seconds=1)

    code, stdout, stderr = await lienthong(
        settings,
        url,
        "replay",
        "--topic",
        TOPIC,
        "--flow",
        "dossier_sync",
        *window(since, until),
        "--dossier",
        codes[2],
        "--why",
        "check",
        "--dry-run",
        "--json",
    )
    assert code == 0, stderr
    doc = json.loads(stdout.strip().splitlines()[-1])
    assert doc["read"] == 1
    assert [r["dossier_code"] for r in doc["records"]] == [codes[2]]
    assert synced_calls(state) == 0


async def test_a_window_before_the_topic_holds_anything_reads_nothing(settings: Settings, portal: tuple) -> None:
    _, url = portal
    await produce_dossiers(settings, 1, seed=14)
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    counts = await replay_json(settings, url, long_ago, long_ago + timedelta(hours=1))
    assert (counts["read"], counts["applied"], counts["skipped"]) == (0, 0, 0)


def test_replay_refuses_a_flow_of_another_topic(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lienthong.cli import app

    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--topic",
            "dossier.inbound",
            "--flow",
            "dossier_sync",
            "--since",
            "2025-07-01T00:00:00Z",
            "--until",
            "2025-07-02T00:00:00Z",
            "--why",
            "x",
        ],
    )
    assert result.exit_code == 2
    assert "consumes dossier.events" in result.stderr
