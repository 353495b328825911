"""Pure payment mappings: amounts, callback reading, replay window, references, INIT, due date after a pause."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lienthong.calendar import WorkingCalendar
from lienthong.mappings.errors import MappingError
from lienthong.mappings.payment import (
    CALLBACK_FIELDS,
    CallbackRefused,
    InitConfig,
    check_callback_time,
    counter_reference,
    fees_for_dvcqg,
    init_message,
    paid_fees,
    parse_amount,
    payment_reference,
    read_callback,
    resumed_due_date,
)
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.payment import FeeLine

CODE = "000.00.12.H52-250703-0042"


def callback(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "LoaiBanTin": "CONFIRM", "MaLoi": "00", "MaDoiTac": "000.00.12.H52", "MaThamChieu": f"{CODE}-TT01",
        "SoTien": "150000", "MaTienTe": "VND", "MaGiaoDich": "GD1", "MaNganHang": "VCB",
        "ThoiGianGD": "20250703091500", "ThongTinGiaoDich": "x", "MaXacThuc": "ab" * 32,
    }  # fmt: skip
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("value", "expected"), [("150000", 150000), (150000, 150000), ("0", 0), ("9" * 18, 10**18 - 1)]
)
def test_amounts_are_whole_dong_as_digits_or_integers(value, expected) -> None:
    assert parse_amount(value) == expected


@pytest.mark.parametrize(
    "value", ["-1", -1, "1.5", 1.5, 150000.0, "1e5", " 1", "1 000", "", "9" * 19, 10**18, True, None, "١٢٣"]
)
def test_amounts_that_are_not_whole_dong_digits_are_refused(value) -> None:
    with pytest.raises(MappingError):
        parse_amount(value)


def test_a_complete_callback_is_read_with_its_wire_text() -> None:
    fields = read_callback(callback(SoTien=150000))
    assert fields.amount_vnd == 150000
    assert fields.wire["SoTien"] == "150000"
    assert fields.at == datetime(2025, 7, 3, 9, 15, tzinfo=VN_TZ)
    assert fields.succeeded


@pytest.mark.parametrize("name", CALLBACK_FIELDS)
def test_a_callback_missing_any_field_is_refused_naming_it(name) -> None:
    body = callback()
    del body[name]
    with pytest.raises(CallbackRefused, match=name):
        read_callback(body)


@pytest.mark.parametrize("amount", ["-150000", "150000.00", 150000.5, "abc", "1" * 19])
def test_a_callback_with_a_bad_amount_is_refused_without_echoing_it(amount) -> None:
    with pytest.raises(CallbackRefused) as info:
        read_callback(callback(SoTien=amount))
    assert str(amount) not in str(info.value)


def test_a_callback_with_a_malformed_time_or_a_non_object_is_refused() -> None:
    with pytest.raises(CallbackRefused):
        read_callback(callback(ThoiGianGD="2025-07-03 09:15"))
    with pytest.raises(CallbackRefused):
        read_callback(["not", "an", "object"])
    with pytest.raises(CallbackRefused):
        read_callback(callback(ThongTinGiaoDich="x" * 256))


def test_the_replay_window_refuses_stale_and_future_times() -> None:
    now = datetime(2025, 7, 3, 10, 0, tzinfo=VN_TZ)
    check_callback_time(now - timedelta(seconds=899), now, max_age_s=900, future_skew_s=120)
    check_callback_time(now + timedelta(seconds=119), now, max_age_s=900, future_skew_s=120)
    with pytest.raises(CallbackRefused, match="older"):
        check_callback_time(now - timedelta(seconds=901), now, max_age_s=900, future_skew_s=120)
    with pytest.raises(CallbackRefused, match="future"):
        check_callback_time(now + timedelta(seconds=121), now, max_age_s=900, future_skew_s=120)


def test_references_are_deterministic_per_attempt_and_distinct_between_attempts() -> None:
    assert payment_reference(CODE, 1) == f"{CODE}-TT01"
    assert payment_reference(CODE, 2) == f"{CODE}-TT02"
    assert counter_reference(CODE, "POS-1") == counter_reference(CODE, "POS-1") != counter_reference(CODE, "POS-2")
    with pytest.raises(MappingError):
        payment_reference(CODE, 0)


def test_init_carries_every_field_and_the_sum_of_the_fees_as_digits() -> None:
    fees = (FeeLine(name="Lệ phí A", amount_vnd=100000, code="LP-A"), FeeLine(name="Phí B", amount_vnd=50000))
    config = InitConfig("000.00.12.H52", "WEB", "lienthong", "", "127.0.0.1", "2", "3711", "01201001", "KBNN", "TT")
    body = init_message(reference=f"{CODE}-TT01", dossier_code=CODE, fees=fees,
                        at=datetime(2025, 7, 3, 9, 15, tzinfo=VN_TZ), config=config)  # fmt: skip
    assert set(body) == {
        "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan", "MaKenhThanhToan",
        "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich", "ThoiGianGD", "Ip", "ThongTinBienLai",
    }  # fmt: skip
    assert body["SoTien"] == "150000"
    assert body["PhienBan"] == "1.0.6"
    assert body["ThoiGianGD"] == "20250703091500"
    assert set(body["ThongTinBienLai"]) == {
        "MaDichVu", "MaDVC", "MaTTHC", "TenTTHC", "MaDonVi", "TenDonVi", "MaHoSo", "TKThuHuong", "MaNHThuHuong",
        "TenTKThuHuong", "PhiLePhi", "HoTenNguoiNop", "SoCMNDNguoiNop", "DiaChiNguoiNop",
    }  # fmt: skip
    assert body["ThongTinBienLai"]["MaDonVi"] == "000.00.12.H52"
    assert [f["SoTien"] for f in body["ThongTinBienLai"]["PhiLePhi"]] == ["100000", "50000"]


def test_due_date_after_a_payment_pause_moves_by_the_paused_working_time() -> None:
    # Paused Mon 7 Jul 2025 10:00 -> Wed 9 Jul 09:00: Mon 10:00-11:30 (1.5 h) + 13:30-17:00 (3.5 h),
    # Tue 8 h, Wed 07:00-09:00 (2 h) = 15 h of working time.
    # Due Tue 8 Jul 16:00 + 15 h: Tue 16-17 (1 h), Wed (8 h), Thu 07:00-11:30 (4.5 h), 13:30 + 1.5 h = Thu 15:00.
    cal = WorkingCalendar()
    new_due = resumed_due_date(
        cal,
        previous_due=datetime(2025, 7, 8, 16, 0, tzinfo=VN_TZ),
        paused_at=datetime(2025, 7, 7, 10, 0, tzinfo=VN_TZ),
        resumed_at=datetime(2025, 7, 9, 9, 0, tzinfo=VN_TZ),
    )
    assert new_due == datetime(2025, 7, 10, 15, 0, tzinfo=VN_TZ)


def test_a_pause_over_a_weekend_counts_only_working_time() -> None:
    # Paused Fri 11 Jul 2025 16:00 -> Mon 14 Jul 08:00: Fri 1 h + Mon 1 h = 2 h.
    # Due Fri 11 Jul 16:30 + 2 h: Fri 16:30-17:00 (0.5 h), Mon 07:00 + 1.5 h = Mon 14 Jul 08:30.
    new_due = resumed_due_date(
        WorkingCalendar(),
        previous_due=datetime(2025, 7, 11, 16, 30, tzinfo=VN_TZ),
        paused_at=datetime(2025, 7, 11, 16, 0, tzinfo=VN_TZ),
        resumed_at=datetime(2025, 7, 14, 8, 0, tzinfo=VN_TZ),
    )
    assert new_due == datetime(2025, 7, 14, 8, 30, tzinfo=VN_TZ)


def test_a_pause_outside_working_time_leaves_the_due_date() -> None:
    due = datetime(2025, 7, 8, 16, 0, tzinfo=VN_TZ)
    same = resumed_due_date(WorkingCalendar(), previous_due=due, paused_at=datetime(2025, 7, 12, 9, 0, tzinfo=VN_TZ),
                            resumed_at=datetime(2025, 7, 13, 9, 0, tzinfo=VN_TZ))  # fmt: skip
    assert same == due


def test_paid_fees_carry_their_collection_method_to_dvcqg() -> None:
    fees = paid_fees((FeeLine(name="Lệ phí", amount_vnd=150000, code="LP-1", fee_type=2),), 1)
    assert fees_for_dvcqg(fees) == [
        {"TenPhiLePhi": "Lệ phí", "MaPhiLePhi": "LP-1", "HinhThucThu": "1", "Gia": "150000", "LoaiPhiLePhi": "2"}
    ]


def test_a_paid_dossier_resumes_and_dvcqg_receives_the_fee_with_its_collection_method_and_the_new_due_date() -> None:
    import copy

    from lienthong.mappings.dvcqg import dossier_to_dvcqg
    from lienthong.mappings.onestop import EXAMPLE_EVENT, OnestopDossierEventIn, onestop_event_to_canonical
    from lienthong.mappings.payment import resumed_dossier

    body = copy.deepcopy(EXAMPLE_EVENT)
    body["dossier"]["TrangThaiHoSo"] = "6"
    body["dossier"]["NgayHenTra"] = "20250708160000"
    body["dossier"]["DanhSachLePhi"] = [{"TenPhiLePhi": "Lệ phí", "MaPhiLePhi": "LP-1", "Gia": "150000"}]
    paused = onestop_event_to_canonical(OnestopDossierEventIn.model_validate(body)).dossier
    new_due = datetime(2025, 7, 10, 15, 0, tzinfo=VN_TZ)
    resumed = resumed_dossier(paused, collection_method=1, paid_online=True, new_due=new_due,
                              at=datetime(2025, 7, 9, 9, 0, tzinfo=VN_TZ), handler_name="Cán bộ một cửa")  # fmt: skip
    item = dossier_to_dvcqg(resumed)
    assert item["TrangThaiHoSo"] == "4"
    assert item["NgayHenTra"] == "20250710150000"
    assert [(f["Gia"], f["HinhThucThu"]) for f in item["DanhSachLePhi"]] == [("150000", "1")]
    change = item["DanhSachHoSoBoSung"][-1]
    assert (change["NgayHenTraTruoc"], change["NgayHenTraMoi"]) == ("20250708160000", "20250710150000")
    assert resumed.version == paused.version + 1
