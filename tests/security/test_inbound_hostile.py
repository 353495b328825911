"""Hostile and careless callers against both inbound routes of the real app (uvicorn, real broker).

Concurrent duplicates, chunked oversize bodies, huge integers, far-future dates, non-JSON content types,
value echo: each is refused (or collapsed) with nothing extra on the bus.
"""

from __future__ import annotations

import asyncio
import copy
import unicodedata
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from lienthong.app import create_app
from lienthong.audit.writer import AuditWriter
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.topics import create_topics
from lienthong.connectors.dvcqg.routes import EXAMPLE_PUSH
from lienthong.mappings.onestop import EXAMPLE_EVENT
from lienthong.settings import Settings
from lienthong.testing import ServedApp, consume_all

pytestmark = pytest.mark.integration

WEBHOOK = "/onestop/dossier-events"
PUSH = "/dvcqg/push"
TOKEN = "hostile-test-token"
NOTHING_WAIT_S = 2.0
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
ID_NUMBER = EXAMPLE_EVENT["dossier"]["SoGiayToChuHoSo"]
NAME = EXAMPLE_EVENT["dossier"]["ChuHoSo"]
PHONE = EXAMPLE_EVENT["dossier"]["SoDienThoai"]


@pytest.fixture
async def hub(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The whole ASGI app under uvicorn with both inbound tokens set; yields its base URL."""
    monkeypatch.setenv("LIENTHONG_ONESTOP_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("LIENTHONG_DVCQG_PUSH_TOKEN", TOKEN)
    await create_topics(settings.bootstrap_servers, partitions=settings.partitions)
    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn())
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    try:
        async with ServedApp(create_app(settings, publisher=publisher)) as served:
            yield served.url
    finally:
        await publisher.close()
        await audit.close()


def dossier_code() -> str:
    """A dossier code no other test uses (so records on the shared topics can be told apart)."""
    return f"000.00.12.H52-250703-{uuid.uuid4().int % 90000 + 10000}"


def event(code: str, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE_EVENT)
    body["event_id"] = uuid.uuid4().hex
    body["dossier"]["MaHoSo"] = code
    dossier = changes.pop("dossier", {})
    body.update(changes)
    body["dossier"].update(dossier)
    return body


def push_body(code: str, **item: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE_PUSH)
    body["data"][0]["MaHoSo"] = code
    body["data"][0].update(item)
    return body


async def records_for(settings: Settings, topic: str, code: str, *, expect: int) -> list[Any]:
    """Records of `topic` keyed by `code` (waits for `expect`, then a little longer for extras)."""
    found = await consume_all(settings.bootstrap_servers, topic, expect=10**6, timeout=NOTHING_WAIT_S + expect)
    return [r for r in found if r.key == code.encode()]


ROUTES = [
    pytest.param(WEBHOOK, "dossier.events", event, id="onestop-webhook"),
    pytest.param(PUSH, "dossier.inbound", push_body, id="dvcqg-push"),
]


@pytest.mark.parametrize(("path", "topic", "make"), ROUTES)
async def test_fifty_simultaneous_copies_put_one_record_on_the_bus(hub, settings, path, topic, make) -> None:
    code = dossier_code()
    raw = orjson.dumps(make(code))
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50)) as client:
        answers = await asyncio.gather(*(client.post(hub + path, content=raw, headers=AUTH) for _ in range(50)))
    bodies = [a.json() for a in answers]
    if path == WEBHOOK:
        assert sorted(a.status_code for a in answers) == [200] * 49 + [202]
        assert sum(b["duplicate"] for b in bodies) == 49
    else:
        assert sorted(b["error_code"] for b in bodies) == [0] + [1] * 49
    assert len({b["id"] for b in bodies}) == 1
    assert len(await records_for(settings, topic, code, expect=1)) == 1


async def _chunked(size: int) -> AsyncIterator[bytes]:
    chunk = b" " * 65536
    sent = 0
    yield b'{"pad": "'
    while sent < size:
        yield chunk
        sent += len(chunk)
    yield b'"}'


@pytest.mark.parametrize(("path", "topic", "make"), ROUTES)
async def test_chunked_body_over_the_cap_is_413_and_nothing_is_published(hub, settings, path, topic, make) -> None:
    del make
    async with httpx.AsyncClient(timeout=30) as client:
        # No Content-Length: only the bytes actually read can tell the size.
        answer = await client.post(hub + path, content=_chunked(settings.max_body_bytes + 1), headers=AUTH)
    assert answer.status_code == 413
    # The route's own refusal format, not a bare text.
    body = answer.json()
    assert body["accepted"] is False if path == WEBHOOK else body["error_code"] == -1


@pytest.mark.parametrize(("path", "topic", "make"), ROUTES)
async def test_non_json_content_type_is_415(hub, settings, path, topic, make) -> None:
    code = dossier_code()
    headers = {**AUTH, "Content-Type": "text/plain"}
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(hub + path, content=orjson.dumps(make(code)), headers=headers)
    assert answer.status_code == 415
    assert await records_for(settings, topic, code, expect=0) == []


async def test_webhook_integer_beyond_64_bits_is_422_naming_the_field(hub, settings) -> None:
    code = dossier_code()
    for version in (2**63, 2**70, 10**30):
        raw = orjson.dumps(event(code)).replace(b'"version":3', f'"version":{version}'.encode())
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(hub + WEBHOOK, content=raw, headers=AUTH)
        assert answer.status_code == 422, version
        assert str(version) not in answer.text
    assert await records_for(settings, "dossier.events", code, expect=0) == []


async def test_push_integer_beyond_64_bits_is_refused(hub, settings) -> None:
    code = dossier_code()
    raw = orjson.dumps(push_body(code)).replace(b'"SoVanBan":', b'"Huge":123456789012345678901234567890,"SoVanBan":')
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(hub + PUSH, content=raw, headers=AUTH)
    assert answer.json()["error_code"] == -1
    assert "123456789012345678901234567890" not in answer.text
    assert await records_for(settings, "dossier.inbound", code, expect=0) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"occurred_at": "9999-12-31T23:59:59+07:00"},
        {"occurred_at": "0001-01-01T00:00:00+07:00"},
        {"dossier": {"NgayHenTra": "99991231235959"}},
        {"dossier": {"NgayTiepNhan": "18000101000000"}},
    ],
    ids=["occurred-9999", "occurred-0001", "due-9999", "received-1800"],
)
async def test_webhook_dates_outside_1900_2200_are_422(hub, settings, changes) -> None:
    code = dossier_code()
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(hub + WEBHOOK, content=orjson.dumps(event(code, **changes)), headers=AUTH)
    assert answer.status_code == 422
    assert await records_for(settings, "dossier.events", code, expect=0) == []


async def test_push_far_future_date_is_refused(hub, settings) -> None:
    code = dossier_code()
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(hub + PUSH, content=orjson.dumps(push_body(code, NgayNopHoSo="99991231000000")),
                                   headers=AUTH)  # fmt: skip
    assert answer.json()["error_code"] == -1
    assert await records_for(settings, "dossier.inbound", code, expect=0) == []


@pytest.mark.parametrize("item", [{}, {"MaHoSo": "not-a-dossier-code"}], ids=["empty-item", "bad-code"])
async def test_push_item_without_a_valid_code_is_refused(hub, settings, item) -> None:
    body = {"service": EXAMPLE_PUSH["service"], "data": [item]}
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(hub + PUSH, content=orjson.dumps(body), headers=AUTH)
    assert answer.json()["error_code"] == -1
    assert "not-a-dossier-code" not in answer.text


async def test_refusals_never_echo_personal_data(hub) -> None:
    code = dossier_code()
    bad = event(code, dossier={"NgayHenTra": "not a date", "SoDienThoai": 12345})
    bad["dossier"]["DinhDanhCHS"] = [{"LoaiDinhDanh": "9", "SoDinhDanh": ID_NUMBER}]
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(hub + WEBHOOK, content=orjson.dumps(bad), headers=AUTH)
    assert answer.status_code == 422
    for secret in (ID_NUMBER, NAME, PHONE, "not a date"):
        assert secret not in answer.text
    # The caller's own field path, in wire names.
    assert any(e["loc"].startswith("dossier.") for e in answer.json()["errors"])


async def test_same_event_id_with_a_higher_version_is_accepted_as_the_newer_state(hub, settings) -> None:
    code = dossier_code()
    first = event(code)
    newer = {**first, "version": first["version"] + 1}
    async with httpx.AsyncClient(timeout=30) as client:
        a = await client.post(hub + WEBHOOK, content=orjson.dumps(first), headers=AUTH)
        b = await client.post(hub + WEBHOOK, content=orjson.dumps(newer), headers=AUTH)
    assert (a.status_code, b.status_code) == (202, 202)
    assert a.json()["id"] != b.json()["id"]
    records = await records_for(settings, "dossier.events", code, expect=2)
    assert sorted(orjson.loads(r.value)["dossier"]["version"] for r in records) == [3, 4]


async def test_text_is_normalised_to_nfc_on_the_way_in(hub, settings) -> None:
    code = dossier_code()
    decomposed = unicodedata.normalize("NFD", "Đăng ký khai sinh cho con")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    async with httpx.AsyncClient(timeout=30) as client:
        body = orjson.dumps(event(code, dossier={"TrichYeuHoSo": decomposed}))
        answer = await client.post(hub + WEBHOOK, content=body,
                                   headers=AUTH)  # fmt: skip
    assert answer.status_code == 202
    [record] = await records_for(settings, "dossier.events", code, expect=1)
    text = orjson.loads(record.value)["dossier"]["summary"]
    assert text == unicodedata.normalize("NFC", decomposed)


@pytest.mark.parametrize(("path", "topic", "make"), ROUTES)
async def test_wrong_token_is_401_before_the_body_is_read(hub, settings, path, topic, make) -> None:
    code = dossier_code()
    headers = {"Authorization": "Bearer wrong", "Content-Type": "text/plain"}
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(hub + path, content=orjson.dumps(make(code)), headers=headers)
    # 401, not 415: the body and its type are not looked at before the caller is known.
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("number", [b"1e999", b"NaN", b"-Infinity"], ids=["overflowing-float", "nan", "infinity"])
async def test_push_non_finite_numbers_are_refused(hub, settings, number) -> None:
    code = dossier_code()
    raw = orjson.dumps(push_body(code)).replace(b'"SoVanBan":', b'"Extra":' + number + b',"SoVanBan":')
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(hub + PUSH, content=raw, headers=AUTH)
    assert answer.json()["error_code"] == -1
    assert await records_for(settings, "dossier.inbound", code, expect=0) == []


async def test_desk_lookup_is_on_the_kit_too(hub) -> None:
    body = {
        "purpose": {"procedure_code": "1.001193", "dossier_code": "000.00.12.H52-250703-0042",
                    "officer_id": "canbo.tn01", "legal_basis": "Nghị định 63/2024/NĐ-CP"},
        "query": {"SoDinhDanh": ID_NUMBER, "Nam": 1999},
    }  # fmt: skip
    raw = orjson.dumps(body).replace(b'"Nam":1999', b'"Nam":' + str(10**30).encode())
    async with httpx.AsyncClient(timeout=30) as client:
        huge = await client.post(hub + "/lookups/population", content=raw, headers={"Content-Type": "application/json"})
        typed = await client.post(hub + "/lookups/population", content=b"{}", headers={"Content-Type": "text/plain"})
    assert huge.status_code == 422
    assert huge.json()["status"] == "refused"
    assert ID_NUMBER not in huge.text and str(10**30) not in huge.text
    assert typed.status_code == 415
