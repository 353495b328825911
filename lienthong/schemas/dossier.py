"""The canonical dossier: what the bus carries on `dossier.events` and `dossier.inbound`.

English names inside; the Vietnamese wire names live only in `lienthong.mappings`. Models are frozen
(lists are tuples), refuse unknown fields, and never echo input values in validation errors because
they carry personal data. Every datetime is timezone-aware; the wire formats keep whole seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from lienthong.schemas.validators import (
    InvalidIdentifier,
    mask_identifier,
    validate_dossier_code,
    validate_personal_id,
    validate_procedure_code,
    validate_tax_code,
)


class ClockEffect(StrEnum):
    """What a status does to the dossier's processing clock (REFERENCE section 3)."""

    NOT_STARTED = "not_started"
    """Submitted online, not accepted yet: no clock."""
    STARTS = "starts"
    """Accepted: the clock starts."""
    RUNS = "runs"
    """Being processed: the clock runs."""
    PAUSED = "paused"
    """Waiting for the applicant (supplement, payment): the due date moves back by the pause."""
    STOPS = "stops"
    """Processing ended (withdrawn, stopped, finished): the clock stops."""
    NONE = "none"
    """No clock applies (refused at intake, result already returned)."""


class DossierStatus(IntEnum):
    """`TrangThaiHoSo` (and a step's `TrangThai`): the dossier's state, codes 1..10."""

    SUBMITTED = 1
    """Mới đăng ký: submitted online, not yet accepted."""
    ACCEPTED = 2
    """Được tiếp nhận: accepted at the one-stop desk."""
    REFUSED = 3
    """Không được tiếp nhận: refused at intake."""
    PROCESSING = 4
    """Đang xử lý: being processed."""
    SUPPLEMENT_REQUESTED = 5
    """Yêu cầu bổ sung giấy tờ: the applicant must supply more documents."""
    PAYMENT_REQUESTED = 6
    """Yêu cầu thực hiện nghĩa vụ tài chính: the applicant must pay (e.g. land fees)."""
    WITHDRAWN = 7
    """Công dân yêu cầu rút hồ sơ: withdrawn by the applicant."""
    STOPPED = 8
    """Dừng xử lý: processing stopped by the agency."""
    FINISHED = 9
    """Đã xử lý xong: processing finished, the result is ready."""
    RETURNED = 10
    """Đã trả kết quả: the result was handed to the applicant."""

    @property
    def clock_effect(self) -> ClockEffect:
        """The status's effect on the processing clock."""
        return CLOCK_EFFECTS[self]

    @property
    def is_terminal(self) -> bool:
        """True when no other status may follow."""
        return not ALLOWED_TRANSITIONS[self]


CLOCK_EFFECTS: Mapping[DossierStatus, ClockEffect] = {
    DossierStatus.SUBMITTED: ClockEffect.NOT_STARTED,
    DossierStatus.ACCEPTED: ClockEffect.STARTS,
    DossierStatus.REFUSED: ClockEffect.NONE,
    DossierStatus.PROCESSING: ClockEffect.RUNS,
    DossierStatus.SUPPLEMENT_REQUESTED: ClockEffect.PAUSED,
    DossierStatus.PAYMENT_REQUESTED: ClockEffect.PAUSED,
    DossierStatus.WITHDRAWN: ClockEffect.STOPS,
    DossierStatus.STOPPED: ClockEffect.STOPS,
    DossierStatus.FINISHED: ClockEffect.STOPS,
    DossierStatus.RETURNED: ClockEffect.NONE,
}
"""Status -> clock effect, per REFERENCE section 3."""

