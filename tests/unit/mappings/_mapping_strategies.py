"""Hypothesis strategies for canonical dossiers and events (whole seconds, aware datetimes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import strategies as st

from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import (
    Address,
    Applicant,
    ApplicantIdentifier,
    Channel,
    DeliveryMethod,
    Document,
    Dossier,
    DossierEvent,
    DossierEventKind,
    DossierStatus,
    Fee,
    IdentifierKind,
    ProcessingStep,
    ResultDocument,
    SubjectType,
    SupplementRequest,
)

ZONES = st.sampled_from([UTC, VN_TZ, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9, minutes=30))])

# Whole seconds: the DVCQG and one-stop record formats carry no sub-second part.
moments = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31), timezones=ZONES).map(
    lambda d: d.replace(microsecond=0)
)
optional_moments = st.none() | moments
text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)
optional_text = st.none() | text
digits = st.text("0123456789", min_size=1, max_size=12)

agency_codes = st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?\Z")
dossier_days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def dossier_codes(draw: st.DrawFn) -> str:
    agency = draw(agency_codes)
    day = draw(dossier_days)
    return f"{agency}-{day:%y%m%d}-{draw(st.integers(0, 9999)):04d}"


procedure_codes = st.one_of(
    st.from_regex(r"\A[0-9]\.[0-9]{6}\Z"),
    st.from_regex(r"\A[0-9]\.[0-9]{6}\.[A-Z][0-9]{2}\Z"),
    st.builds(lambda base, agency: f"{base}.{agency}", st.from_regex(r"\A[0-9]\.[0-9]{6}\Z"), agency_codes),
)

identifiers = st.one_of(
    st.builds(
        ApplicantIdentifier,
        kind=st.just(IdentifierKind.PERSONAL_ID),
        # Province (or, born abroad, country 840) code, then sex/century digit, year and 6 digits.
        number=st.builds(
            lambda prefix, rest: prefix + rest,
            st.sampled_from(["001", "052", "079", "096", "840"]),
            st.text("0123456789", min_size=9, max_size=9),
        ),
    ),
    st.builds(
        ApplicantIdentifier,
        kind=st.just(IdentifierKind.OLD_ID_CARD),
        number=st.text("0123456789", min_size=9, max_size=9),
    ),
)

tax_codes = st.from_regex(r"\A[0-9]{10}(-?[0-9]{3})?\Z")

addresses = st.builds(
    Address, province_code=st.none() | digits, district_code=st.none() | digits,
    commune_code=st.none() | digits, detail=optional_text,
)  # fmt: skip

applicants = st.builds(
    Applicant,
    name=text,
    subject_type=st.sampled_from(SubjectType),
    subject_code=optional_text,
    id_number=optional_text,
    identifiers=st.lists(identifiers, max_size=2).map(tuple),
    phone=optional_text,
    email=optional_text,
    tax_code=st.none() | tax_codes,
    address=st.none() | addresses,
)

documents = st.builds(
    Document, file_name=text, file_id=optional_text, component_code=optional_text, url=optional_text,
    digitised=st.booleans(), reused=st.booleans(), from_national_store=st.booleans(),
)  # fmt: skip
fees = st.builds(
    Fee, name=text, amount_vnd=st.integers(0, 10**12), code=optional_text,
    collection_method=st.none() | st.integers(0, 99), fee_type=st.none() | st.integers(0, 99),
)  # fmt: skip
supplements = st.builds(
    SupplementRequest, id=text, content=text, requested_at=moments, requested_by=optional_text,
    fulfilled=st.booleans(), previous_due_at=optional_moments, new_due_at=optional_moments,
)  # fmt: skip
results = st.builds(
    ResultDocument, name=text, component_code=optional_text, document_id=optional_text, url=optional_text,
    result_code=optional_text,
)  # fmt: skip


def steps(max_handler_name: int = 50) -> st.SearchStrategy[ProcessingStep]:
    """Processing steps; DVCQG keeps 50 characters of a handler name, the one-stop system 255."""
    return st.builds(
        ProcessingStep,
        handler_name=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=max_handler_name),
        processed_at=moments, status=st.sampled_from(DossierStatus), title=optional_text,
        department=optional_text, content=optional_text, started_at=optional_moments, due_at=optional_moments,
    )  # fmt: skip


@st.composite
def dossiers(draw: st.DrawFn, *, min_steps: int = 0, max_handler_name: int = 50) -> Dossier:
    """Any valid canonical dossier."""
    return Dossier(
        code=draw(dossier_codes()),
        procedure_code=draw(procedure_codes),
        procedure_name=draw(text),
        field_code=draw(text),
        field_name=draw(text),
        channel=draw(st.sampled_from(Channel)),
        applicant=draw(applicants),
        status=draw(st.sampled_from(DossierStatus)),
        delivery=draw(st.sampled_from(DeliveryMethod)),
        handling_unit=draw(text),
        version=draw(st.integers(0, 2**53)),
        receipt_number=draw(optional_text),
        summary=draw(st.none() | st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=1000)),
        submitted_at=draw(optional_moments),
        received_at=draw(optional_moments),
        due_at=draw(optional_moments),
        finished_at=draw(optional_moments),
        returned_at=draw(optional_moments),
        refused_at=draw(optional_moments),
        submission_place=draw(optional_text),
        has_digitised_components=draw(st.booleans()),
        vneid_verified=draw(st.booleans()),
        paid_online=draw(st.booleans()),
        connected_databases=tuple(draw(st.lists(text, max_size=2))),
        documents=tuple(draw(st.lists(documents, max_size=2))),
        fees=tuple(draw(st.lists(fees, max_size=2))),
        supplements=tuple(draw(st.lists(supplements, max_size=2))),
        results=tuple(draw(st.lists(results, max_size=2))),
        steps=tuple(draw(st.lists(steps(max_handler_name), min_size=min_steps, max_size=3))),
    )


@st.composite
def dossier_events(draw: st.DrawFn) -> DossierEvent:
    """Any valid canonical event; `step_added` events carry at least one step."""
    kind = draw(st.sampled_from(DossierEventKind))
    occurred_at = draw(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 12, 31), timezones=ZONES))
    return DossierEvent(
        event_id=draw(st.from_regex(r"\A[0-9A-Za-z_:.-]{1,40}\Z")),
        kind=kind,
        occurred_at=occurred_at,
        source=draw(st.sampled_from(["onestop", "motcua-h52"])),
        dossier=draw(dossiers(min_steps=1 if kind is DossierEventKind.STEP_ADDED else 0, max_handler_name=255)),
    )
