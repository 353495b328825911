"""What real one-stop systems send is accepted (REFERENCE section 4): value sets, long summaries, 5-digit
running numbers, 12-digit personal tax codes, personal IDs of citizens born abroad.

Expected values are written by hand from the reference.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lienthong.mappings.dvcqg import dossier_to_dvcqg, dvcqg_to_dossier, parse_inbound
from lienthong.mappings.errors import InvalidIdentifier
from lienthong.mappings.onestop import EXAMPLE_EVENT, OnestopDossierEventIn, onestop_event_to_canonical
from lienthong.schemas.dossier import Applicant, ApplicantIdentifier, IdentifierKind, SubjectType
from lienthong.schemas.validators import (
    validate_dossier_code,
    validate_personal_id,
    validate_tax_code,
)


def _event(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE_EVENT)
    body["dossier"].update(changes)
    return body


def _canonical(body: dict[str, Any]) -> Any:
    return onestop_event_to_canonical(OnestopDossierEventIn.model_validate(body)).dossier


@pytest.mark.parametrize("code", ["0", "1", "3"])
def test_online_payment_codes_0_1_3_are_accepted_and_go_back_to_dvcqg_unchanged(code: str) -> None:
    dossier = _canonical(_event(DuocThanhToanTrucTuyen=code))
    assert dossier.paid_online is (code == "1")
    assert dossier_to_dvcqg(dossier)["DuocThanhToanTrucTuyen"] == code


@pytest.mark.parametrize("code", ["0", "1", "2"])
def test_reuse_codes_0_1_2_are_accepted_and_go_back_to_dvcqg_unchanged(code: str) -> None:
    body = _event()
    body["dossier"]["TaiLieuNop"][0]["DuocTaiSuDung"] = code
    dossier = _canonical(body)
    assert dossier.documents[0].reused is (code == "1")
    assert dossier_to_dvcqg(dossier)["TaiLieuNop"][0]["DuocTaiSuDung"] == code


def test_an_online_payment_code_outside_the_real_value_sets_is_still_refused() -> None:
    with pytest.raises(ValueError, match="DuocThanhToanTrucTuyen"):
        _canonical(_event(DuocThanhToanTrucTuyen="abc"))


def test_a_summary_over_1000_characters_is_cut_to_995_plus_dots_for_dvcqg() -> None:
    text = "Đề nghị " + "x" * 1200
    dossier = _canonical(_event(TrichYeuHoSo=text))
    assert dossier.summary == text
    sent = dossier_to_dvcqg(dossier)["TrichYeuHoSo"]
    assert len(sent) == 998
    assert sent == text[:995] + "..."


def test_a_summary_of_exactly_1000_characters_is_sent_whole() -> None:
    dossier = _canonical(_event(TrichYeuHoSo="y" * 1000))
    assert dossier_to_dvcqg(dossier)["TrichYeuHoSo"] == "y" * 1000


def test_a_dossier_code_with_a_5_digit_running_number_is_valid() -> None:
    code = validate_dossier_code("000.00.12.H52-250703-10042")
    assert (code.sequence, code.value) == (10042, "000.00.12.H52-250703-10042")
    assert _canonical(_event(MaHoSo="000.00.12.H52-250703-10042")).code == "000.00.12.H52-250703-10042"


def test_a_6_digit_running_number_is_not() -> None:
    with pytest.raises(InvalidIdentifier):
        validate_dossier_code("000.00.12.H52-250703-100042")


def test_a_12_digit_personal_id_is_a_valid_tax_code_since_july_2025() -> None:
    assert validate_tax_code("052090000123") == "052090000123"
    assert validate_tax_code("0312345678") == "0312345678"
    assert validate_tax_code("0312345678-001") == "0312345678-001"


def test_a_12_digit_tax_code_must_still_be_a_well_formed_personal_id() -> None:
    with pytest.raises(InvalidIdentifier, match="tax code") as info:
        validate_tax_code("000090000123")
    assert "000090000123" not in str(info.value)


def test_a_land_tax_notice_carrying_a_12_digit_tax_code_is_read() -> None:
    notice = parse_inbound(
        {
            "service": "NhanThongBaoThueDat",
            "data": [{"MaHoSo": "000.00.12.H52-250703-0042", "MaSoThue": "079185001234"}],
        }
    )
    assert notice.items[0].tax_code == "079185001234"


def test_a_personal_id_of_a_citizen_born_abroad_starts_with_a_country_code() -> None:
    # 840 = United States (ISO 3166-1 numeric); 0 male born 19xx; 85 -> 1985.
    person = validate_personal_id("840085123456")
    assert person.born_abroad and person.birth_year == 1985


def test_a_personal_id_starting_with_neither_province_nor_country_code_is_refused() -> None:
    with pytest.raises(InvalidIdentifier, match="neither a province nor a country"):
        validate_personal_id("999085123456")


def test_the_dossier_model_uses_the_real_id_validator_on_live_data() -> None:
    with pytest.raises(ValueError, match="neither a province nor a country"):
        ApplicantIdentifier(kind=IdentifierKind.PERSONAL_ID, number="999085123456")
    with pytest.raises(ValueError, match=r"SoDinhDanh|personal ID"):
        _canonical(_event(DinhDanhCHS=[{"LoaiDinhDanh": "1", "SoDinhDanh": "999085123456"}]))


def test_an_applicant_tax_code_may_be_a_personal_id() -> None:
    applicant = Applicant(name="Hộ kinh doanh A", subject_type=SubjectType.CITIZEN, tax_code="052090000123")
    assert applicant.tax_code == "052090000123"


def test_dvcqg_item_with_real_value_sets_reads_back() -> None:
    item = dossier_to_dvcqg(_canonical(_event(DuocThanhToanTrucTuyen="3")))
    assert dvcqg_to_dossier(item).online_payment_code == 3
