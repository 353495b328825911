"""Operator views and the ASGI app over real sockets: tap, audit trace, health, metrics, AsyncAPI, body cap."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from typer.testing import CliRunner

from lienthong.app import create_app
from lienthong.audit.record import AuditEntry
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import new_envelope
from lienthong.cli import app
from lienthong.settings import Settings
from lienthong.testing import ServedApp

pytestmark = pytest.mark.integration


def test_tap_prints_records_with_headers_and_masks_personal_data(kafka: str) -> None:
    topic = f"tap{uuid.uuid4().hex[:8]}"

    async def produce() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 1, 1)])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
        await producer.start()
        env = new_envelope(type="vn.gov.lienthong.dossier.created.v1", source="/t", subject="000.00.12.H52-250703-0042")
        for i in range(3):
            value = json.dumps({"MaHoSo": "000.00.12.H52-250703-0042", "SoDinhDanh": "052090000123", "i": i})
            await producer.send_and_wait(
                topic, value.encode(), key=b"000.00.12.H52-250703-0042", headers=env.to_headers()
            )
        await producer.stop()

    asyncio.run(produce())
    result = CliRunner().invoke(app, ["tap", topic, "--from-beginning", "--max", "2", "--json", "--bootstrap", kafka])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert len(lines) == 2
    assert lines[0]["headers"]["ce_type"] == "vn.gov.lienthong.dossier.created.v1"
    assert lines[0]["value"]["MaHoSo"] == "000.00.12.H52-250703-0042"
    assert "052090000123" not in result.output


def test_tap_on_a_missing_topic_says_how_to_create_it(kafka: str) -> None:
    result = CliRunner().invoke(app, ["tap", "no-such-topic", "--bootstrap", kafka])
    assert result.exit_code == 1
    assert "lienthong topics create" in " ".join(result.output.split())


def test_audit_trace_prints_one_dossiers_timeline(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"

    async def fill() -> None:
        writer = await AuditWriter.from_dsn(f"sqlite:///{db}")
        await writer.append([
            AuditEntry("dossier_sync", "in", "onestop", "received", dossier_code="A-1"),
            AuditEntry("dossier_sync", "out", "dvcqg", "sent", dossier_code="A-1"),
            AuditEntry("dossier_sync", "out", "dvcqg", "sent", dossier_code="B-2"),
        ])  # fmt: skip
        await writer.close()

    asyncio.run(fill())
    result = CliRunner().invoke(app, ["audit", "trace", "A-1", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["seq"], r["outcome"]) for r in rows] == [(1, "received"), (2, "sent")]


async def test_api_serves_health_metrics_asyncapi_and_refuses_oversize_bodies(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, max_body_bytes=2048)
    async with (
        ServedApp(create_app(settings, routes=False)) as served,
        httpx.AsyncClient(base_url=served.url) as client,
    ):
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).status_code == 200
        metrics = await client.get("/metrics")
        assert "lienthong_consumed_total" in metrics.text
        doc = (await client.get("/asyncapi.json")).json()
        assert doc["asyncapi"] == "3.0.0"
        assert {c["address"] for c in doc["channels"].values()} >= {"dossier.events", "dossier.inbound"}
        big = await client.post("/healthz", content=b"x" * 4096)
        assert big.status_code == 413
        assert "2048" in big.json()["detail"]