_S = DossierStatus
ALLOWED_TRANSITIONS: Mapping[DossierStatus, frozenset[DossierStatus]] = {
    # Guidance to complete an online submission happens before acceptance and keeps status 1.
    _S.SUBMITTED: frozenset({_S.ACCEPTED, _S.REFUSED, _S.WITHDRAWN}),
    # Some procedures are settled on the spot: accepted -> finished directly.
    _S.ACCEPTED: frozenset({_S.PROCESSING, _S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED,
                            _S.WITHDRAWN, _S.STOPPED, _S.FINISHED}),
    _S.PROCESSING: frozenset({_S.SUPPLEMENT_REQUESTED, _S.PAYMENT_REQUESTED,
                              _S.WITHDRAWN, _S.STOPPED, _S.FINISHED}),
    # Supplied documents resume processing; only a resumed dossier can finish.
    _S.SUPPLEMENT_REQUESTED: frozenset({_S.PROCESSING, _S.WITHDRAWN, _S.STOPPED}),
    # Payment is often the last step (e.g. land-use fees), so a paid dossier may finish directly.
    _S.PAYMENT_REQUESTED: frozenset({_S.PROCESSING, _S.WITHDRAWN, _S.STOPPED, _S.FINISHED}),
    _S.FINISHED: frozenset({_S.RETURNED}),
    _S.REFUSED: frozenset(),
    _S.WITHDRAWN: frozenset(),
    _S.STOPPED: frozenset(),
    _S.RETURNED: frozenset(),
}  # fmt: skip
"""Status -> statuses that may follow it. Terminal statuses (3, 7, 8, 10) map to an empty set."""


def can_transition(old: int, new: int) -> bool:
    """True when a dossier in status `old` may move to `new`. The same status again is allowed
    (an idempotent update of other fields). Raises `ValueError` for a code outside 1..10."""
    before, after = DossierStatus(old), DossierStatus(new)
    return before == after or after in ALLOWED_TRANSITIONS[before]


class SubjectType(IntEnum):
    """`LoaiDoiTuong`: who the applicant is."""

    CITIZEN = 1
    ENTERPRISE = 2
    STATE_AGENCY = 3
    OTHER_ORGANISATION = 4


class IdentifierKind(IntEnum):
    """`LoaiDinhDanh`: the kind of an applicant's identity number."""

    PERSONAL_ID = 1
    """12-digit personal ID (căn cước)."""
    OLD_ID_CARD = 2
    """Old 9-digit identity card (CMND)."""


class Channel(StrEnum):
    """`KenhThucHien`: how the dossier was submitted (wire codes 1, 2, 3)."""

    COUNTER = "counter"
    """At a one-stop desk (trực tiếp), wire code 1."""
    ONLINE = "online"
    """Online (trực tuyến), wire code 2."""
    POST = "post"
    """Through the public postal service (bưu chính công ích), wire code 3."""


class DeliveryMethod(IntEnum):
    """`HinhThuc`: how the applicant receives the result."""

    IN_PERSON = 0
    POST = 1


class DossierEventKind(StrEnum):
    """What happened to the dossier; the CloudEvents type is `vn.gov.lienthong.dossier.<kind>.v1`."""

    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    UPDATED = "updated"
    STEP_ADDED = "step_added"


class _Canonical(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True)


def _check_tax_code(value: str | None) -> str | None:
    return None if value is None else validate_tax_code(value)


def _check_dossier_code(value: str) -> str:
    validate_dossier_code(value)
    return value


def _check_procedure_code(value: str) -> str:
    validate_procedure_code(value)
    return value


def _empty_is_absent(value: Any) -> Any:
    return None if value == "" else value


Text = Annotated[str, Field(min_length=1, max_length=1000)]
# Optional text: an empty string means absent and becomes None (the wire formats cannot tell them apart).
OptText = Annotated[Annotated[str, Field(max_length=4000)] | None, BeforeValidator(_empty_is_absent)]
OptShortText = Annotated[Annotated[str, Field(max_length=255)] | None, BeforeValidator(_empty_is_absent)]
# Summaries longer than DVCQG's 1000 characters are accepted (real systems send them) and cut on the way
# to DVCQG only (`lienthong.mappings.records.cut_summary`); the bound here is a sanity cap.
OptSummary = Annotated[Annotated[str, Field(max_length=20000)] | None, BeforeValidator(_empty_is_absent)]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]
TaxCode = Annotated[str, AfterValidator(_check_tax_code)]
DossierCodeStr = Annotated[str, AfterValidator(_check_dossier_code)]
ProcedureCodeStr = Annotated[str, AfterValidator(_check_procedure_code)]


