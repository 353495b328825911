"""Synthetic dossiers, and the canonical model's own rules (frozen, aware datetimes, no PII leaks)."""

from __future__ import annotations

import random
import re
from datetime import datetime

import pytest
from pydantic import ValidationError

from lienthong.demo.workload import PROCEDURES, synthetic_dossier
from lienthong.mappings.dvcqg import dossier_to_dvcqg, dvcqg_to_dossier, steps_to_dvcqg
from lienthong.mappings.identifiers import validate_dossier_code, validate_personal_id, validate_procedure_code
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import (
    Applicant,
    ApplicantIdentifier,
    Channel,
    Dossier,
    DossierStatus,
    IdentifierKind,
    SubjectType,
)

RECEIVED = datetime(2025, 7, 3, 9, 15, tzinfo=VN_TZ)


def _make(seed: int, seq: int = 1, channel: str = "counter") -> Dossier:
    return synthetic_dossier(
        random.Random(seed), agency_code="000.00.12.H52", received_at=RECEIVED, seq=seq, channel=channel
    )


def test_the_same_seed_gives_the_same_dossier():
    assert _make(7) == _make(7)
    assert _make(7) != _make(8)


def test_synthetic_dossier_code_is_the_unit_date_and_sequence():
    assert _make(1, seq=42).code == "000.00.12.H52-250703-0042"
    validate_dossier_code(_make(1, seq=42).code)


@pytest.mark.parametrize("seed", range(40))
def test_synthetic_applicants_have_valid_ids_and_mobile_shaped_phones(seed):
    dossier = _make(seed, channel=random.Random(seed).choice(["online", "counter", "post"]))
    applicant = dossier.applicant
    assert applicant.phone is not None
    assert re.fullmatch(r"0[35789][0-9]{8}", applicant.phone)
    if applicant.subject_type is SubjectType.CITIZEN:
        assert 1950 <= validate_personal_id(applicant.identifiers[0].number).birth_year <= 2005
    else:
        assert applicant.tax_code is not None
    assert applicant.email is None or applicant.email.endswith("@example.com")
    validate_procedure_code(dossier.procedure_code)


def test_synthetic_dossier_is_accepted_with_one_intake_step_and_a_due_date_in_the_future():
    dossier = _make(3)
    assert (dossier.status, dossier.version, len(dossier.steps)) == (DossierStatus.ACCEPTED, 1, 1)
    assert dossier.due_at is not None
    assert dossier.due_at > RECEIVED


def test_synthetic_dossiers_cover_every_channel_and_many_procedures():
    made = [_make(seed, channel=channel) for seed in range(60) for channel in ("online", "counter", "post")]
    assert {d.channel for d in made} == set(Channel)
    assert len({d.procedure_name for d in made}) >= len(PROCEDURES) - 2


def test_synthetic_dossier_survives_the_dvcqg_round_trip():
    dossier = _make(11, channel="online")
    back = dvcqg_to_dossier(dossier_to_dvcqg(dossier), steps=steps_to_dvcqg(dossier), version=dossier.version)
    assert back.code == dossier.code
    assert back.steps == dossier.steps


def test_unknown_channel_is_refused():
    with pytest.raises(ValueError, match="fax"):
        _make(1, channel="fax")


def test_canonical_models_are_frozen():
    dossier = _make(1)
    with pytest.raises(ValidationError, match="frozen"):
        dossier.status = DossierStatus.PROCESSING  # type: ignore[misc]


def test_canonical_dossier_refuses_naive_datetimes():
    data = _make(1).model_dump() | {"received_at": datetime(2025, 7, 3, 9, 15)}
    with pytest.raises(ValidationError, match="timezone"):
        Dossier.model_validate(data)


def test_canonical_dossier_keeps_a_summary_over_a_thousand_characters():
    assert Dossier.model_validate(_make(1).model_dump() | {"summary": "x" * 1001}).summary == "x" * 1001


def test_canonical_empty_optional_text_means_absent():
    assert Dossier.model_validate(_make(1).model_dump() | {"receipt_number": ""}).receipt_number is None


def test_canonical_identifier_error_does_not_contain_the_number():
    with pytest.raises(ValidationError) as info:
        ApplicantIdentifier(kind=IdentifierKind.PERSONAL_ID, number="05219000045")
    assert "05219000045" not in str(info.value)


def test_canonical_applicant_repr_hides_personal_data():
    applicant = Applicant(
        name="Phạm Thị Lan", subject_type=SubjectType.CITIZEN, id_number="052190000456", phone="0987000111",
        identifiers=(ApplicantIdentifier(kind=IdentifierKind.PERSONAL_ID, number="052190000456"),),
    )  # fmt: skip
    shown = repr(applicant) + str(applicant)
    assert "052190000456" not in shown
    assert "Phạm Thị Lan" not in shown
    assert "0987000111" not in shown
