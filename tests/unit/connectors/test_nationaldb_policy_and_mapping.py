"""Pure parts of look-ups: the population reply mapping, field lists, purpose, rate limit, keyed hash."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from lienthong.connectors.nationaldb.policy import (
    FieldPolicy,
    LookupRefused,
    OfficerRateLimit,
    check_purpose,
    subject_hash,
)
from lienthong.connectors.xml import parse_xml
from lienthong.mappings.errors import MappingError
from lienthong.mappings.lookup import citizens_from_soap, select_fields
from lienthong.schemas.lookup import LookupPurpose, Register

GOLDEN = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<CongdanCollection xmlns="http://dancuquocgia.bca/"><CongDan>
  <SoDinhDanh>052099012345</SoDinhDanh><SoCMND>215012345</SoCMND>
  <HoVaTen><Ho>Nguyễn</Ho><ChuDem>Văn</ChuDem><Ten>An</Ten></HoVaTen>
  <GioiTinh>1</GioiTinh>
  <NgayThangNamSinh><Nam>1999</Nam><NgayThangNam>19990315</NgayThangNam></NgayThangNamSinh>
  <ThuongTru><MaTinhThanh>52</MaTinhThanh><MaQuanHuyen/><MaPhuongXa>21550</MaPhuongXa>
    <ChiTiet>Số 12 Lê Lợi</ChiTiet></ThuongTru>
  <Cha><HoVaTen>Nguyễn Văn Cường</HoVaTen><SoDinhDanh>052070001111</SoDinhDanh></Cha>
</CongDan></CongdanCollection></soap:Body></soap:Envelope>""".encode()


def test_a_population_reply_maps_to_a_typed_citizen() -> None:
    [c] = citizens_from_soap(parse_xml(GOLDEN))
    assert c.SoDinhDanh == "052099012345"
    assert (c.HoVaTen.Ho, c.HoVaTen.ChuDem, c.HoVaTen.Ten) == ("Nguyễn", "Văn", "An")
    assert c.NgayThangNamSinh.NgayThangNam == "19990315"
    assert c.ThuongTru.MaPhuongXa == "21550"
    assert c.ThuongTru.MaQuanHuyen is None
    assert c.Cha.SoDinhDanh == "052070001111"
    assert c.Me is None


def test_an_empty_collection_means_not_found() -> None:
    xml = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><CongdanCollection/></s:Body></s:Envelope>'
    assert citizens_from_soap(parse_xml(xml)) == []


def test_a_reply_without_the_collection_is_a_mapping_error() -> None:
    xml = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><X/></s:Body></s:Envelope>'
    with pytest.raises(MappingError, match="CongdanCollection"):
        citizens_from_soap(parse_xml(xml))


def test_select_fields_keeps_only_the_allowed_top_level_fields() -> None:
    [c] = citizens_from_soap(parse_xml(GOLDEN))
    assert set(select_fields(c, ["SoDinhDanh", "GioiTinh", "Me"])) == {"SoDinhDanh", "GioiTinh"}


def test_a_province_instance_code_uses_its_base_codes_field_list() -> None:
    policy = FieldPolicy.load()
    assert policy.fields_for("1.001193.000.00.00.H52", Register.POPULATION) == policy.fields_for(
        "1.001193", Register.POPULATION
    )
    assert "Cha" not in policy.fields_for("1.001193", Register.POPULATION)


def test_a_procedure_without_a_list_for_the_register_is_refused_403() -> None:
    with pytest.raises(LookupRefused) as info:
        FieldPolicy.load().fields_for("1.001193", Register.BUSINESS)
    assert info.value.http_status == 403


def test_no_purpose_is_refused_400() -> None:
    with pytest.raises(LookupRefused) as info:
        check_purpose(None)
    assert info.value.http_status == 400


def test_a_purpose_with_a_bad_dossier_code_is_refused() -> None:
    purpose = LookupPurpose(procedure_code="1.001193", dossier_code="not-a-code", officer_id="a",
                            legal_basis="Nghị định 63/2024")  # fmt: skip
    with pytest.raises(LookupRefused, match="dossier code"):
        check_purpose(purpose)


def test_the_rate_limit_counts_a_sliding_minute_per_officer() -> None:
    now = [0.0]
    limit = OfficerRateLimit(2, clock=lambda: now[0])
    limit.take("a")
    limit.take("a")
    limit.take("b")
    with pytest.raises(LookupRefused):
        limit.take("a")
    now[0] = 60.5
    limit.take("a")


def test_the_subject_hash_is_hmac_sha256_of_register_and_subject() -> None:
    expected = hmac.new(b"key", b"population\x1f052099012345", hashlib.sha256).hexdigest()
    assert subject_hash(b"key", Register.POPULATION, "052099012345") == expected