class Address(_Canonical):
    """A postal address by administrative unit codes (GSO codes, as strings)."""

    province_code: OptText = None
    """Province code, e.g. `52`; old or new generation depending on the date (see `admin_units`)."""
    district_code: OptText = None
    """District code; only for addresses from before 1 July 2025, when districts were abolished."""
    commune_code: OptText = None
    """Commune/ward code."""
    detail: OptShortText = None
    """House number, street, hamlet: the part below the commune."""


class ApplicantIdentifier(_Canonical):
    """One identity number of the applicant (`DinhDanhCHS` item)."""

    kind: IdentifierKind
    """1 = 12-digit personal ID, 2 = old 9-digit ID card."""
    number: str = Field(repr=False)
    """The digits: 12 for a personal ID, 9 for an old ID card."""

    @model_validator(mode="after")
    def _number_fits_kind(self) -> ApplicantIdentifier:
        length = 12 if self.kind is IdentifierKind.PERSONAL_ID else 9
        if not (len(self.number) == length and self.number.isascii() and self.number.isdigit()):
            raise InvalidIdentifier(
                f"identifier {mask_identifier(self.number)} of kind {int(self.kind)} must be {length} digits"
            )
        if self.kind is IdentifierKind.PERSONAL_ID:
            # The real rule (province or, born abroad, country code; sex/century digit), on live data.
            validate_personal_id(self.number)
        return self


class Applicant(_Canonical):
    """The dossier's owner (chủ hồ sơ)."""

    name: Text = Field(repr=False)
    """Full name of the person or organisation (personal data: hidden from repr)."""
    subject_type: SubjectType
    """1 citizen, 2 enterprise, 3 state agency, 4 other organisation."""
    subject_code: OptText = None
    """`MaDoiTuong`: the applicant's code on the portal (e.g. its account for online submissions)."""
    id_number: OptShortText = Field(None, repr=False)
    """`SoGiayToChuHoSo`: number of the identity or registration paper shown."""
    identifiers: tuple[ApplicantIdentifier, ...] = Field((), repr=False)
    """`DinhDanhCHS`: verified identity numbers."""
    phone: OptShortText = Field(None, repr=False)
    """Phone number as given; not reformatted."""
    email: OptShortText = Field(None, repr=False)
    """E-mail address as given; not verified."""
    tax_code: TaxCode | None = None
    """Enterprise tax code (10 or 13 digits, or `NNNNNNNNNN-NNN`); one-stop only, DVCQG does not carry it."""
    address: Address | None = Field(None, repr=False)
    """Applicant's address; one-stop only, DVCQG does not carry it."""


class Document(_Canonical):
    """A submitted file (`TaiLieuNop` item)."""

    file_name: Text
    """File name as shown to users."""
    file_id: OptText = None
    """Id of the file in the one-stop system's store."""
    component_code: OptText = None
    """Code of the dossier component (thành phần hồ sơ) this file satisfies."""
    url: OptText = None
    """Where the file can be downloaded."""
    digitised: bool = False
    """The file was digitised (scanned and signed) at intake."""
    reused: bool = False
    """The file reuses previously digitised data (`DuocTaiSuDung` 1)."""
    reuse_code: int | None = Field(None, ge=0, le=99)
    """`DuocTaiSuDung` as sent when it is neither 0 nor 1 (real systems send 2), kept so it goes back to
    DVCQG unchanged; None for 0/1 (then `reused` says which)."""
    from_national_store: bool = False
    """The file was taken from the national digitised-results store."""


class Fee(_Canonical):
    """A fee or charge of the dossier (`DanhSachLePhi` item)."""

    name: Text
    """Name of the fee or charge."""
    amount_vnd: int = Field(ge=0)
    """Amount in whole Vietnamese dong."""
    code: OptText = None
    """Code of the fee in the fee catalogue."""
    collection_method: int | None = None
    """`HinhThucThu` code as the one-stop system sends it (passed through)."""
    fee_type: int | None = None
    """`LoaiPhiLePhi` code as the one-stop system sends it (passed through)."""


