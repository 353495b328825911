"""DVCQG pushes into lienthong, and on to the one-stop system, over a real broker and real uvicorn servers."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from fastapi import FastAPI

from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.worker import Worker
from lienthong.connectors.dvcqg.routes import EXAMPLE_PUSH, PATH, router
from lienthong.connectors.onestop.sandbox import create_onestop_sandbox, sandbox_state
from lienthong.connectors.onestop.settings import OnestopSettings
from lienthong.connectors.onestop.worker import build_onestop_delivery_flow
from lienthong.mappings.onestop import notice_to_onestop
from lienthong.schemas.dossier import InboundNotice, NoticeKind
from lienthong.settings import Settings
from lienthong.testing import ServedApp, consume_all, wait_for

pytestmark = pytest.mark.integration

CODE = EXAMPLE_PUSH["data"][0]["MaHoSo"]
NOTHING_WAIT_S = 2.0
"""How long a test reads a topic to be sure nothing arrived."""


@asynccontextmanager
async def push_endpoint(settings: Settings, audit: AuditWriter, topic: str) -> AsyncIterator[str]:
    """lienthong's DVCQG push route alone under uvicorn, publishing to `topic`; yields its URL."""
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    app = FastAPI()
    app.include_router(router(publisher, topic=topic))
    try:
        async with ServedApp(app) as served:
            yield served.url + PATH
    finally:
        await publisher.close()


async def push(url: str, body: Any) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=raw, headers={"Content-Type": "application/json"})


def pushed(**item_changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE_PUSH)
    body["data"][0].update(item_changes)
    return body


async def test_valid_push_is_answered_error_code_0_once_the_notice_is_on_the_topic(settings, topic, audit) -> None:
    async with push_endpoint(settings, audit, topic) as url:
        response = await push(url, EXAMPLE_PUSH)
    assert response.status_code == 200
    assert response.json() == {"error_code": 0, "message": "accepted", "id": response.json()["id"]}
    [rec] = await consume_all(settings.bootstrap_servers, topic, expect=1)
    ce = from_binary_event(KafkaMessage(headers=dict(rec.headers), key=rec.key, value=rec.value))
    assert ce.get_type() == "vn.gov.lienthong.dossier.inbound_notice.v1"
    assert ce.get_id() == response.json()["id"]
    assert ce.get_subject() == CODE
    assert rec.key == CODE.encode()
    notice = InboundNotice.model_validate_json(rec.value)
    assert notice.kind is NoticeKind.LAND_TAX_NOTICE
    assert notice.items[0].dossier_code == CODE
    assert notice.items[0].attachments[0].content_base64 == EXAMPLE_PUSH["data"][0]["TepDinhKem"][0]["Base64"]
    assert (await verify_chain(audit.store)).ok


async def test_same_push_again_is_answered_error_code_1_and_not_republished(settings, topic, audit) -> None:
    async with push_endpoint(settings, audit, topic) as url:
        first = await push(url, EXAMPLE_PUSH)
        again = await push(url, EXAMPLE_PUSH)
    assert first.json()["error_code"] == 0
    assert again.status_code == 200
    assert again.json() == {"error_code": 1, "message": "duplicate", "id": first.json()["id"]}
    records = await consume_all(settings.bootstrap_servers, topic, expect=2, timeout=NOTHING_WAIT_S)
    assert len(records) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({**EXAMPLE_PUSH, "service": "XoaHoSo"}, "service: Input should be 'NhanThongBaoThueDat'"),
        ({"service": "NhanThongBaoThueDat", "data": "x"}, "data: Input should be a valid list"),
        ({"service": "NhanThongBaoThueDat", "data": []}, "data: List should have at least 1 item"),
        (pushed(NgayNopHoSo="03/07/2025"), "NgayNopHoSo"),
        (pushed(TepDinhKem=[{"TenTepDinhKem": "a.pdf", "Base64": "***"}]), "base64"),
        (["not", "an", "object"], "<body>: Input should be a valid dictionary"),
    ],
    ids=["unknown-service", "data-not-list", "no-items", "bad-date", "bad-attachment", "not-an-object"],
)
async def test_invalid_push_is_answered_error_code_minus_1_with_the_reason_and_nothing_is_published(
    settings, topic, audit, body, reason
) -> None:
    async with push_endpoint(settings, audit, topic) as url:
        response = await push(url, body)
    assert response.status_code == 200
    assert response.json()["error_code"] == -1
    assert reason in response.json()["message"]
    assert await consume_all(settings.bootstrap_servers, topic, expect=1, timeout=NOTHING_WAIT_S) == []


