"""Fixtures for integration tests: per-test topics on the session broker, peers under uvicorn."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from lienthong.audit.writer import AuditWriter
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.topics import TopicSpec, create_topics
from lienthong.settings import Settings
from lienthong.testing import RecordingPeer, ServedApp


@pytest.fixture
async def topic(settings: Settings) -> str:
    """A fresh main topic (with .retry, .dlq and .out) so tests never see each other's records."""
    name = f"t{uuid.uuid4().hex[:10]}"
    spec = TopicSpec(name, key="id", description="test", payload="lienthong.bus.selftest.SelfTestMessage",
                     event_types=())  # fmt: skip
    out = TopicSpec(f"{name}.out", key="id", description="test", payload="x.y", event_types=(), companions=False)
    await create_topics(settings.bootstrap_servers, partitions=settings.partitions, specs=[spec, out])
    return name


@pytest.fixture
async def audit(settings: Settings) -> AsyncIterator[AuditWriter]:
    """An audit writer on the test's own SQLite file."""
    writer = await AuditWriter.from_dsn(settings.resolved_audit_dsn())
    yield writer
    await writer.close()


@pytest.fixture
async def idempotency(settings: Settings) -> AsyncIterator[IdempotencyStore]:
    """The test's own idempotency store."""
    store = IdempotencyStore(settings.resolved_idempotency_dsn())
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def peer() -> AsyncIterator[tuple[RecordingPeer, str]]:
    """A recording peer under uvicorn; yields (peer, effects URL)."""
    p = RecordingPeer()
    async with ServedApp(p.app) as served:
        yield p, f"{served.url}/effects"
