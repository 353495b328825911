"""Canonical <-> DVCQG JSON: field names, value conventions, requests, inbound pushes, round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from _mapping_strategies import dossiers
from hypothesis import given, settings

from lienthong.errors import PermanentError
from lienthong.mappings.dvcqg import (
    DVCQG_DATE_FORMAT,
    SERVICE_SYNC_DOSSIER,
    SERVICE_UPDATE_PROGRESS,
    build_request,
    chunk,
    dossier_to_dvcqg,
    dvcqg_to_dossier,
    format_dvcqg_time,
    parse_dvcqg_time,
    parse_inbound,
    steps_to_dvcqg,
)
from lienthong.mappings.errors import MappingError
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import Dossier, NoticeKind

REFERENCE_DOSSIER_FIELDS = [
    "MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "KenhThucHien", "SoBienNhan", "ChuHoSo",
    "LoaiDoiTuong", "MaDoiTuong", "SoDienThoai", "Email", "SoGiayToChuHoSo", "DinhDanhCHS", "TrichYeuHoSo",
    "NgayNopHoSo", "NgayTiepNhan", "NgayHenTra", "TrangThaiHoSo", "NgayKetThucXuLy", "NgayTra", "NgayTuChoi",
    "HinhThuc", "DonViXuLy", "NoiNopHoSo", "HoSoCoThanhPhanSoHoa", "TaiKhoanDuocXacThucVoiVNeID",
    "DuocThanhToanTrucTuyen", "DSKetNoiCSDL", "TaiLieuNop", "DanhSachLePhi", "DanhSachHoSoBoSung",
    "DanhSachGiayToKetQua",
]  # fmt: skip
REFERENCE_STEP_FIELDS = [
    "MaHoSo", "NguoiXuLy", "ChucDanh", "ThoiDiemXuLy", "PhongBanXuLy", "NoiDungXuLy", "TrangThai",
    "NgayBatDau", "NgayKetThucTheoQuyDinh",
]  # fmt: skip


@pytest.fixture
def full_dossier(golden_input) -> Dossier:
    return Dossier.model_validate(golden_input("dossier_full.in.json"))


def test_dossier_maps_to_the_golden_dongbohosomc_item(full_dossier, golden):
    golden("dossier_full.dvcqg.json", dossier_to_dvcqg(full_dossier))


def test_steps_map_to_the_golden_capnhattiendohosomc_items(full_dossier, golden):
    golden("dossier_full.dvcqg_steps.json", steps_to_dvcqg(full_dossier))


def test_dossier_item_has_exactly_the_reference_fields_in_reference_order(full_dossier):
    assert list(dossier_to_dvcqg(full_dossier)) == REFERENCE_DOSSIER_FIELDS


def test_nested_items_use_the_reference_field_names(full_dossier):
    item = dossier_to_dvcqg(full_dossier)
    assert list(item["DinhDanhCHS"][0]) == ["LoaiDinhDanh", "SoDinhDanh"]
    assert list(item["DSKetNoiCSDL"][0]) == ["MaCSDL"]
    assert set(item["TaiLieuNop"][0]) == {
        "TepDinhKemId", "TenTepDinhKem", "MaThanhPhanHoSo", "DuongDanTaiTepTin", "DuocSoHoa", "DuocTaiSuDung",
        "DuocLayTuKhoDMQG",
    }  # fmt: skip
    assert set(item["DanhSachLePhi"][0]) == {"TenPhiLePhi", "MaPhiLePhi", "HinhThucThu", "Gia", "LoaiPhiLePhi"}
    assert set(item["DanhSachHoSoBoSung"][0]) == {
        "HoSoBoSungId", "NguoiYeuCauBoSung", "NoiDungBoSung", "NgayBoSung", "TrangThaiBoSung", "NgayHenTraTruoc",
        "NgayHenTraMoi",
    }  # fmt: skip
    assert set(item["DanhSachGiayToKetQua"][0]) == {
        "TenGiayTo", "MaThanhPhanHoSo", "GiayToId", "DuongDanTepTinKetQua", "MaGiayToKetQua",
    }  # fmt: skip


def test_step_items_have_exactly_the_reference_fields(full_dossier):
    assert all(list(step) == REFERENCE_STEP_FIELDS for step in steps_to_dvcqg(full_dossier))


def test_codes_flags_and_amounts_are_strings_and_absent_values_are_null(full_dossier):
    item = dossier_to_dvcqg(full_dossier)
    assert (item["TrangThaiHoSo"], item["KenhThucHien"], item["LoaiDoiTuong"], item["HinhThuc"]) == ("9", "2", "2", "1")
    assert (item["HoSoCoThanhPhanSoHoa"], item["DuocThanhToanTrucTuyen"]) == ("1", "1")
    assert item["DanhSachLePhi"][0]["Gia"] == "75000"
    assert item["NgayTra"] is None
    assert item["TaiLieuNop"][1]["DuongDanTaiTepTin"] is None


def test_times_are_written_in_vietnam_local_time(full_dossier):
    item = dossier_to_dvcqg(full_dossier)
    assert item["NgayNopHoSo"] == "20250625065010"  # 23:50:10 UTC the day before
    assert item["NgayKetThucXuLy"] == "20250718103000"


def test_handler_name_is_cut_to_fifty_characters_for_dvcqg(full_dossier):
    names = [step["NguoiXuLy"] for step in steps_to_dvcqg(full_dossier)]
    assert len(full_dossier.steps[1].handler_name) > 50
    assert len(names[1]) == 50
    assert names[1] == full_dossier.steps[1].handler_name[:50]


def test_tax_code_and_address_are_not_sent_to_dvcqg(full_dossier):
    item = dossier_to_dvcqg(full_dossier)
    assert "4100000001-002" not in orjson.dumps(item).decode()
    assert "Số 12 đường Lê Lợi" not in orjson.dumps(item).decode()


@settings(max_examples=150, deadline=None)
@given(dossiers())
def test_dvcqg_round_trip_keeps_every_field_dvcqg_carries(d):
    wire = orjson.loads(orjson.dumps(dossier_to_dvcqg(d)))
    steps = orjson.loads(orjson.dumps(steps_to_dvcqg(d)))
    back = dvcqg_to_dossier(wire, steps=steps, version=d.version)
    not_carried = d.applicant.model_copy(update={"tax_code": None, "address": None})
    assert back == d.model_copy(update={"applicant": not_carried})


def test_inbound_dossier_item_may_send_codes_as_integers_and_flags_as_booleans(full_dossier):
    item = dossier_to_dvcqg(full_dossier) | {"TrangThaiHoSo": 9, "KenhThucHien": 2, "DuocThanhToanTrucTuyen": True}
    assert dvcqg_to_dossier(item, version=12).status == full_dossier.status


def test_inbound_dossier_item_reads_empty_strings_as_absent(full_dossier):
    item = dossier_to_dvcqg(full_dossier) | {"NgayKetThucXuLy": "", "SoBienNhan": ""}
    dossier = dvcqg_to_dossier(item)
    assert (dossier.finished_at, dossier.receipt_number) == (None, None)


def test_inbound_dossier_item_error_names_the_wire_field(full_dossier):
    item = dossier_to_dvcqg(full_dossier) | {"NgayTiepNhan": "25/06/2025 08:05"}
    with pytest.raises(MappingError, match="NgayTiepNhan") as info:
        dvcqg_to_dossier(item)
    assert isinstance(info.value, PermanentError)


def test_inbound_dossier_item_error_does_not_contain_the_personal_id(full_dossier):
    item = dossier_to_dvcqg(full_dossier)
    item["DinhDanhCHS"] = [{"LoaiDinhDanh": "1", "SoDinhDanh": "05209000012"}]
    with pytest.raises(MappingError) as info:
        dvcqg_to_dossier(item)
    assert "05209000012" not in str(info.value)


def test_steps_of_another_dossier_are_refused(full_dossier):
    steps = steps_to_dvcqg(full_dossier)
    steps[0]["MaHoSo"] = "000.00.12.H52-250625-0008"
    with pytest.raises(MappingError, match="MaHoSo differs"):
        dvcqg_to_dossier(dossier_to_dvcqg(full_dossier), steps=steps)


def test_parse_time_reads_fourteen_digits_as_vietnam_local_time():
    assert parse_dvcqg_time("20250703091500") == datetime(2025, 7, 3, 2, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    ["2025070309150", "202507030915000", "2025-07-03 09:15", "20250230091500", "20250703241500", "２０25070309150０"],
)
def test_parse_time_refuses_anything_but_fourteen_digits_of_a_real_moment(bad):
    with pytest.raises(ValueError, match=r"yyyyMMddHHmmss|real date"):
        parse_dvcqg_time(bad)


def test_format_time_converts_to_vietnam_time_and_drops_sub_seconds():
    moment = datetime(2025, 7, 3, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5)))
    assert format_dvcqg_time(moment) == "20250704115959"


def test_format_time_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        format_dvcqg_time(datetime(2025, 7, 3, 9, 15))


def test_date_format_constant_is_the_strftime_form_of_the_wire_format():
    assert datetime(2025, 7, 3, 9, 15, tzinfo=VN_TZ).strftime(DVCQG_DATE_FORMAT) == "20250703091500"


def test_build_request_writes_is_updating_as_a_capitalised_string(full_dossier):
    body = build_request(
        SERVICE_SYNC_DOSSIER, [dossier_to_dvcqg(full_dossier)], session="s-1", agency_code="000.00.00.H52",
        is_updating=True,
    )  # fmt: skip
    assert list(body) == ["service", "session", "madonvi", "isUpdating", "data"]
    assert (body["service"], body["madonvi"], body["isUpdating"]) == ("DongBoHoSoMC", "000.00.00.H52", "True")


def test_build_request_leaves_out_is_updating_when_not_given(full_dossier):
    body = build_request(
        SERVICE_UPDATE_PROGRESS, steps_to_dvcqg(full_dossier), session="s-1", agency_code="000.00.00.H52",
        is_updating=None,
    )  # fmt: skip
    assert "isUpdating" not in body


def test_build_request_refuses_more_than_ten_steps(full_dossier):
    with pytest.raises(MappingError, match="chunk"):
        build_request(SERVICE_UPDATE_PROGRESS, [{}] * 11, session="s", agency_code="000.00.00.H52", is_updating=None)


def test_build_request_refuses_a_missing_session():
    with pytest.raises(MappingError, match="log in"):
        build_request(SERVICE_SYNC_DOSSIER, [], session="", agency_code="000.00.00.H52", is_updating=False)


def test_chunk_splits_into_tens_keeping_order():
    assert chunk(list(range(23))) == [list(range(10)), list(range(10, 20)), [20, 21, 22]]
    assert chunk([]) == []


def test_chunk_refuses_a_size_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        chunk([1], size=0)


def test_land_tax_notice_maps_to_the_golden_inbound_notice(golden_input, golden):
    notice = parse_inbound(golden_input("inbound_land_tax_notice.in.json"))
    assert notice.kind is NoticeKind.LAND_TAX_NOTICE
    golden("inbound_land_tax_notice.canonical.json", notice.model_dump(mode="json"))


def test_promotion_notice_with_a_single_object_maps_to_the_golden_inbound_notice(golden_input, golden):
    notice = parse_inbound(golden_input("inbound_promotion_notice.in.json"))
    assert (notice.kind, notice.is_updating, len(notice.items)) == (NoticeKind.PROMOTION_NOTICE, None, 1)
    golden("inbound_promotion_notice.canonical.json", notice.model_dump(mode="json"))


def test_inbound_notice_keeps_fields_it_does_not_interpret(golden_input):
    notice = parse_inbound(golden_input("inbound_land_tax_notice.in.json"))
    assert notice.items[0].raw["TongTienThue"] == "1250000"


def test_inbound_push_of_an_unknown_service_is_refused_listing_known_ones():
    with pytest.raises(MappingError, match=r"unknown service 'NhanGiDo'.*NhanThongBaoThueDat"):
        parse_inbound({"service": "NhanGiDo", "data": []})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": []}, "'service' is missing"),
        ({"service": "NhanChungTuThueDat", "data": "x"}, "'data' must be a list"),
        ({"service": "NhanChungTuThueDat", "data": [1]}, r"data\[0\]: must be a JSON object"),
        ({"service": "NhanChungTuThueDat", "isUpdating": "yes", "data": []}, "isUpdating"),
        ({"service": "NhanChungTuThueDat", "data": [{"NgayNopHoSo": "2025-07-03"}]}, r"data\[0\].*NgayNopHoSo"),
        ({"service": "NhanChungTuThueDat", "data": [{"MaSoThue": "12345"}]}, r"data\[0\].*tax code"),
        (
            {"service": "NhanChungTuThueDat", "data": [{"TepDinhKem": [{"Base64": "not base64!"}]}]},
            "base64",
        ),
    ],
)
def test_malformed_inbound_push_is_refused_with_a_message_naming_the_problem(body, message):
    with pytest.raises(MappingError, match=message):
        parse_inbound(body)
