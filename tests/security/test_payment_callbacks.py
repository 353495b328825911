"""Forged, replayed and malformed confirmation callbacks: each is answered "99" with a 4xx, publishes
nothing on `payment.events`, leaves the payment pending, and is audited as a security event.

One module-wide set-up (real broker, sandbox platform and lienthong's callback route under uvicorn): a
payment was initiated and paid on the platform, and its callback was lost, so only the forgeries below
reach lienthong before the final, genuine callback.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import header
from lienthong.connectors.payment.events import TOPIC
from lienthong.connectors.payment.signature import MessageKind, sign
from lienthong.connectors.payment.testing import PaymentHarness
from lienthong.mappings.wire import VN_TZ, format_dvcqg_time
from lienthong.settings import Settings
from lienthong.testing import consume_all, wait_for

pytestmark = pytest.mark.integration

SECRET = "province-secret-for-tests"
AMOUNT = 250000


@pytest.fixture(scope="module")
async def world(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    state: Path = tmp_path_factory.mktemp("payment-security")
    settings = Settings(bootstrap_servers=kafka, state_dir=state, consumer_group=f"t-{state.name}", partitions=3)
    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn())
    async with PaymentHarness(settings, audit, secret=SECRET) as h:
        h.sandbox.set_faults(lose=1.0)
        code = f"000.00.12.H52-250704-{uuid.uuid4().int % 9000 + 1000:04d}"
        record = await h.initiate(code, AMOUNT)
        h.sandbox.pay(record.reference)
        await wait_for(lambda: h.sandbox.transactions[record.reference].state == "paid", what="citizen paid")
        yield {"h": h, "record": record, "audit": audit, "settings": settings}
    await audit.close()


def genuine(world: dict[str, Any]) -> dict[str, Any]:
    h = world["h"]
    return dict(h.sandbox.callback_body(h.sandbox.transactions[world["record"].reference]))


def resign(body: dict[str, Any], *, secret: str = SECRET, scheme: str = "hmac-sha256") -> dict[str, Any]:
    fields = {k: str(v) for k, v in body.items() if k != "MaXacThuc"}
    return {**body, "MaXacThuc": sign(MessageKind.CONFIRM, fields, secret=secret, scheme=scheme)}


def changed(**values: Any) -> Any:
    def make(world: dict[str, Any]) -> bytes:
        return orjson.dumps(resign({**genuine(world), **values}))

    return make


def stale(world: dict[str, Any]) -> bytes:
    return orjson.dumps(
        resign({**genuine(world), "ThoiGianGD": format_dvcqg_time(datetime.now(VN_TZ) - timedelta(hours=2))})
    )


def future(world: dict[str, Any]) -> bytes:
    return orjson.dumps(
        resign({**genuine(world), "ThoiGianGD": format_dvcqg_time(datetime.now(VN_TZ) + timedelta(hours=1))})
    )


def wrong_signature(world: dict[str, Any]) -> bytes:
    return orjson.dumps({**genuine(world), "MaXacThuc": "0" * 64})


def other_secret(world: dict[str, Any]) -> bytes:
    return orjson.dumps(resign(genuine(world), secret="attacker-secret"))


def other_scheme(world: dict[str, Any]) -> bytes:
    return orjson.dumps(resign(genuine(world), scheme="sha256-suffix"))


def amount_altered_signature_kept(world: dict[str, Any]) -> bytes:
    return orjson.dumps({**genuine(world), "SoTien": str(AMOUNT + 1000)})


def missing_field(world: dict[str, Any]) -> bytes:
    body = genuine(world)
    del body["MaGiaoDich"]
    return orjson.dumps(body)


def float_amount(world: dict[str, Any]) -> bytes:
    return orjson.dumps({**resign(genuine(world)), "SoTien": AMOUNT + 0.5})


def oversized(world: dict[str, Any]) -> bytes:
    return orjson.dumps({**genuine(world), "ThongTinGiaoDich": "x" * 100_000})


def not_json(world: dict[str, Any]) -> bytes:
    return b"MaThamChieu=1&SoTien=1"


def not_an_object(world: dict[str, Any]) -> bytes:
    return b'["CONFIRM", "00"]'


FORGERIES = {
    "wrong_signature": wrong_signature,
    "other_secret": other_secret,
    "other_scheme": other_scheme,
    "unknown_reference": changed(MaThamChieu="000.00.12.H52-250704-0001-TT99"),
    "amount_altered": changed(SoTien=str(AMOUNT + 1000)),
    "amount_altered_signature_kept": amount_altered_signature_kept,
    "currency_altered": changed(MaTienTe="USD"),
    "other_partner": changed(MaDoiTac="000.00.99.H99"),
    "stale_time": stale,
    "future_time": future,
    "malformed_time": changed(ThoiGianGD="03/07/2025 09:15"),
    "missing_field": missing_field,
    "non_numeric_amount": changed(SoTien="hai trăm"),
    "negative_amount": changed(SoTien=str(-AMOUNT)),
    "huge_amount": changed(SoTien="9" * 30),
    "decimal_amount": changed(SoTien=f"{AMOUNT}.00"),
    "float_amount": float_amount,
    "oversized_body": oversized,
    "not_json": not_json,
    "not_an_object": not_an_object,
}


async def refused_entries(audit: AuditWriter) -> list[Any]:
    return [r async for r in audit.store.records() if r.flow == "payment_callback" and r.outcome == "refused"]


@pytest.mark.parametrize("name", list(FORGERIES))
async def test_forged_callback_is_refused_with_99_and_audited_as_a_security_event(world, name) -> None:
    h, audit = world["h"], world["audit"]
    before = len(await refused_entries(audit))
    body = FORGERIES[name](world)
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(h.confirm_url, content=body, headers={"Content-Type": "application/json"})
    answer = r.json()
    assert 400 <= r.status_code < 500
    assert answer["MaLoi"] == "99"
    assert answer["MoTaLoi"]
    for secret_value in ("hai trăm", str(AMOUNT + 1000), "9" * 30, "USD", "000.00.99.H99"):
        assert secret_value not in answer["MoTaLoi"]
    entries = await refused_entries(audit)
    assert len(entries) == before + 1
    assert orjson.loads(entries[-1].detail)["security"] is True
    assert (await h.store.get(world["record"].reference)).state.value == "pending"


async def test_oversized_chunked_body_is_refused_on_the_bytes_actually_read(world) -> None:
    h = world["h"]

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 1024

    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(h.confirm_url, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["MaLoi"] == "99"


async def test_after_every_forgery_the_genuine_callback_is_the_only_thing_published(world) -> None:
    h, ref = world["h"], world["record"].reference
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(h.confirm_url, content=orjson.dumps(genuine(world)))
    assert r.json()["MaLoi"] == "00"
    records = [x for x in await consume_all(world["settings"].bootstrap_servers, TOPIC, expect=10**9, timeout=3)
               if x.key == ref.encode()]  # fmt: skip
    assert [header(x.headers, "ce_type") for x in records] == ["vn.gov.lienthong.payment.confirmed.v1"]
    assert orjson.loads(records[0].value)["amount_vnd"] == AMOUNT


async def test_counter_payments_without_the_bearer_token_are_refused(tmp_path) -> None:
    from fastapi import FastAPI

    from lienthong.bus.publisher import BusPublisher
    from lienthong.connectors.payment.routes import router
    from lienthong.connectors.payment.settings import PaymentSettings

    api = FastAPI()
    payment = PaymentSettings(counter_token="desk-token", state_dsn=f"sqlite:///{tmp_path / 'p.db'}")
    api.include_router(router(BusPublisher(Settings(state_dir=tmp_path)), payment, store_dsn=payment.state_dsn))
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        none = await client.post("/payments/counter", content=b"{}")
        wrong = await client.post("/payments/counter", content=b"{}", headers={"Authorization": "Bearer nope"})
    assert (none.status_code, wrong.status_code) == (401, 401)


COUNTER_OK = {"MaHoSo": "000.00.12.H52-250704-0001", "SoTien": "80000", "MaGiaoDich": "POS-1", "MaNganHang": "VCB",
              "ThoiGianGD": "20250704090000"}  # fmt: skip
COUNTER_BAD = {
    "negative_amount": {"SoTien": "-80000"},
    "float_amount": {"SoTien": 80000.5},
    "huge_integer_amount": {"SoTien": 10**30},
    "huge_digit_amount": {"SoTien": "9" * 30},
    "other_currency": {"MaTienTe": "USD"},
    "future_time": {"ThoiGianGD": "20991231235959"},
    "bad_time": {"ThoiGianGD": "2025-07-04"},
    "bad_dossier_code": {"MaHoSo": "not-a-code"},
    "fees_not_summing": {"DanhSachLePhi": [{"TenPhiLePhi": "Lệ phí", "Gia": "1000"}]},
}


@pytest.mark.parametrize("name", list(COUNTER_BAD))
async def test_a_bad_counter_payment_is_refused_with_422_naming_no_value(world, name) -> None:
    h = world["h"]
    body = {**COUNTER_OK, "MaGiaoDich": f"POS-{name}", **COUNTER_BAD[name]}
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(h.api_url + "/payments/counter", content=json.dumps(body),
                              headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422
    assert r.json()["accepted"] is False
    for value in ("-80000", "9" * 30, "USD", "not-a-code", str(10**30)):
        assert value not in r.text
    assert await h.store.list_payments(dossier_code=body["MaHoSo"], limit=10) == []


async def test_a_counter_payment_that_is_not_json_is_refused_with_415(world) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(world["h"].api_url + "/payments/counter", content=b"MaHoSo=1",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 415
