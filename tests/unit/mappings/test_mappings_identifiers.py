"""Identifiers: dossier, agency, procedure and tax codes, personal IDs, dossier-code sequences."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from _mapping_strategies import agency_codes, dossier_days
from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.errors import PermanentError
from lienthong.mappings.errors import InvalidIdentifier, MappingError
from lienthong.mappings.identifiers import (
    DossierCodeGenerator,
    ProcedureCodeKind,
    Sex,
    mask_identifier,
    validate_agency_code,
    validate_dossier_code,
    validate_old_id_card,
    validate_personal_id,
    validate_procedure_code,
    validate_tax_code,
)


def test_dossier_code_is_parsed_into_agency_date_and_sequence():
    code = validate_dossier_code("000.00.12.H52-250703-0042")
    assert (code.agency_code, code.received_on, code.sequence) == ("000.00.12.H52", date(2025, 7, 3), 42)
    assert str(code) == "000.00.12.H52-250703-0042"


@pytest.mark.parametrize(
    "bad",
    [
        "000.00.12.H52-250703-42",
        "000.00.12.H52-20250703-0042",
        "000.00.12.H52_250703_0042",
        "00.00.12.H52-250703-0042",
        "000.00.12.h52-250703-0042",
        " 000.00.12.H52-250703-0042",
    ],
)
def test_malformed_dossier_code_is_refused_showing_the_expected_form(bad):
    with pytest.raises(InvalidIdentifier, match=r"<agency code>-<YYMMDD>-<NNNN>|agency code"):
        validate_dossier_code(bad)


@pytest.mark.parametrize("bad", ["000.00.12.H52-250230-0001", "000.00.12.H52-251301-0001", "000.00.12.H52-250000-0001"])
def test_dossier_code_with_an_impossible_date_is_refused(bad):
    with pytest.raises(InvalidIdentifier, match="not a real date"):
        validate_dossier_code(bad)


def test_invalid_identifier_is_a_permanent_value_error():
    with pytest.raises(InvalidIdentifier) as info:
        validate_dossier_code("x")
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PermanentError)


@pytest.mark.parametrize("good", ["000.00.00.G22", "000.00.00.H56", "000.17.22.H56", "000.00.12.H52.01.A1"])
def test_agency_codes_of_qcvn_102_form_are_accepted(good):
    assert validate_agency_code(good) == good


@pytest.mark.parametrize("bad", ["000.00.00.22", "00.00.00.H56", "000.00.00.H5", "H56", "000.00.00.H56." + "1" * 30])
def test_agency_codes_outside_qcvn_102_or_longer_than_35_are_refused(bad):
    with pytest.raises(InvalidIdentifier, match="agency code"):
        validate_agency_code(bad)


@settings(max_examples=100, deadline=None)
@given(agency_codes, dossier_days, st.integers(1, 30))
def test_generated_dossier_codes_validate_and_count_up_from_one(agency, day, count):
    generator = DossierCodeGenerator()
    parsed = [validate_dossier_code(generator.next_code(agency, day)) for _ in range(count)]
    assert [p.sequence for p in parsed] == list(range(1, count + 1))
    assert {(p.agency_code, p.received_on) for p in parsed} == {(agency, day)}


def test_generator_keeps_one_sequence_per_unit_per_day():
    generator = DossierCodeGenerator()
    day = date(2025, 7, 3)
    generator.next_code("000.00.12.H52", day)
    assert generator.next_code("000.00.13.H52", day).endswith("-0001")
    assert generator.next_code("000.00.12.H52", date(2025, 7, 4)).endswith("-0001")
    assert generator.next_code("000.00.12.H52", day).endswith("-0002")


def test_generator_uses_the_vietnam_local_date_of_a_receipt_time():
    # 18:30 UTC on 2 July is 01:30 on 3 July in Vietnam.
    code = DossierCodeGenerator().next_code("000.00.12.H52", datetime(2025, 7, 2, 18, 30, tzinfo=UTC))
    assert code == "000.00.12.H52-250703-0001"


def test_generator_continues_from_its_starting_map_and_snapshots_it():
    day = date(2025, 7, 3)
    generator = DossierCodeGenerator({("000.00.12.H52", day): 41})
    assert generator.next_code("000.00.12.H52", day) == "000.00.12.H52-250703-0042"
    assert generator.snapshot() == {("000.00.12.H52", day): 42}


def test_generator_continues_with_five_digits_and_refuses_a_sixth():
    day = date(2025, 7, 3)
    generator = DossierCodeGenerator({("000.00.12.H52", day): 9999})
    assert generator.next_code("000.00.12.H52", day) == "000.00.12.H52-250703-10000"
    full = DossierCodeGenerator({("000.00.12.H52", day): 99999})
    with pytest.raises(MappingError, match="exhausted"):
        full.next_code("000.00.12.H52", day)


def test_generator_forgets_days_before_a_given_day():
    generator = DossierCodeGenerator({("000.00.12.H52", date(2025, 7, 1)): 5, ("000.00.12.H52", date(2025, 7, 3)): 7})
    generator.forget_before(date(2025, 7, 2))
    assert generator.snapshot() == {("000.00.12.H52", date(2025, 7, 3)): 7}


def test_generator_issues_unique_codes_across_threads():
    generator = DossierCodeGenerator()
    codes: list[str] = []
    lock = threading.Lock()

    def issue() -> None:
        mine = [generator.next_code("000.00.12.H52", date(2025, 7, 3)) for _ in range(500)]
        with lock:
            codes.extend(mine)

    threads = [threading.Thread(target=issue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(codes)) == 4000
    assert max(validate_dossier_code(c).sequence for c in codes) == 4000


def test_personal_id_is_decoded_into_birth_province_sex_and_year():
    person = validate_personal_id("052190000456")
    assert (person.birth_province_code, person.sex, person.birth_year) == ("052", Sex.FEMALE, 1990)
    assert validate_personal_id("079205000123").birth_year == 2005
    assert validate_personal_id("079205000123").sex is Sex.MALE


@pytest.mark.parametrize("bad", ["05219000045", "0521900004567", "05219000045a", "003190000456", "０５２190000456"])
def test_invalid_personal_id_error_does_not_contain_the_id(bad):
    with pytest.raises(InvalidIdentifier) as info:
        validate_personal_id(bad)
    message = str(info.value)
    assert bad not in message
    assert bad[:6] not in message
    assert "personal ID" in message


def test_personal_id_born_after_the_reference_date_is_refused():
    with pytest.raises(InvalidIdentifier, match="future"):
        validate_personal_id("052230000456", as_of=date(2025, 7, 3))


def test_personal_id_repr_masks_the_number():
    assert "052190000456" not in repr(validate_personal_id("052190000456"))


def test_old_id_card_has_nine_digits():
    assert validate_old_id_card("215000123") == "215000123"
    with pytest.raises(InvalidIdentifier, match=r"\*+123"):
        validate_old_id_card("2150001234123")


def test_mask_identifier_keeps_only_the_last_three_characters():
    assert mask_identifier("052190000456") == "*********456"
    assert mask_identifier("1234") == "****"
    assert mask_identifier(None) == "<not a string>"


@pytest.mark.parametrize("good", ["4100000001", "4100000001002", "4100000001-002"])
def test_tax_codes_of_ten_or_thirteen_digits_are_accepted(good):
    assert validate_tax_code(good) == good


@pytest.mark.parametrize("bad", ["410000000", "41000000011", "4100000001-02", "4100000001 002", "MST4100000001"])
def test_malformed_tax_code_is_refused_without_echoing_it(bad):
    with pytest.raises(InvalidIdentifier, match="tax code") as info:
        validate_tax_code(bad)
    assert bad not in str(info.value)


def test_national_procedure_code_is_recognised():
    code = validate_procedure_code("1.001234")
    assert (code.kind, code.base, code.agency_code, code.unit_letter_code) == (
        ProcedureCodeKind.NATIONAL, "1.001234", None, None,
    )  # fmt: skip


def test_province_instance_procedure_code_names_its_agency():
    code = validate_procedure_code("1.003560.000.00.00.H56")
    assert (code.kind, code.base, code.agency_code, code.unit_letter_code) == (
        ProcedureCodeKind.PROVINCE_INSTANCE, "1.003560", "000.00.00.H56", "H56",
    )  # fmt: skip


def test_local_procedure_code_names_its_province():
    code = validate_procedure_code("2.002621.H56")
    assert (code.kind, code.unit_letter_code) == (ProcedureCodeKind.LOCAL, "H56")


@pytest.mark.parametrize("bad", ["1.00123", "1.0012345", "1001234", "1.001234.H5", "1.001234.000.00.H56", "1.001234."])
def test_malformed_procedure_code_is_refused(bad):
    with pytest.raises(InvalidIdentifier, match="procedure code"):
        validate_procedure_code(bad)