class SupplementRequest(_Canonical):
    """A request for more documents, or a due-date change (`DanhSachHoSoBoSung` item)."""

    id: Text
    """Id of the request in the one-stop system."""
    content: LongText
    """What the applicant must supply."""
    requested_at: AwareDatetime
    """When the request was made."""
    requested_by: OptText = None
    """Name of the official who asked."""
    fulfilled: bool = False
    """The applicant has supplied what was asked."""
    previous_due_at: AwareDatetime | None = None
    """Due date before the change (`NgayHenTraTruoc`)."""
    new_due_at: AwareDatetime | None = None
    """Due date after the change (`NgayHenTraMoi`): the old one moved back by the paused working time, or
    the new date an apology letter promises."""
    apology: bool = False
    """This record is the apology letter of a late dossier (phiếu xin lỗi và hẹn lại ngày trả kết quả):
    the due date moved because the agency is late, not because the clock paused. KPIs keep judging the
    dossier against the due date before it (`NgayHenTraTruoc`)."""


class ResultDocument(_Canonical):
    """A result paper issued for the dossier (`DanhSachGiayToKetQua` item)."""

    name: Text
    """Name of the paper, e.g. a licence."""
    component_code: OptText = None
    """Dossier component code, when the result is also a reusable component."""
    document_id: OptText = None
    """Id of the paper in the one-stop system."""
    url: OptText = None
    """Where the result file can be downloaded."""
    result_code: OptText = None
    """Code of the result type in the national catalogue."""


class ProcessingStep(_Canonical):
    """One step of the dossier's processing (`CapNhatTienDoHoSoMC` item)."""

    handler_name: str = Field(min_length=1, max_length=255)
    """Official who handled the step; DVCQG keeps only the first 50 characters."""
    processed_at: AwareDatetime
    """When the step was done."""
    status: DossierStatus
    """Dossier status after the step."""
    title: OptText = None
    """The official's job title."""
    department: OptText = None
    """The official's department."""
    content: OptText = None
    """What was done."""
    started_at: AwareDatetime | None = None
    """When the step started."""
    due_at: AwareDatetime | None = None
    """When the step is due by regulation."""


class Dossier(_Canonical):
    """The full state of one dossier (hồ sơ), as the one-stop system holds it."""

    code: DossierCodeStr
    """`<agency code>-<YYMMDD>-<NNNN>`, e.g. `000.00.12.H52-250703-0042`; the bus key."""
    procedure_code: ProcedureCodeStr
    """Procedure code (mã TTHC): `1.001234`, `1.003560.000.00.00.H56` or `2.002621.H56`."""
    procedure_name: Text
    """Procedure name."""
    field_code: Text
    """Code of the field (lĩnh vực) of the procedure."""
    field_name: Text
    """Name of the field."""
    channel: Channel
    """How it was submitted: counter, online or post."""
    applicant: Applicant
    """The dossier's owner."""
    status: DossierStatus
    """Current status, 1..10."""
    delivery: DeliveryMethod
    """How the result is delivered: 0 in person, 1 by post."""
    handling_unit: Text
    """Name of the unit processing the dossier (`DonViXuLy`)."""
    version: int = Field(ge=0)
    """Version of this full state; the one-stop system increments it on every change, so an older
    update never overwrites a newer one."""
    receipt_number: OptText = None
    """Receipt number printed for the applicant (`SoBienNhan`)."""
    summary: OptSummary = None
    """Summary of the request (`TrichYeuHoSo`); DVCQG takes 1000 characters, so a longer one is cut to
    995 + "..." on the way there (with an audit warning), never refused."""
    submitted_at: AwareDatetime | None = None
    """When the applicant submitted it."""
    received_at: AwareDatetime | None = None
    """When it was accepted; None while status is 1 or 3."""
    due_at: AwareDatetime | None = None
    """When the result is due (`NgayHenTra`)."""
    finished_at: AwareDatetime | None = None
    """When processing finished (`NgayKetThucXuLy`); compared with `due_at` for on-time status."""
    returned_at: AwareDatetime | None = None
    """When the result was handed over (`NgayTra`)."""
    refused_at: AwareDatetime | None = None
    """When it was refused at intake (`NgayTuChoi`)."""
    submission_place: OptText = None
    """`NoiNopHoSo` code, passed through as sent."""
    has_digitised_components: bool = False
    """At least one component was digitised (`HoSoCoThanhPhanSoHoa`)."""
    vneid_verified: bool = False
    """The submitting account was verified with VNeID."""
    paid_online: bool = False
    """Fees were paid online (`DuocThanhToanTrucTuyen` 1)."""
    online_payment_code: int | None = Field(None, ge=0, le=99)
    """`DuocThanhToanTrucTuyen` as sent when it is neither 0 nor 1 (real systems send 3), kept so it goes
    back to DVCQG unchanged; None for 0/1 (then `paid_online` says which)."""
    connected_databases: tuple[str, ...] = ()
    """Codes of the national databases consulted (`DSKetNoiCSDL`)."""
    documents: tuple[Document, ...] = ()
    """Submitted files."""
    fees: tuple[Fee, ...] = ()
    """Fees and charges."""
    supplements: tuple[SupplementRequest, ...] = ()
    """Supplement requests and due-date changes."""
    results: tuple[ResultDocument, ...] = ()
    """Result papers."""
    steps: tuple[ProcessingStep, ...] = ()
    """Processing steps, oldest first."""


