"""The ministry SOAP endpoint, called by zeep as a real client of the WSDL it publishes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI
from zeep.exceptions import Fault

from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.bus.publisher import BusPublisher
from lienthong.connectors.ministry.routes import PATH, router
from lienthong.connectors.ministry.sandbox import SandboxMinistry, make_certificate
from lienthong.connectors.ministry.settings import MinistrySettings
from lienthong.connectors.ministry.store import MinistryStore
from lienthong.schemas.ministry import DossierView, MinistryResult
from lienthong.settings import Settings
from lienthong.testing import ServedApp, consume_all

pytestmark = pytest.mark.integration

DOSSIER = "000.00.12.H52-250703-0042"
NOTHING_WAIT_S = 2.0
VN = timedelta(hours=7)


@dataclass
class Endpoint:
    url: str
    wsdl: str
    accounts: Path
    keys: dict[str, tuple[bytes, bytes]]
    state_dsn: str


def write_accounts(tmp: Path) -> tuple[Path, dict[str, tuple[bytes, bytes]]]:
    key, cert = make_certificate("bo-y-te")
    (tmp / "bo-y-te.pem").write_bytes(cert)
    accounts = [
        {"username": "bo-tu-phap", "password": "mat-khau-1", "operations": ["TraCuuHoSo", "GuiKetQuaXuLy"]},
        {"username": "bo-cong-an", "password": "mat-khau-2", "operations": ["TraCuuHoSo"]},
        {"username": "bo-y-te", "password": "mat-khau-3", "operations": ["GuiKetQuaXuLy"],
         "certificate": "bo-y-te.pem"},
    ]  # fmt: skip
    path = tmp / "accounts.yaml"
    path.write_text(yaml.safe_dump(accounts))
    return path, {"bo-y-te": (key, cert)}


@asynccontextmanager
async def soap_endpoint(
    settings: Settings, audit: AuditWriter, topic: str, tmp_path: Path, state_dsn: str = ""
) -> AsyncIterator[Endpoint]:
    """The ministry routes alone under uvicorn, publishing to `topic`."""
    path, keys = write_accounts(tmp_path)
    ms = MinistrySettings(accounts=str(path), state_dsn=state_dsn)
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    app = FastAPI()
    app.include_router(router(publisher, ms, topic=topic))
    try:
        async with ServedApp(app) as served:
            url = served.url + PATH
            yield Endpoint(url, url + "?wsdl", path, keys, ms.resolved_state_dsn(settings.state_dir))
    finally:
        await publisher.close()


async def ministry(ep: Endpoint, username: str = "bo-tu-phap", password: str = "mat-khau-1", **kw) -> SandboxMinistry:
    return await asyncio.to_thread(SandboxMinistry, ep.wsdl, username, password, **kw)


async def send(m: SandboxMinistry, **kw):
    kw.setdefault("dossier_code", DOSSIER)
    kw.setdefault("processed_at", datetime(2025, 7, 4, 9, 15, tzinfo=UTC))
    return await asyncio.to_thread(lambda: m.send_result(**kw))


async def test_zeep_reads_the_published_wsdl_and_a_result_is_on_the_topic_once_acknowledged(
    settings, audit, topic, tmp_path
) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep)
        reply = await send(
            m, message_id="BTP-2025-000001", status=9, content="Đã đăng ký khai sinh",
            files=[{"TenTep": "giay-khai-sinh.pdf", "DuongDan": "https://btp.example/f/1"}],
        )  # fmt: skip
    assert (reply.MaLoi, reply.MoTa, reply.MaThongDiep) == (0, "accepted", "BTP-2025-000001")
    [rec] = await consume_all(settings.bootstrap_servers, topic, expect=1)
    result = MinistryResult.model_validate_json(rec.value)
    assert (result.message_id, result.ministry, result.dossier_code) == ("BTP-2025-000001", "bo-tu-phap", DOSSIER)
    assert result.status == 9
    assert result.content == "Đã đăng ký khai sinh"
    assert result.processed_at == datetime(2025, 7, 4, 9, 15, tzinfo=UTC)
    assert result.files[0].name == "giay-khai-sinh.pdf"
    assert rec.key == DOSSIER.encode()
    assert dict(rec.headers)["ce_id"].decode() == reply.MaBanGhi
    assert dict(rec.headers)["ce_type"] == b"vn.gov.lienthong.ministry.result_reported.v1"
    assert (await verify_chain(audit.store)).ok


async def test_a_repeated_message_id_is_acknowledged_as_duplicate_and_published_once(
    settings, audit, topic, tmp_path
) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep)
        first = await send(m, message_id="BTP-dup-1")
        second = await send(m, message_id="BTP-dup-1")
    assert (first.MaLoi, second.MaLoi) == (0, 1)
    assert first.MaBanGhi == second.MaBanGhi
    records = await consume_all(settings.bootstrap_servers, topic, expect=2, timeout=NOTHING_WAIT_S)
    assert len(records) == 1


async def test_fifty_concurrent_identical_calls_publish_once_with_postgres(
    settings, audit, topic, tmp_path, pg_dsn
) -> None:
    db = f"m{os.urandom(4).hex()}"
    import asyncpg

    conn = await asyncpg.connect(pg_dsn)
    await conn.execute(f"CREATE DATABASE {db}")
    await conn.close()
    dsn = pg_dsn.rsplit("/", 1)[0] + "/" + db
    async with soap_endpoint(settings, audit, topic, tmp_path, state_dsn=dsn) as ep:
        clients = await asyncio.gather(*(ministry(ep) for _ in range(5)))
        replies = await asyncio.gather(*(send(clients[i % 5], message_id="BTP-concurrent-1") for i in range(50)))
    codes = sorted(r.MaLoi for r in replies)
    assert codes == [0] + [1] * 49
    assert len({r.MaBanGhi for r in replies}) == 1
    records = await consume_all(settings.bootstrap_servers, topic, expect=2, timeout=NOTHING_WAIT_S)
    assert len(records) == 1


async def test_the_same_message_id_with_different_content_is_a_client_fault(settings, audit, topic, tmp_path) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep)
        await send(m, message_id="BTP-x-1", status=9)
        with pytest.raises(Fault) as info:
            await send(m, message_id="BTP-x-1", status=8)
    assert info.value.code == "soap:Client"
    assert "different message" in info.value.message


async def test_a_call_without_username_token_is_refused_and_nothing_published(settings, audit, topic, tmp_path) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep, use_token=False)
        with pytest.raises(Fault) as info:
            await send(m, message_id="BTP-anon-1")
    assert info.value.code == "soap:Client"
    assert "UsernameToken" in info.value.message
    assert await consume_all(settings.bootstrap_servers, topic, expect=1, timeout=NOTHING_WAIT_S) == []


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    settings, audit, topic, tmp_path
) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep, password="doan-mo")
        with pytest.raises(Fault) as info:
            await send(m, message_id="BTP-pw-1")
    assert (info.value.code, info.value.message) == ("soap:Client", "authentication failed")


async def test_an_account_cannot_call_an_operation_it_is_not_allowed(settings, audit, topic, tmp_path) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep, "bo-cong-an", "mat-khau-2")
        with pytest.raises(Fault) as info:
            await send(m, message_id="BCA-1")
        found = await asyncio.to_thread(lambda: m.lookup(DOSSIER))
    assert "may not call GuiKetQuaXuLy" in info.value.message
    assert found.TimThay is False


def digest_envelope(username: str, password: str, nonce: bytes, created: str, body: str) -> bytes:
    # PasswordDigest computed here independently of lienthong.connectors.soap.
    pw = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    ptype = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
    return (
        f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
        f'<wsse:Security xmlns:wsse="{wsse}" xmlns:wsu="{wsu}"><wsse:UsernameToken>'
        f'<wsse:Username>{username}</wsse:Username><wsse:Password Type="{ptype}">{pw}</wsse:Password>'
        f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce><wsu:Created>{created}</wsu:Created>"
        f"</wsse:UsernameToken></wsse:Security></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


LOOKUP_BODY = f'<TraCuuHoSo xmlns="urn:lienthong:bonganh:v1"><MaHoSo>{DOSSIER}</MaHoSo></TraCuuHoSo>'


async def post_xml(url: str, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, content=body, headers={"content-type": "text/xml; charset=utf-8"})


async def test_a_replayed_nonce_is_refused(settings, audit, topic, tmp_path) -> None:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = digest_envelope("bo-tu-phap", "mat-khau-1", os.urandom(16), created, LOOKUP_BODY)
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        first = await post_xml(ep.url, env)
        again = await post_xml(ep.url, env)
    assert first.status_code == 200
    assert "<TimThay>false</TimThay>" in first.text
    assert again.status_code == 401
    assert "<faultcode>soap:Client</faultcode>" in again.text
    assert "replay" in again.text


async def test_a_token_created_outside_the_window_is_refused(settings, audit, topic, tmp_path) -> None:
    old = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = digest_envelope("bo-tu-phap", "mat-khau-1", os.urandom(16), old, LOOKUP_BODY)
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        reply = await post_xml(ep.url, env)
    assert reply.status_code == 401
    assert "outside the accepted window" in reply.text


async def test_a_signed_request_from_an_account_with_a_certificate_is_accepted(
    settings, audit, topic, tmp_path
) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        key, cert = ep.keys["bo-y-te"]
        m = await ministry(ep, "bo-y-te", "mat-khau-3", key_pem=key, cert_pem=cert)
        reply = await send(m, message_id="BYT-signed-1")
    assert reply.MaLoi == 0
    [rec] = await consume_all(settings.bootstrap_servers, topic, expect=1)
    assert MinistryResult.model_validate_json(rec.value).ministry == "bo-y-te"


async def test_an_unsigned_request_from_an_account_with_a_certificate_is_refused(
    settings, audit, topic, tmp_path
) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep, "bo-y-te", "mat-khau-3")
        with pytest.raises(Fault) as info:
            await send(m, message_id="BYT-unsigned-1")
    assert "signed request is required" in info.value.message
    assert await consume_all(settings.bootstrap_servers, topic, expect=1, timeout=NOTHING_WAIT_S) == []


async def test_a_request_signed_with_another_key_is_refused(settings, audit, topic, tmp_path) -> None:
    forged_key, forged_cert = make_certificate("bo-y-te")
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep, "bo-y-te", "mat-khau-3", key_pem=forged_key, cert_pem=forged_cert)
        with pytest.raises(Fault) as info:
            await send(m, message_id="BYT-forged-1")
    assert "signature not valid" in info.value.message
    assert await consume_all(settings.bootstrap_servers, topic, expect=1, timeout=NOTHING_WAIT_S) == []


async def test_a_schema_violation_names_the_element_not_the_value(settings, audit, topic, tmp_path) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep)
        with pytest.raises(Fault) as info:
            await send(m, message_id="BTP-bad-1", dossier_code="Nguyen Van A 001099012345")
    assert info.value.code == "soap:Client"
    assert "MaHoSo" in info.value.message
    assert "Nguyen" not in info.value.message
    assert "001099012345" not in info.value.message


async def test_a_far_future_processing_time_is_refused(settings, audit, topic, tmp_path) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep)
        with pytest.raises(Fault) as info:
            await send(m, message_id="BTP-future-1", processed_at=datetime(2090, 1, 1, 0, 0, tzinfo=UTC))
    assert "future" in info.value.message


async def test_a_claim_left_by_a_killed_request_is_taken_over_after_the_lease(settings, audit, topic, tmp_path) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        m = await ministry(ep)
        first = await send(m, message_id="BTP-crash-1")
        # Simulate a process killed between claim and publish: the row is back to pending, lease run out.
        store = MinistryStore(ep.state_dsn)
        from sqlalchemy import update

        from lienthong.connectors.ministry.store import messages

        async with store.engine.begin() as conn:
            await conn.execute(
                update(messages).values(state="pending", claimed_at=datetime.now(UTC) - timedelta(minutes=5))
            )
        again = await send(m, message_id="BTP-crash-1")
        await store.close()
    assert (first.MaLoi, again.MaLoi) == (0, 0)
    assert first.MaBanGhi == again.MaBanGhi  # same event id: the consumer drops the second copy
    records = await consume_all(settings.bootstrap_servers, topic, expect=3, timeout=NOTHING_WAIT_S)
    assert [dict(r.headers)["ce_id"] for r in records] == [first.MaBanGhi.encode()] * 2


async def test_tra_cuu_ho_so_answers_the_last_seen_status_due_date_and_step(settings, audit, topic, tmp_path) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep:
        store = MinistryStore(ep.state_dsn)
        await store.open()
        await store.save_views([
            DossierView(dossier_code=DOSSIER, version=3, status=4, due_at=datetime(2025, 7, 8, 10, 0, tzinfo=UTC),
                        last_step_at=datetime(2025, 7, 4, 2, 0, tzinfo=UTC), last_step_status=4,
                        last_step_department="Phòng Tư pháp", last_step_content="Chuyển Công an",
                        synced_at=datetime(2025, 7, 4, 2, 1, tzinfo=UTC))
        ])  # fmt: skip
        await store.close()
        m = await ministry(ep, "bo-cong-an", "mat-khau-2")
        found = await asyncio.to_thread(lambda: m.lookup(DOSSIER))
    assert found.TimThay is True
    assert found.TrangThaiHoSo == 4
    assert found.NgayHenTra == "20250708170000"  # 10:00 UTC is 17:00 in Asia/Ho_Chi_Minh
    assert found.BuocXuLyCuoi.ThoiDiemXuLy == "20250704090000"
    assert found.BuocXuLyCuoi.PhongBanXuLy == "Phòng Tư pháp"


async def test_get_without_wsdl_query_points_to_it(settings, audit, topic, tmp_path) -> None:
    async with soap_endpoint(settings, audit, topic, tmp_path) as ep, httpx.AsyncClient() as client:
        reply = await client.get(ep.url)
        wsdl = await client.get(ep.wsdl)
    assert reply.status_code == 400
    assert wsdl.status_code == 200
    assert b'location="' + ep.url.encode() + b'"' in wsdl.content
    assert b"GuiKetQuaXuLy" in wsdl.content
