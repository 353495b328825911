"""Every XML attack class sent to the ministry SOAP endpoint gets a SOAP Fault within 1 s; nothing is published."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from lienthong.audit.writer import AuditWriter
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.topics import create_topics
from lienthong.connectors.ministry.routes import PATH
from lienthong.connectors.xml_attacks import attack_corpus
from lienthong.testing import ServedApp

pytestmark = pytest.mark.integration

CORPUS = attack_corpus()
PERSONAL = "001099012345"


@pytest.fixture
def accounts_env(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump([{"username": "bo-tu-phap", "password": "p", "operations": ["GuiKetQuaXuLy"]}]))
    monkeypatch.setenv("LIENTHONG_SOAP_ACCOUNTS", str(path))
    yield


@pytest.fixture
async def served(settings, accounts_env) -> AsyncIterator[tuple[str, str]]:
    """lienthong's whole API app (create_app) under uvicorn: (SOAP URL, results topic)."""
    from lienthong.app import create_app
    from lienthong.connectors.registry import connector

    await create_topics(settings.bootstrap_servers, partitions=1, specs=connector("ministry").topics())
    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn())
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    try:
        async with ServedApp(create_app(settings, publisher=publisher)) as s:
            yield s.url + PATH, "ministry.results"
    finally:
        await publisher.close()
        await audit.close()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: off for tp, off in (await consumer.end_offsets(parts)).items()}
    finally:
        await consumer.stop()


async def post(url: str, body: bytes | object, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, content=body, headers=headers or {"content-type": "text/xml; charset=utf-8"})


@pytest.mark.parametrize("name", sorted(CORPUS))
async def test_each_attack_class_gets_a_client_fault_within_a_second(served, name: str) -> None:
    url, _ = served
    started = time.monotonic()
    reply = await post(url, CORPUS[name])
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert 400 <= reply.status_code < 500
    # An oversize body with a Content-Length is refused by the app's middleware before the route.
    assert "<faultcode>soap:Client</faultcode>" in reply.text or (name == "oversize" and reply.status_code == 413)


async def test_no_attack_publishes_anything(served, settings) -> None:
    url, topic = served
    before = await end_offsets(settings.bootstrap_servers, topic)
    assert before  # the topic exists: an empty answer would prove nothing
    for body in CORPUS.values():
        await post(url, body)
    assert await end_offsets(settings.bootstrap_servers, topic) == before


async def test_a_chunked_oversize_body_is_cut_off_at_the_cap(served, settings) -> None:
    url, _ = served

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 65536 + 4):
            yield b"<a>" + b"x" * 65533

    reply = await post(url, chunks())
    assert reply.status_code == 413
    assert "<faultcode>soap:Client</faultcode>" in reply.text


async def test_a_json_body_is_refused_with_415(served) -> None:
    url, _ = served
    reply = await post(url, b'{"MaHoSo": 1}', {"content-type": "application/json"})
    assert reply.status_code == 415
    assert "text/xml" in reply.text


async def test_faults_never_echo_submitted_values(served) -> None:
    url, _ = served
    body = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        f'<GuiKetQuaXuLy xmlns="urn:lienthong:bonganh:v1"><MaHoSo>{PERSONAL}</MaHoSo></GuiKetQuaXuLy>'
        f"</s:Body></s:Envelope><x>{PERSONAL}"
    ).encode()
    reply = await post(url, body)
    assert "soap:Client" in reply.text
    assert PERSONAL not in reply.text


async def test_a_soap_12_envelope_is_refused_as_not_soap_11(served) -> None:
    url, _ = served
    body = b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><x/></e:Body></e:Envelope>'
    reply = await post(url, body)
    assert reply.status_code == 400
    assert "SOAP 1.1" in reply.text


async def test_the_soap_endpoint_is_in_the_api_docs(served) -> None:
    url, _ = served
    async with httpx.AsyncClient() as client:
        doc = (await client.get(url.removesuffix(PATH) + "/openapi.json")).json()
    assert {"get", "post"} <= set(doc["paths"][PATH])
