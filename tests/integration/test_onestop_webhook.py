"""The one-stop webhook and topic intake over a real broker and a real uvicorn server."""

from __future__ import annotations

import asyncio
import copy
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from fastapi import FastAPI

from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import new_envelope
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.worker import Worker
from lienthong.connectors.onestop.routes import PATH, router
from lienthong.connectors.onestop.settings import OnestopSettings
from lienthong.connectors.onestop.worker import SOURCE_EVENT_TYPE, build_onestop_topic_flow
from lienthong.mappings.onestop import EXAMPLE_EVENT, OnestopDossierEventIn, onestop_event_to_canonical
from lienthong.schemas.dossier import DossierEvent
from lienthong.settings import Settings
from lienthong.testing import ServedApp, consume_all, wait_for

pytestmark = pytest.mark.integration

CODE = EXAMPLE_EVENT["dossier"]["MaHoSo"]
NAME = EXAMPLE_EVENT["dossier"]["ChuHoSo"]
ID_NUMBER = EXAMPLE_EVENT["dossier"]["SoGiayToChuHoSo"]
PHONE = EXAMPLE_EVENT["dossier"]["SoDienThoai"]
NOTHING_WAIT_S = 2.0
"""How long a test reads a topic to be sure nothing arrived."""


@asynccontextmanager
async def webhook(
    settings: Settings, audit: AuditWriter, topic: str, onestop: OnestopSettings | None = None
) -> AsyncIterator[str]:
    """lienthong's webhook route alone under uvicorn, publishing to `topic`; yields its URL."""
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    app = FastAPI()
    app.include_router(router(publisher, onestop or OnestopSettings(), topic=topic))
    try:
        async with ServedApp(app) as served:
            yield served.url + PATH
    finally:
        await publisher.close()


def event(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE_EVENT)
    dossier = changes.pop("dossier", {})
    body.update(changes)
    body["dossier"].update(dossier)
    return body


def without_nulls(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}


async def post(url: str, body: Any, **headers: str) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=raw, headers={"Content-Type": "application/json", **headers})


async def test_valid_event_is_answered_202_once_it_is_on_the_topic_as_a_canonical_cloudevent(
    settings, topic, audit
) -> None:
    raw = orjson.dumps(EXAMPLE_EVENT)
    async with webhook(settings, audit, topic) as url:
        response = await post(url, raw)
    assert response.status_code == 202
    assert response.json() == {"accepted": True, "id": response.json()["id"], "duplicate": False}
    [rec] = await consume_all(settings.bootstrap_servers, topic, expect=1)
    ce = from_binary_event(KafkaMessage(headers=dict(rec.headers), key=rec.key, value=rec.value))
    assert ce.get_id() == response.json()["id"]
    assert ce.get_type() == "vn.gov.lienthong.dossier.status_changed.v1"
    assert ce.get_source() == "/onestop"
    assert ce.get_subject() == CODE
    assert rec.key == CODE.encode()
    expected = onestop_event_to_canonical(OnestopDossierEventIn.model_validate_json(raw))
    assert DossierEvent.model_validate_json(rec.value) == expected
    received = [r async for r in audit.store.records() if r.outcome == "received"]
    assert [(r.peer, r.dossier_code, r.digest) for r in received] == [
        ("onestop", CODE, hashlib.sha256(raw).hexdigest())
    ]
    assert (await verify_chain(audit.store)).ok


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (event(version=-1), "version"),
        (event(event_type="dossier.deleted"), "event_type"),
        (event(dossier={"TrangThaiHoSo": "11"}), "dossier.TrangThaiHoSo"),
        (event(dossier={"NgayHenTra": "2025-07-04"}), "dossier.NgayHenTra"),
        ({k: v for k, v in EXAMPLE_EVENT.items() if k != "dossier"}, "dossier"),
    ],
    ids=["negative-version", "unknown-type", "status-out-of-range", "bad-date", "no-dossier"],
)
async def test_invalid_event_is_refused_with_the_field_and_nothing_is_published(
    settings, topic, audit, body, field
) -> None:
    async with webhook(settings, audit, topic) as url:
        response = await post(url, body)
    assert response.status_code == 422
    answer = response.json()
    assert answer["accepted"] is False
    assert any(e["loc"].startswith(field) for e in answer["errors"]), answer
    assert await consume_all(settings.bootstrap_servers, topic, expect=1, timeout=NOTHING_WAIT_S) == []


async def test_body_that_is_not_json_is_refused_with_400_and_nothing_is_published(settings, topic, audit) -> None:
    async with webhook(settings, audit, topic) as url:
        response = await post(url, b"{not json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["type"] == "json_invalid"
    assert await consume_all(settings.bootstrap_servers, topic, expect=1, timeout=NOTHING_WAIT_S) == []


async def test_refusal_never_echoes_personal_data(settings, topic, audit) -> None:
    body = event(
        dossier={
            "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": ID_NUMBER[:-1]}],  # 11 digits: invalid
            "SoDienThoai": {"not": "text"},
            "ChuHoSo": [NAME],
            "Email": 12345,
        }
    )
    async with webhook(settings, audit, topic) as url:
        response = await post(url, body)
    assert response.status_code == 422
    text = response.text
    for secret in (NAME, ID_NUMBER, ID_NUMBER[:-1], PHONE):
        assert secret not in text
    assert "input" not in response.json()["errors"][0]


