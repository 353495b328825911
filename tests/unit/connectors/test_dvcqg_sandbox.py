"""Behaviour of the DVCQG sandbox simulator, driven over HTTP through an in-process ASGI transport."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from lienthong.connectors.dvcqg.sandbox import (
    DSTCODE,
    DvcqgSandboxConfig,
    DvcqgSandboxState,
    create_dvcqg_sandbox,
    sandbox_state,
)

UNIT = "000.00.12.H52"
CODE = "000.00.12.H52-250703-0042"
ID_NUMBER = "038095001234"
OWNER = "Nguyễn Văn An"
HEADERS = {"dstcode": DSTCODE}


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def dossier(code: str = CODE, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "MaHoSo": code,
        "MaTTHC": "1.001234",
        "TenTTHC": "Cấp giấy phép xây dựng",
        "ChuHoSo": OWNER,
        "LoaiDoiTuong": "1",
        "SoGiayToChuHoSo": ID_NUMBER,
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": ID_NUMBER}],
        "TrichYeuHoSo": "Xin cấp phép xây nhà ở riêng lẻ",
        "NgayTiepNhan": "20250703083000",
        "NgayHenTra": "20250717170000",
        "TrangThaiHoSo": "2",
        "KenhThucHien": "1",
        "HinhThuc": 0,
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not ...}


def step(code: str = CODE, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "MaHoSo": code,
        "NguoiXuLy": "Trần Thị Bình",
        "ChucDanh": "Chuyên viên",
        "ThoiDiemXuLy": "20250703090000",
        "PhongBanXuLy": "Bộ phận một cửa",
        "NoiDungXuLy": "Tiếp nhận hồ sơ",
        "TrangThai": 2,
        "NgayBatDau": "20250703083000",
        "NgayKetThucTheoQuyDinh": "20250717170000",
    }
    item.update(changes)
    return item


class Portal:
    """A sandbox app, its state, its clock and an httpx client bound to it."""

    def __init__(self, client: httpx.AsyncClient, state: DvcqgSandboxState, clock: FakeClock) -> None:
        self.client = client
        self.state = state
        self.clock = clock
        self.session = ""

    async def login(self, password: str = "sandbox-secret") -> httpx.Response:
        body = {"service": "LayPhienLamViec", "username": "lienthong", "password": password, "madonvi": UNIT}
        response = await self.client.post("/login", json=body, headers=HEADERS)
        self.session = response.json().get("session", "")
        return response

    async def call(self, service: str, headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
        body = {"service": service, "session": self.session, "madonvi": UNIT, **fields}
        return await self.client.post("/", json=body, headers=HEADERS if headers is None else headers)

    async def create(self, *items: dict[str, Any]) -> dict[str, Any]:
        response = await self.call("DongBoHoSoMC", isUpdating="False", data=list(items))
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    async def update(self, *items: dict[str, Any]) -> dict[str, Any]:
        response = await self.call("DongBoHoSoMC", isUpdating="True", data=list(items))
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    async def steps(self, *items: dict[str, Any]) -> dict[str, Any]:
        response = await self.call("CapNhatTienDoHoSoMC", data=list(items))
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]


async def open_portal(config: DvcqgSandboxConfig | None = None) -> AsyncIterator[Portal]:
    clock = FakeClock()
    app = create_dvcqg_sandbox(config, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dvcqg.test") as client:
        portal = Portal(client, sandbox_state(app), clock)
        await portal.login()
        yield portal


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    async for opened in open_portal():
        yield opened


# Login and sessions -------------------------------------------------------------------------------


async def test_login_with_the_configured_account_returns_a_session_and_its_lifetime(portal: Portal) -> None:
    response = await portal.login()
    assert response.status_code == 200
    body = response.json()
    assert body["error_code"] == 0
    assert len(body["session"]) >= 32
    assert body["expires_in"] == 1800


async def test_login_with_a_wrong_password_is_refused_in_the_body_with_http_200(portal: Portal) -> None:
    response = await portal.login(password="wrong")
    assert response.status_code == 200
    assert response.json() == {"error_code": -1, "message": "Sai tài khoản hoặc mật khẩu"}


async def test_a_session_older_than_its_ttl_is_refused_with_error_minus_2() -> None:
    async for portal in open_portal(DvcqgSandboxConfig(session_ttl_s=60)):
        portal.clock.now += 59
        assert (await portal.call("TraCuuHoSo", MaHoSo=CODE)).json()["error_code"] == 0
        portal.clock.now += 1
        body = (await portal.call("TraCuuHoSo", MaHoSo=CODE)).json()
        assert body == {"error_code": -2, "message": "Phiên làm việc không hợp lệ hoặc đã hết hạn"}


async def test_an_unknown_session_is_refused_with_error_minus_2(portal: Portal) -> None:
    portal.session = "forged"
    assert (await portal.call("TraCuuHoSo", MaHoSo=CODE)).json()["error_code"] == -2


async def test_expire_sessions_forces_a_new_login(portal: Portal) -> None:
    portal.state.expire_sessions()
    assert (await portal.call("TraCuuHoSo", MaHoSo=CODE)).json()["error_code"] == -2
    await portal.login()
    assert (await portal.call("TraCuuHoSo", MaHoSo=CODE)).json()["error_code"] == 0


async def test_a_call_for_another_unit_than_the_session_is_refused(portal: Portal) -> None:
    body = {"service": "TraCuuHoSo", "session": portal.session, "madonvi": "000.00.00.H56", "MaHoSo": CODE}
    response = await portal.client.post("/", json=body, headers=HEADERS)
    assert response.json()["error_code"] == -1
    assert "madonvi" in response.json()["message"]


@pytest.mark.parametrize("headers", [{}, {"dstcode": "VN:GOV:000.00.00.G22:other"}])
async def test_a_service_call_without_the_right_dstcode_header_gets_http_400(
    portal: Portal, headers: dict[str, str]
) -> None:
    response = await portal.call("TraCuuHoSo", headers=headers, MaHoSo=CODE)
    assert response.status_code == 400
    assert response.json()["error_code"] == -1


async def test_a_login_without_dstcode_gets_http_400(portal: Portal) -> None:
    body = {
        "service": "LayPhienLamViec",
        "username": "lienthong",
        "password": "sandbox-secret",
        "madonvi": UNIT,
    }
    response = await portal.client.post("/login", json=body)
    assert response.status_code == 400
    assert response.json()["error_code"] == -1


async def test_an_unknown_service_is_named_in_the_refusal(portal: Portal) -> None:
    body = (await portal.call("XoaHoSo")).json()
    assert body == {"error_code": -1, "message": "Dịch vụ không hỗ trợ: XoaHoSo"}


# TraCuuHoSo -----------------------------------------------------------------------------------------


async def test_lookup_of_an_absent_dossier_answers_an_empty_list(portal: Portal) -> None:
    assert (await portal.call("TraCuuHoSo", mahoso=CODE)).json() == {"error_code": 0, "result": []}


async def test_lookup_sends_mahoso_and_returns_the_last_stored_item_in_a_list(portal: Portal) -> None:
    await portal.create(dossier())
    await portal.update(dossier(TrangThaiHoSo="4"))
    body = (await portal.call("TraCuuHoSo", mahoso=CODE)).json()
    assert body["error_code"] == 0
    [item] = body["result"]
    assert item["TrangThaiHoSo"] == "4"


# DongBoHoSoMC ---------------------------------------------------------------------------------------


async def test_creating_a_dossier_twice_answers_error_3_da_ton_tai(portal: Portal) -> None:
    assert (await portal.create(dossier()))["error_code"] == 0
    assert await portal.create(dossier()) == {"error_code": 3, "message": f"Hồ sơ {CODE} đã tồn tại"}
    assert portal.state.dossiers[CODE].writes == 1


async def test_the_exists_error_code_can_be_minus_3() -> None:
    async for portal in open_portal(DvcqgSandboxConfig(exists_error_code=-3)):
        await portal.create(dossier())
        assert (await portal.create(dossier()))["error_code"] == -3


async def test_updating_an_unknown_dossier_answers_error_minus_1_khong_ton_tai(portal: Portal) -> None:
    body = await portal.update(dossier())
    assert body["error_code"] == -1
    assert "Hồ sơ không tồn tại" in body["message"]
    assert CODE not in portal.state.dossiers


async def test_an_update_replaces_the_item_and_is_counted_with_its_receipt_time(portal: Portal) -> None:
    await portal.create(dossier())
    portal.clock.now += 5
    assert (await portal.update(dossier(TrangThaiHoSo="9")))["error_code"] == 0
    record = portal.state.dossiers[CODE]
    assert record.item["TrangThaiHoSo"] == "9"
    assert record.writes == 2
    assert [at for at, _ in record.history] == [portal.clock.now - 5, portal.clock.now]


@pytest.mark.parametrize(
    "bad_code",
    ["000.00.12.H52-250703-42", "H52-250703-0042", "000.00.12.H52-251303-0042", "000.00.12.h52-250703-0042"],
)
async def test_a_malformed_dossier_code_is_refused(portal: Portal, bad_code: str) -> None:
    body = await portal.create(dossier(bad_code))
    assert body["error_code"] == -1
    assert body["message"].startswith("data[0].MaHoSo: ")


async def test_an_agency_code_longer_than_35_characters_is_refused(portal: Portal) -> None:
    long_agency = "000.00.12.H52" + ".ABCDEFGH" * 3
    assert len(long_agency) > 35
    body = await portal.create(dossier(f"{long_agency}-250703-0042"))
    assert body["message"].startswith("data[0].MaHoSo: mã cơ quan dài quá 35")


@pytest.mark.parametrize("bad_date", ["2025070308300", "2025-07-03 08:30", "20250230083000", "20250703246000"])
async def test_a_date_not_in_yyyymmddhhmmss_or_not_real_is_refused(portal: Portal, bad_date: str) -> None:
    body = await portal.create(dossier(NgayHenTra=bad_date))
    assert body["error_code"] == -1
    assert body["message"].startswith("data[0].NgayHenTra: ")


async def test_status_11_is_refused(portal: Portal) -> None:
    body = await portal.create(dossier(TrangThaiHoSo="11"))
    assert body == {"error_code": -1, "message": "data[0].TrangThaiHoSo: phải là mã số trong khoảng 1..10"}


@pytest.mark.parametrize(("field", "value"), [("LoaiDoiTuong", 5), ("HinhThuc", "2"), ("LoaiDoiTuong", True)])
async def test_codes_outside_their_value_set_are_refused(portal: Portal, field: str, value: Any) -> None:
    body = await portal.create(dossier(**{field: value}))
    assert body["message"].startswith(f"data[0].{field}: ")


async def test_a_summary_of_1001_characters_is_refused_and_1000_accepted(portal: Portal) -> None:
    body = await portal.create(dossier(TrichYeuHoSo="x" * 1001))
    assert body == {"error_code": -1, "message": "data[0].TrichYeuHoSo: dài quá 1000 ký tự"}
    assert (await portal.create(dossier(TrichYeuHoSo="x" * 1000)))["error_code"] == 0


async def test_a_missing_required_field_is_named(portal: Portal) -> None:
    body = await portal.create(dossier(NgayTiepNhan=...))
    assert body == {"error_code": -1, "message": "data[0].NgayTiepNhan: thiếu trường bắt buộc"}


async def test_a_field_outside_the_portal_field_list_is_refused(portal: Portal) -> None:
    body = await portal.create(dossier(PhienBan=7))
    assert body == {"error_code": -1, "message": "data[0].PhienBan: trường không được hỗ trợ"}


async def test_an_id_number_not_matching_its_kind_is_refused_without_echoing_personal_data(
    portal: Portal,
) -> None:
    body = await portal.create(dossier(DinhDanhCHS=[{"LoaiDinhDanh": 2, "SoDinhDanh": ID_NUMBER}]))
    assert body["message"] == "data[0].DinhDanhCHS[0].SoDinhDanh: phải gồm đúng 9 chữ số khi LoaiDinhDanh = 2"
    assert ID_NUMBER not in body["message"]
    assert OWNER not in body["message"]


async def test_validation_messages_never_carry_the_submitted_values(portal: Portal) -> None:
    bad = dossier(ChuHoSo=["not", "text"], SoGiayToChuHoSo=12345, TrichYeuHoSo=ID_NUMBER * 100)
    body = await portal.create(bad)
    assert body["error_code"] == -1
    assert ID_NUMBER not in body["message"]
    assert "12345" not in body["message"]


async def test_one_invalid_item_rejects_the_whole_call_naming_its_index(portal: Portal) -> None:
    good = dossier("000.00.12.H52-250703-0001")
    bad = dossier("000.00.12.H52-250703-0002", TrangThaiHoSo=0)
    body = await portal.create(good, bad)
    assert body["message"].startswith("data[1].TrangThaiHoSo: ")
    assert portal.state.dossiers == {}


async def test_a_create_batch_with_one_existing_dossier_stores_nothing(portal: Portal) -> None:
    await portal.create(dossier())
    other = dossier("000.00.12.H52-250703-0043")
    assert (await portal.create(other, dossier()))["error_code"] == 3
    assert set(portal.state.dossiers) == {CODE}


async def test_a_batch_of_500_dossiers_is_stored_in_one_call(portal: Portal) -> None:
    items = [dossier(f"000.00.12.H52-250703-{n:04d}") for n in range(500)]
    assert (await portal.create(*items))["error_code"] == 0
    assert len(portal.state.dossiers) == 500


async def test_more_dossiers_than_max_items_per_call_are_refused(portal: Portal) -> None:
    items = [dossier(f"000.00.12.H52-250703-{n:04d}") for n in range(501)]
    assert await portal.create(*items) == {"error_code": -1, "message": "Tối đa 500 hồ sơ mỗi lần"}


async def test_is_updating_must_be_true_or_false_text(portal: Portal) -> None:
    body = (await portal.call("DongBoHoSoMC", isUpdating=True, data=[dossier()])).json()
    assert body["error_code"] == -1
    assert body["message"].startswith("isUpdating: ")


# CapNhatTienDoHoSoMC --------------------------------------------------------------------------------


async def test_steps_are_appended_to_an_existing_dossier(portal: Portal) -> None:
    await portal.create(dossier())
    second = step(ThoiDiemXuLy="20250704090000", TrangThai="4", NoiDungXuLy="Thẩm định")
    assert (await portal.steps(step(), second))["error_code"] == 0
    assert [s["TrangThai"] for s in portal.state.dossiers[CODE].steps] == [2, "4"]


async def test_more_than_10_steps_in_one_call_are_refused(portal: Portal) -> None:
    await portal.create(dossier())
    many = [step(ThoiDiemXuLy=f"202507030900{n:02d}") for n in range(11)]
    assert await portal.steps(*many) == {"error_code": -1, "message": "Tối đa 10 bước mỗi lần"}
    assert portal.state.dossiers[CODE].steps == []


async def test_a_step_identical_to_a_stored_one_is_not_duplicated(portal: Portal) -> None:
    await portal.create(dossier())
    await portal.steps(step())
    assert (await portal.steps(step(TrangThai="2", NoiDungXuLy="gửi lại")))["error_code"] == 0
    assert len(portal.state.dossiers[CODE].steps) == 1
    assert portal.state.stats_json()["steps_deduplicated"] == 1


async def test_steps_of_an_unknown_dossier_are_refused(portal: Portal) -> None:
    body = await portal.steps(step())
    assert body["error_code"] == -1
    assert "Hồ sơ không tồn tại" in body["message"]


async def test_a_handler_name_longer_than_50_characters_is_refused(portal: Portal) -> None:
    await portal.create(dossier())
    body = await portal.steps(step(NguoiXuLy="x" * 51))
    assert body == {"error_code": -1, "message": "data[0].NguoiXuLy: dài quá 50 ký tự"}


# Faults ---------------------------------------------------------------------------------------------


async def test_down_answers_http_503_to_every_service_call_until_back_up(portal: Portal) -> None:
    portal.state.set_down()
    assert (await portal.login()).status_code == 503
    assert (await portal.call("TraCuuHoSo", MaHoSo=CODE)).status_code == 503
    portal.state.set_down(False)
    assert (await portal.login()).status_code == 200


async def test_fail_next_serves_that_many_server_errors_then_recovers(portal: Portal) -> None:
    portal.state.fail_next(2, status=502)
    statuses = [(await portal.call("DongBoHoSoMC", isUpdating="False", data=[dossier()])).status_code]
    statuses.append((await portal.call("DongBoHoSoMC", isUpdating="False", data=[dossier()])).status_code)
    assert statuses == [502, 502]
    assert portal.state.dossiers == {}
    assert (await portal.create(dossier()))["error_code"] == 0
    assert portal.state.stats.served_5xx == 2


async def test_fail_next_refuses_statuses_that_are_not_server_errors(portal: Portal) -> None:
    with pytest.raises(ValueError, match="429 or 5xx"):
        portal.state.fail_next(1, status=404)


async def test_reject_next_refuses_writes_with_the_given_business_error(portal: Portal) -> None:
    portal.state.reject_next(1, error_code=-1, message="Thủ tục không thuộc đơn vị")
    assert (await portal.call("TraCuuHoSo", MaHoSo=CODE)).json()["error_code"] == 0
    assert await portal.create(dossier()) == {"error_code": -1, "message": "Thủ tục không thuộc đơn vị"}
    assert portal.state.dossiers == {}
    assert (await portal.create(dossier()))["error_code"] == 0


async def test_duplicate_mode_answers_exists_once_and_the_update_fallback_succeeds(portal: Portal) -> None:
    portal.state.set_duplicate()
    assert await portal.create(dossier()) == {"error_code": 3, "message": f"Hồ sơ {CODE} đã tồn tại"}
    assert portal.state.dossiers[CODE].seeded
    assert (await portal.update(dossier()))["error_code"] == 0
    record = portal.state.dossiers[CODE]
    assert (record.writes, record.seeded) == (1, False)


async def test_slow_adds_the_requested_latency(portal: Portal) -> None:
    portal.state.set_latency(30)
    started = time.perf_counter()
    await portal.call("TraCuuHoSo", MaHoSo=CODE)
    assert time.perf_counter() - started >= 0.03


async def test_reset_forgets_dossiers_sessions_counters_and_faults(portal: Portal) -> None:
    await portal.create(dossier())
    portal.state.set_down()
    portal.state.reset()
    assert portal.state.dossiers == {}
    assert portal.state.stats.logins == 0
    assert (await portal.call("TraCuuHoSo", MaHoSo=CODE)).json()["error_code"] == -2


# Control and inspection endpoints -------------------------------------------------------------------


async def test_control_endpoints_switch_the_same_faults_as_the_state_methods(portal: Portal) -> None:
    client = portal.client
    assert (await client.post("/_sandbox/fail_next", json={"n": 1, "status": 500})).status_code == 200
    assert (await portal.call("TraCuuHoSo", MaHoSo=CODE)).status_code == 500
    await client.post("/_sandbox/reject_next", json={"n": 1, "error_code": -5, "message": "Từ chối"})
    assert (await portal.create(dossier()))["error_code"] == -5
    await client.post("/_sandbox/duplicate", json={"on": True})
    assert (await portal.create(dossier()))["error_code"] == 3
    faults = (await client.post("/_sandbox/down", json={"down": True})).json()
    assert faults["down"] is True
    assert (await portal.login()).status_code == 503
    await client.post("/_sandbox/reset")
    assert (await portal.login()).status_code == 200


async def test_control_endpoints_refuse_bad_arguments_and_unknown_controls(portal: Portal) -> None:
    client = portal.client
    assert (await client.post("/_sandbox/fail_next", json={"n": 1, "status": 200})).status_code == 422
    assert (await client.post("/_sandbox/slow", json={"latency": 5})).status_code == 422
    assert (await client.post("/_sandbox/explode", json={})).status_code == 404


async def test_inspection_endpoints_show_dossiers_steps_writes_and_stats(portal: Portal) -> None:
    await portal.create(dossier())
    await portal.steps(step())
    await portal.login(password="wrong")
    everything = (await portal.client.get("/_sandbox/dossiers")).json()
    assert everything[CODE]["writes"] == 1
    assert everything[CODE]["steps"] == [step()]
    one = (await portal.client.get(f"/_sandbox/dossiers/{CODE}")).json()
    assert one["item"] == dossier()
    assert len(one["history"]) == 1
    assert (await portal.client.get("/_sandbox/dossiers/000.00.12.H52-250703-9999")).status_code == 404
    stats = (await portal.client.get("/_sandbox/stats")).json()
    assert stats["calls_by_service"] == {"LayPhienLamViec": 2, "DongBoHoSoMC": 1, "CapNhatTienDoHoSoMC": 1}
    assert stats["replies_by_error_code"] == {"0": 3, "-1": 1}
    assert stats["logins"] == 1
    assert stats["dossiers"] == 1


async def test_control_endpoints_answer_loopback_clients_only() -> None:
    app = create_dvcqg_sandbox()
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dvcqg.test") as client:
        assert (await client.get("/_sandbox/stats")).status_code == 403
        assert (await client.post("/_sandbox/reset")).status_code == 403