async def test_refusal_never_echoes_personal_data(settings, topic, audit) -> None:
    name, id_number = "Nguyễn Văn An", "052090000123"
    body = pushed(ChuHoSo=name, SoDinhDanh=id_number, MaSoThue=id_number[:9])
    async with push_endpoint(settings, audit, topic) as url:
        response = await push(url, body)
    assert response.json()["error_code"] == -1
    assert name not in response.text
    assert id_number not in response.text


async def test_push_is_answered_503_when_it_cannot_be_made_durable(settings, topic, audit) -> None:
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    app = FastAPI()
    # The topic does not exist (the broker does not create topics): the record never becomes durable.
    app.include_router(router(publisher, topic=f"{topic}-missing", publish_timeout_s=1.0))
    try:
        async with ServedApp(app) as served:
            response = await push(served.url + PATH, EXAMPLE_PUSH)
            again = await push(served.url + PATH, EXAMPLE_PUSH)
    finally:
        await publisher.close()
    assert response.status_code == again.status_code == 503
    assert again.json()["error_code"] == -1, "a push that was not accepted is not a duplicate"


async def test_body_that_is_not_json_is_answered_http_400(settings, topic, audit) -> None:
    async with push_endpoint(settings, audit, topic) as url:
        response = await push(url, b"<xml/>")
    assert response.status_code == 400
    assert response.json()["error_code"] == -1
    assert await consume_all(settings.bootstrap_servers, topic, expect=1, timeout=NOTHING_WAIT_S) == []


async def test_notice_reaches_the_onestop_system_once_though_it_was_down_first_and_the_push_repeated(
    settings, topic, audit, idempotency
) -> None:
    onestop_app = create_onestop_sandbox()
    system = sandbox_state(onestop_app)
    system.set_down(True)
    async with ServedApp(onestop_app) as onestop:
        flow, close = await build_onestop_delivery_flow(
            settings, idempotency=idempotency, onestop=OnestopSettings(url=onestop.url, timeout_s=2.0), topic=topic
        )
        worker = Worker(flow, settings, audit)
        await worker.start()
        task = asyncio.create_task(worker.run())
        try:
            async with push_endpoint(settings, audit, topic) as url:
                assert (await push(url, EXAMPLE_PUSH)).json()["error_code"] == 0
            await wait_for(lambda: worker.stats["retried"] >= 1, what="a retry while the system is down")
            assert not system.notices
            system.set_down(False)
            await wait_for(lambda: worker.stats["delivered"] == 1, timeout=30, what="delivery once the system is up")
            calls = system.calls
            # A new hub process (no memory of recent pushes) gets the same push again: same record id,
            # so the delivery finds its stored effect and makes no second call.
            async with push_endpoint(settings, audit, topic) as url:
                assert (await push(url, EXAMPLE_PUSH)).json()["error_code"] == 0
            await wait_for(lambda: worker.stats["delivered"] == 2, what="the repeated push settled")
        finally:
            await worker.stop()
            await task
            await close()
    assert system.calls == calls
    [notice] = system.notices.values()
    first, *_ = await consume_all(settings.bootstrap_servers, topic, expect=2)
    assert notice.body == notice_to_onestop(InboundNotice.model_validate_json(first.value))
    assert worker.stats["dead_lettered"] == 0
    outcomes = [(r.outcome, r.peer) async for r in audit.store.records() if r.flow == flow.name]
    assert outcomes.count(("sent", "onestop")) == 1
    assert outcomes.count(("skipped_duplicate", "onestop")) == 1
    assert (await verify_chain(audit.store)).ok