class DossierEvent(_Canonical):
    """Payload of `dossier.events`: something happened to a dossier; carries its full state."""

    event_id: str = Field(min_length=1, max_length=128)
    """Id given by the source system; stable across retries (the idempotency key)."""
    kind: DossierEventKind
    """What happened."""
    occurred_at: AwareDatetime
    """When it happened in the source system."""
    source: str = Field(min_length=1, max_length=64)
    """Name of the source system, e.g. `onestop`."""
    dossier: Dossier
    """The dossier's full state after the event, with its version."""
    notes: tuple[str, ...] = ()
    """Warnings of the mapping for the audit (e.g. a pre-merger code passed through unchanged); codes and
    rules only, never personal data."""

    @property
    def event_type(self) -> str:
        """The versioned CloudEvents type, e.g. `vn.gov.lienthong.dossier.status_changed.v1`."""
        return f"vn.gov.lienthong.dossier.{self.kind.value}.v1"


class NoticeKind(StrEnum):
    """What a DVCQG push carries."""

    LAND_TAX_NOTICE = "land_tax_notice"
    """Land tax notice (`NhanThongBaoThueDat`)."""
    LAND_TAX_RECEIPT = "land_tax_receipt"
    """Land tax payment voucher (`NhanChungTuThueDat`)."""
    PROMOTION_NOTICE = "promotion_notice"
    """Enterprise's notice of a sales promotion."""
    ONLINE_SUBMISSION = "online_submission"
    """A dossier submitted online on DVCQG."""


class NoticeAttachment(_Canonical):
    """A file attached to a notice, kept base64-encoded as received."""

    file_name: OptText = None
    """File name."""
    content_base64: str
    """File content, base64."""


class NoticeItem(_Canonical):
    """One item of a DVCQG push: the fields lienthong reads, plus the item exactly as received."""

    dossier_code: DossierCodeStr | None = None
    """`MaHoSo` as DVCQG sends it (validated like the webhook's)."""
    procedure_code: ProcedureCodeStr | None = None
    """`MaTTHC`."""
    document_number: OptText = None
    """`SoVanBan`: number of the notice or voucher."""
    submitted_at: AwareDatetime | None = None
    """`NgayNopHoSo`."""
    tax_code: TaxCode | None = None
    """`MaSoThue` of the enterprise."""
    enterprise_address: Address | None = None
    """`DiaChiDoanhNghiep`."""
    attachments: tuple[NoticeAttachment, ...] = ()
    """Attached files."""
    raw: dict[str, Any]
    """The item as received, for fields lienthong does not interpret; attachments are only in
    `attachments`, so their content is carried once."""


class InboundNotice(_Canonical):
    """Payload of `dossier.inbound`: one DVCQG push (`{service, isUpdating, data}`)."""

    service: Text
    """DVCQG service name, e.g. `NhanThongBaoThueDat`."""
    kind: NoticeKind
    """What the service carries."""
    is_updating: bool | None = None
    """`isUpdating`: True when the items replace earlier ones; None when not sent."""
    items: tuple[NoticeItem, ...]
    """The pushed items."""
    notes: tuple[str, ...] = ()
    """Warnings of the mapping for the audit (e.g. a pre-merger code passed through unchanged)."""
