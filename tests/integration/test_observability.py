"""What an operator scrapes and reads: `lienthong run` serves /metrics /healthz /readyz; `lienthong api` logs
JSON lines (uvicorn's access log included) with logger names, correlation ids, query strings and personal data
masked; HTTP counters and latency per route; a client hanging up mid-body leaves no traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from lienthong.app import create_app
from lienthong.settings import Settings
from lienthong.testing import ServedApp, free_port, wait_for

pytestmark = pytest.mark.integration

CITIZEN_ID = "052090000123"
PHONE = "0912345678"


def env_for(kafka: str, state_dir: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    return {**clean, "LIENTHONG_BOOTSTRAP_SERVERS": kafka, "LIENTHONG_STATE_DIR": str(state_dir),
            "LIENTHONG_LOG_FORMAT": "json", "LIENTHONG_PARTITIONS": "2", **extra}  # fmt: skip


async def get_until_up(url: str, timeout: float = 60) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                return await client.get(url)
            except httpx.TransportError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def test_run_serves_metrics_health_and_readiness_on_the_metrics_port(kafka: str, tmp_path: Path) -> None:
    port = free_port()
    env = env_for(kafka, tmp_path, LIENTHONG_METRICS_PORT=str(port), LIENTHONG_CONSUMER_GROUP=f"obs{port}")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "lienthong.cli", "run", "--flows", "kpi",
                                                env=env, stderr=asyncio.subprocess.PIPE)  # fmt: skip
    try:
        health = await get_until_up(f"http://127.0.0.1:{port}/healthz")
        assert health.json() == {"status": "ok"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/readyz")).status_code == 200
            metrics = await client.get("/metrics")
            assert metrics.headers["content-type"].startswith("text/plain")
            seen: list[str] = []

            async def depth_reported() -> bool:
                seen[:] = [(await client.get("/metrics")).text]
                return "lienthong_dlq_depth{" in seen[0] and "lienthong_retry_depth{" in seen[0]

            # The depth watcher has looked at the flow's DLQ and retry topics.
            await wait_for(depth_reported, timeout=30, interval=0.2, what="DLQ depth on /metrics")
            text = seen[0]
            assert 'lienthong_dlq_depth{topic="dossier.events.dlq"} 0.0' in text
            assert f'lienthong_retry_depth{{group="obs{port}.kpi",topic="dossier.events.retry"}}' in text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr.decode()[-2000:]
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    assert lines
    assert all(json.loads(line).get("logger") for line in lines)


def half_sent_post(port: int) -> None:
    """A client that announces 1000 bytes, sends 10 and hangs up."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /onestop/dossier-events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{\"event_id")  # fmt: skip


async def test_api_logs_are_json_lines_with_logger_correlation_and_nothing_personal(kafka: str, tmp_path: Path) -> None:
    port = free_port()
    env = env_for(kafka, tmp_path, LIENTHONG_HTTP_PORT=str(port))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "lienthong.cli", "api", env=env,
                                                stderr=asyncio.subprocess.PIPE)  # fmt: skip
    try:
        await get_until_up(f"http://127.0.0.1:{port}/healthz")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            r = await client.get(f"/healthz?cccd={CITIZEN_ID}&sdt={PHONE}", headers={"X-Correlation-Id": "corr-obs-1"})
            assert r.headers["x-correlation-id"] == "corr-obs-1"
        await asyncio.to_thread(half_sent_post, port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            # The hang-up is counted once the server has dealt with it.
            async def hang_up_counted() -> bool:
                return 'status="499"' in (await client.get("/metrics")).text

            await wait_for(hang_up_counted, timeout=20, interval=0.1, what="the hang-up on /metrics")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = stderr.decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert CITIZEN_ID not in text
    assert PHONE not in text
    assert "Traceback" not in text
    assert all(line.get("logger") for line in lines)
    access = [
        line for line in lines if line["logger"] == "uvicorn.access" and line.get("correlation_id") == "corr-obs-1"
    ]
    assert len(access) == 1
    assert access[0]["path"] == "/healthz?cccd=***&sdt=***"
    assert access[0]["correlation_id"] == "corr-obs-1"


async def test_http_requests_are_counted_and_timed_per_route_template(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    async with ServedApp(create_app(settings, routes=False)) as served, httpx.AsyncClient(base_url=served.url) as c:
        for _ in range(3):
            await c.get("/healthz")
        await c.get(f"/no/such/{CITIZEN_ID}")
        text = (await c.get("/metrics")).text
    assert 'lienthong_http_inbound_total{route="GET /healthz",status="200"} 3.0' in text
    assert 'lienthong_http_request_duration_seconds_count{route="GET /healthz"} 3.0' in text
    assert 'route="unmatched",status="404"' in text
    assert CITIZEN_ID not in text


async def test_payload_schemas_are_served_where_ce_dataschema_points(tmp_path: Path) -> None:
    from lienthong.bus.envelope import new_envelope

    env = new_envelope(type="vn.gov.lienthong.dossier.created.v1", source="/t")
    schema_url = dict(env.to_headers())["ce_dataschema"].decode()
    path = schema_url[schema_url.index("/schemas/") :]
    async with (
        ServedApp(create_app(Settings(state_dir=tmp_path), routes=False)) as served,
        httpx.AsyncClient(base_url=served.url) as c,
    ):
        index = (await c.get("/schemas")).json()
        schema = await c.get(path)
        missing = await c.get("/schemas/NoSuchModel.json")
        openapi = (await c.get("/openapi.json")).json()
    assert path in index.values()
    assert schema.status_code == 200
    assert schema.json()["title"] == "DossierEvent"
    assert "dossier" in schema.json()["properties"]
    assert missing.status_code == 404
    assert list(openapi["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]


async def test_a_made_up_http_method_does_not_make_a_new_metric_label(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    async with ServedApp(create_app(settings, routes=False)) as served, httpx.AsyncClient(base_url=served.url) as c:
        for i in range(5):
            await c.request(f"X{i}ATTACK", "/healthz")
        text = (await c.get("/metrics")).text
    assert "ATTACK" not in text