async def test_duplicate_delivery_is_answered_duplicate_and_published_once(settings, topic, audit) -> None:
    async with webhook(settings, audit, topic) as url:
        first = await post(url, EXAMPLE_EVENT)
        again = await post(url, EXAMPLE_EVENT)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"accepted": True, "duplicate": True, "id": first.json()["id"]}
    records = await consume_all(settings.bootstrap_servers, topic, expect=2, timeout=NOTHING_WAIT_S)
    assert len(records) == 1


async def test_same_event_after_a_restart_is_the_same_record_id_and_version(settings, topic, audit) -> None:
    # A fresh process has no memory of accepted ids: the record repeats, with the same ce_id and version,
    # which is what the DVCQG sync's version guard relies on.
    for _ in range(2):
        async with webhook(settings, audit, topic) as url:
            assert (await post(url, EXAMPLE_EVENT)).status_code == 202
    records = await consume_all(settings.bootstrap_servers, topic, expect=2)
    assert len({dict(r.headers)["ce_id"] for r in records}) == 1
    assert {DossierEvent.model_validate_json(r.value).dossier.version for r in records} == {EXAMPLE_EVENT["version"]}


async def test_webhook_token_when_set_is_required_as_a_bearer_token(settings, topic, audit) -> None:
    onestop = OnestopSettings(webhook_token="s3cret-token")
    async with webhook(settings, audit, topic, onestop) as url:
        missing = await post(url, EXAMPLE_EVENT)
        wrong = await post(url, EXAMPLE_EVENT, Authorization="Bearer s3cret-tokeX")
        not_bearer = await post(url, EXAMPLE_EVENT, Authorization="Basic s3cret-token")
        right = await post(url, EXAMPLE_EVENT, Authorization="Bearer s3cret-token")
    assert [r.status_code for r in (missing, wrong, not_bearer)] == [401, 401, 401]
    assert missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 202
    records = await consume_all(settings.bootstrap_servers, topic, expect=2, timeout=NOTHING_WAIT_S)
    assert len(records) == 1


async def test_event_is_answered_503_when_it_cannot_be_made_durable(settings, topic, audit) -> None:
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    app = FastAPI()
    # The topic does not exist (the broker does not create topics): the record never becomes durable.
    app.include_router(router(publisher, OnestopSettings(), topic=f"{topic}-missing", publish_timeout_s=1.0))
    try:
        async with ServedApp(app) as served:
            response = await post(served.url + PATH, EXAMPLE_EVENT)
    finally:
        await publisher.close()
    assert response.status_code == 503
    assert response.json()["accepted"] is False
    assert response.headers["retry-after"] == "5"


async def test_openapi_documents_the_webhook_with_its_example(settings, audit) -> None:
    app = FastAPI()
    app.include_router(router(BusPublisher(settings, audit), OnestopSettings()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"][PATH]["post"]
    content = operation["requestBody"]["content"]["application/json"]
    # FastAPI leaves null values out of the OpenAPI document.
    assert content["example"] == {**EXAMPLE_EVENT, "dossier": without_nulls(EXAMPLE_EVENT["dossier"])}
    # The body is the pydantic model FastAPI validates with, so OpenAPI states what the code enforces.
    schemas = spec["components"]["schemas"]
    body = schemas[content["schema"]["$ref"].rsplit("/", 1)[-1]]
    dossier = schemas[body["properties"]["dossier"]["$ref"].rsplit("/", 1)[-1]]
    assert "MaHoSo" in dossier["required"]
    assert body["properties"]["version"]["type"] == "integer"
    assert {"202", "200", "400", "401", "413", "415", "422", "503"} <= set(operation["responses"])
    assert spec["components"]["securitySchemes"]["OnestopWebhookToken"]["scheme"] == "bearer"


# The alternative input: the one-stop system's own topic ---------------------------------------------


async def produce(settings: Settings, topic: str, records: list[tuple[bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value, headers in records:
            await producer.send_and_wait(topic, value, key=CODE.encode(), headers=headers)
    finally:
        await producer.stop()


async def test_topic_records_are_republished_as_canonical_events_with_the_webhooks_record_id(
    settings, topic, audit
) -> None:
    raw = orjson.dumps(EXAMPLE_EVENT)
    env = new_envelope(type=SOURCE_EVENT_TYPE, source="/motcua", subject=CODE)
    await produce(settings, topic, [(raw, env.to_headers()), (raw, []), (b"{}", env.to_headers())])
    flow, close = await build_onestop_topic_flow(settings, topic=topic, out_topic=f"{topic}.out")
    worker = Worker(flow, settings, audit)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: worker.stats["delivered"] == 1 and worker.stats["dead_lettered"] == 2,
                       what="one republished, two dead-lettered")  # fmt: skip
    finally:
        await worker.stop()
        await task
        await close()
    [out] = await consume_all(settings.bootstrap_servers, f"{topic}.out", expect=1)
    async with webhook(settings, audit, f"{topic}.out") as url:
        webhook_id = (await post(url, raw)).json()["id"]
    headers = dict(out.headers)
    assert headers["ce_id"].decode() == webhook_id
    assert headers["causation_id"] == env.id.encode()
    assert out.key == CODE.encode()
    expected = onestop_event_to_canonical(OnestopDossierEventIn.model_validate_json(raw))
    assert DossierEvent.model_validate_json(out.value) == expected
    dead = await consume_all(settings.bootstrap_servers, f"{topic}.dlq", expect=2)
    assert sorted(bytes(d.value) for d in dead) == sorted([raw, b"{}"])
