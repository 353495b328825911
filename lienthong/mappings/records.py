"""The Vietnamese dossier record shared by DVCQG and the one-stop system, as pydantic models.

`DossierWire` is one `DongBoHoSoMC` item with exactly the reference's field names (REFERENCE 2A), in
the reference's order; `StepWire` is one `CapNhatTienDoHoSoMC` step. `OnestopDossierWire` is the
one-stop system's record: the same fields plus `TienTrinhXuLy` (steps), `MaSoThue` and
`DiaChiChuHoSo`. Attribute names are English and equal to the canonical models' where the meaning is
the same, so nested items convert field for field. Unknown wire fields are ignored (tolerant reader);
known ones are checked (`lienthong.mappings.wire` conventions).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from lienthong.mappings.errors import InvalidIdentifier, MappingError
from lienthong.mappings.identifiers import mask_identifier, validate_dossier_code, validate_procedure_code
from lienthong.mappings.wire import (
    WireAmount,
    WireCode,
    WireFlag,
    WireOptionalCode,
    WireOptionalText,
    WireOptionalTime,
    WireText,
    WireTime,
)
from lienthong.schemas.dossier import (
    Address,
    Applicant,
    ApplicantIdentifier,
    Channel,
    Document,
    Dossier,
    Fee,
    ProcessingStep,
    ResultDocument,
    SupplementRequest,
)

SUMMARY_MAX = 1000
"""The reference's limit on `TrichYeuHoSo`."""
SUMMARY_CUT = 995
"""A longer summary is cut to this many characters + "..." (as a public one-stop system does)."""


def _empty_is_absent(value: object) -> object:
    return None if value == "" else value


# Read at any length (real systems send longer summaries); `dossier_to_wire` cuts for DVCQG.
WireOptionalSummary = Annotated[str | None, BeforeValidator(_empty_is_absent)]


def cut_summary(summary: str | None) -> str | None:
    """`TrichYeuHoSo` for DVCQG: unchanged up to 1000 characters, else the first 995 + "..."."""
    if summary is None or len(summary) <= SUMMARY_MAX:
        return summary
    return unicodedata.normalize("NFC", summary)[:SUMMARY_CUT] + "..."


def _flag_code(value: object) -> object:
    # Value sets of real payloads: DuocThanhToanTrucTuyen 0/1/3, DuocTaiSuDung 0/1/2; booleans and
    # "true"/"false" are read as 1/0.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return int(value.strip().lower() == "true")
    return value


WireFlagCode = Annotated[WireCode, Field(ge=0, le=99), BeforeValidator(_flag_code)]
"""A flag-like code whose real value set is wider than 0/1 (e.g. 0/1/3): `"3"` <-> 3."""

HANDLER_NAME_MAX = 50
"""DVCQG's limit on `NguoiXuLy`; longer names are cut."""

CHANNEL_CODES: dict[Channel, int] = {Channel.COUNTER: 1, Channel.ONLINE: 2, Channel.POST: 3}
"""`KenhThucHien` codes: 1 at the counter (trực tiếp), 2 online (trực tuyến), 3 by post."""
_CHANNELS_BY_CODE = {code: channel for channel, code in CHANNEL_CODES.items()}


def _dossier_code(value: str) -> str:
    validate_dossier_code(value)
    return value


def _procedure_code(value: str) -> str:
    validate_procedure_code(value)
    return value


def _optional_dossier_code(value: str | None) -> str | None:
    return None if value is None else _dossier_code(value)


class WireModel(BaseModel):
    """Base of the wire models: English attributes, Vietnamese aliases, unknown fields ignored."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )


class IdentifierWire(WireModel):
    """`DinhDanhCHS` item."""

    kind: Annotated[WireCode, Field(ge=1, le=2)] = Field(alias="LoaiDinhDanh")
    """1 = 12-digit personal ID, 2 = old 9-digit ID card."""
    number: WireText = Field(alias="SoDinhDanh")
    """12 digits (kind 1) or 9 digits (kind 2)."""

    @model_validator(mode="after")
    def _number_fits_kind(self) -> IdentifierWire:
        length = 12 if self.kind == 1 else 9
        if not (len(self.number) == length and self.number.isascii() and self.number.isdigit()):
            raise InvalidIdentifier(
                f"SoDinhDanh {mask_identifier(self.number)} must be {length} digits when LoaiDinhDanh = {self.kind}"
            )
        return self


class DatabaseWire(WireModel):
    """`DSKetNoiCSDL` item."""

    code: WireText = Field(alias="MaCSDL")
    """Code of a national database consulted."""


class DocumentWire(WireModel):
    """`TaiLieuNop` item."""

    file_id: WireOptionalText = Field(None, alias="TepDinhKemId")
    """File id in the one-stop store."""
    file_name: WireText = Field(alias="TenTepDinhKem")
    """File name."""
    component_code: WireOptionalText = Field(None, alias="MaThanhPhanHoSo")
    """Dossier component code."""
    url: WireOptionalText = Field(None, alias="DuongDanTaiTepTin")
    """Download link."""
    digitised: WireFlag = Field(False, alias="DuocSoHoa")
    """Digitised at intake."""
    reused: WireFlagCode = Field(0, alias="DuocTaiSuDung")
    """Reuses digitised data: 0 no, 1 yes; real systems also send 2 (kept as sent)."""
    from_national_store: WireFlag = Field(False, alias="DuocLayTuKhoDMQG")
    """Taken from the national digitised-results store."""


class FeeWire(WireModel):
    """`DanhSachLePhi` item."""

    name: WireText = Field(alias="TenPhiLePhi")
    """Fee name."""
    code: WireOptionalText = Field(None, alias="MaPhiLePhi")
    """Fee code."""
    collection_method: WireOptionalCode = Field(None, alias="HinhThucThu")
    """Collection method code, passed through."""
    amount_vnd: WireAmount = Field(alias="Gia")
    """Amount in whole dong."""
    fee_type: WireOptionalCode = Field(None, alias="LoaiPhiLePhi")
    """Fee type code, passed through."""


class SupplementWire(WireModel):
    """`DanhSachHoSoBoSung` item."""

    id: WireText = Field(alias="HoSoBoSungId")
    """Request id."""
    requested_by: WireOptionalText = Field(None, alias="NguoiYeuCauBoSung")
    """Official who asked."""
    content: WireText = Field(alias="NoiDungBoSung")
    """What must be supplied."""
    requested_at: WireTime = Field(alias="NgayBoSung")
    """When it was asked."""
    fulfilled: WireFlag = Field(False, alias="TrangThaiBoSung")
    """"1" once supplied."""
    previous_due_at: WireOptionalTime = Field(None, alias="NgayHenTraTruoc")
    """Due date before the change."""
    new_due_at: WireOptionalTime = Field(None, alias="NgayHenTraMoi")
    """Due date after the change."""
    apology: WireFlag = Field(False, alias="LaPhieuXinLoi")
    """One-stop record only: "1" when the item is a late dossier's apology letter (phiếu xin lỗi và hẹn lại
    ngày trả kết quả). DVCQG's item does not carry it (`DVCQG_EXCLUDE`): there the apology is the
    supplement record with `NgayHenTraTruoc`/`NgayHenTraMoi`."""


class ResultWire(WireModel):
    """`DanhSachGiayToKetQua` item."""

    name: WireText = Field(alias="TenGiayTo")
    """Result paper name."""
    component_code: WireOptionalText = Field(None, alias="MaThanhPhanHoSo")
    """Dossier component code."""
    document_id: WireOptionalText = Field(None, alias="GiayToId")
    """Paper id."""
    url: WireOptionalText = Field(None, alias="DuongDanTepTinKetQua")
    """Download link of the result file."""
    result_code: WireOptionalText = Field(None, alias="MaGiayToKetQua")
    """Result type code."""


class StepWire(WireModel):
    """`CapNhatTienDoHoSoMC` item (also a `TienTrinhXuLy` item of the one-stop record)."""

    dossier_code: Annotated[WireOptionalText, AfterValidator(_optional_dossier_code)] = Field(None, alias="MaHoSo")
    """Dossier code; optional inside a one-stop record, where it must then equal the dossier's."""
    handler_name: WireText = Field(alias="NguoiXuLy")
    """Official who handled the step (DVCQG: at most 50 characters)."""
    title: WireOptionalText = Field(None, alias="ChucDanh")
    """Job title."""
    processed_at: WireTime = Field(alias="ThoiDiemXuLy")
    """When the step was done."""
    department: WireOptionalText = Field(None, alias="PhongBanXuLy")
    """Department."""
    content: WireOptionalText = Field(None, alias="NoiDungXuLy")
    """What was done."""
    status: Annotated[WireCode, Field(ge=1, le=10)] = Field(alias="TrangThai")
    """Dossier status after the step, 1..10."""
    started_at: WireOptionalTime = Field(None, alias="NgayBatDau")
    """Start of the step."""
    due_at: WireOptionalTime = Field(None, alias="NgayKetThucTheoQuyDinh")
    """Due by regulation."""


class DossierWire(WireModel):
    """One `DongBoHoSoMC` item."""

    code: Annotated[str, AfterValidator(_dossier_code)] = Field(alias="MaHoSo")
    """Dossier code `<agency>-<YYMMDD>-<NNNN>`."""
    procedure_code: Annotated[str, AfterValidator(_procedure_code)] = Field(alias="MaTTHC")
    """Procedure code."""
    procedure_name: WireText = Field(alias="TenTTHC")
    """Procedure name."""
    field_code: WireText = Field(alias="MaLinhVuc")
    """Field code."""
    field_name: WireText = Field(alias="TenLinhVuc")
    """Field name."""
    channel: Annotated[WireCode, Field(ge=1, le=3)] = Field(alias="KenhThucHien")
    """1 counter, 2 online, 3 post."""
    receipt_number: WireOptionalText = Field(None, alias="SoBienNhan")
    """Receipt number."""
    applicant_name: WireText = Field(alias="ChuHoSo")
    """Applicant's name."""
    subject_type: Annotated[WireCode, Field(ge=1, le=4)] = Field(alias="LoaiDoiTuong")
    """1 citizen, 2 enterprise, 3 state agency, 4 other organisation."""
    subject_code: WireOptionalText = Field(None, alias="MaDoiTuong")
    """Applicant's code on the portal."""
    phone: WireOptionalText = Field(None, alias="SoDienThoai")
    """Phone."""
    email: WireOptionalText = Field(None, alias="Email")
    """E-mail."""
    id_number: WireOptionalText = Field(None, alias="SoGiayToChuHoSo")
    """Number of the applicant's identity or registration paper."""
    identifiers: list[IdentifierWire] = Field(default_factory=list, alias="DinhDanhCHS")
    """Applicant's identity numbers."""
    summary: WireOptionalSummary = Field(None, alias="TrichYeuHoSo")
    """Summary, at most 1000 characters."""
    submitted_at: WireOptionalTime = Field(None, alias="NgayNopHoSo")
    """Submitted."""
    received_at: WireOptionalTime = Field(None, alias="NgayTiepNhan")
    """Accepted."""
    due_at: WireOptionalTime = Field(None, alias="NgayHenTra")
    """Result due."""
    status: Annotated[WireCode, Field(ge=1, le=10)] = Field(alias="TrangThaiHoSo")
    """Status 1..10."""
    finished_at: WireOptionalTime = Field(None, alias="NgayKetThucXuLy")
    """Processing finished."""
    returned_at: WireOptionalTime = Field(None, alias="NgayTra")
    """Result handed over."""
    refused_at: WireOptionalTime = Field(None, alias="NgayTuChoi")
    """Refused at intake."""
    delivery: Annotated[WireCode, Field(ge=0, le=1)] = Field(alias="HinhThuc")
    """0 result collected in person, 1 by post."""
    handling_unit: WireText = Field(alias="DonViXuLy")
    """Unit processing the dossier."""
    submission_place: WireOptionalText = Field(None, alias="NoiNopHoSo")
    """Submission place code, passed through."""
    has_digitised_components: WireFlag = Field(False, alias="HoSoCoThanhPhanSoHoa")
    """Some component was digitised."""
    vneid_verified: WireFlag = Field(False, alias="TaiKhoanDuocXacThucVoiVNeID")
    """Account verified with VNeID."""
    paid_online: WireFlagCode = Field(0, alias="DuocThanhToanTrucTuyen")
    """Paid online: 0 no, 1 yes; real systems also send 3 (kept as sent)."""
    connected_databases: list[DatabaseWire] = Field(default_factory=list, alias="DSKetNoiCSDL")
    """National databases consulted."""
    documents: list[DocumentWire] = Field(default_factory=list, alias="TaiLieuNop")
    """Submitted files."""
    fees: list[FeeWire] = Field(default_factory=list, alias="DanhSachLePhi")
    """Fees and charges."""
    supplements: list[SupplementWire] = Field(default_factory=list, alias="DanhSachHoSoBoSung")
    """Supplement requests and due-date changes."""
    results: list[ResultWire] = Field(default_factory=list, alias="DanhSachGiayToKetQua")
    """Result papers."""


class AddressWire(WireModel):
    """An address by unit codes, as in DVCQG's `DiaChiDoanhNghiep`."""

    province_code: WireOptionalText = Field(None, alias="MaTinh")
    """Province code."""
    district_code: WireOptionalText = Field(None, alias="MaHuyen")
    """District code (before 1 July 2025 only)."""
    commune_code: WireOptionalText = Field(None, alias="MaXa")
    """Commune/ward code."""
    detail: WireOptionalText = Field(None, alias="DiaChiChiTiet")
    """Street address below the commune."""


class OnestopDossierWire(DossierWire):
    """The one-stop system's dossier record: `DongBoHoSoMC` fields plus steps, tax code and address."""

    steps: list[StepWire] = Field(default_factory=list, alias="TienTrinhXuLy")
    """Processing steps, oldest first (`CapNhatTienDoHoSoMC` items; `MaHoSo` may be omitted)."""
    tax_code: WireOptionalText = Field(None, alias="MaSoThue")
    """Applicant's tax code (enterprises)."""
    address: AddressWire | None = Field(None, alias="DiaChiChuHoSo")
    """Applicant's address."""

    @model_validator(mode="after")
    def _steps_belong_to_dossier(self) -> OnestopDossierWire:
        for index, step in enumerate(self.steps):
            if step.dossier_code is not None and step.dossier_code != self.code:
                raise MappingError(f"TienTrinhXuLy[{index}].MaHoSo differs from the dossier's MaHoSo")
        return self


def describe(exc: ValidationError) -> str:
    """A one-line summary `loc: message; ...` of a validation error, without input values."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in error["loc"]) or "<root>"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)


def step_to_wire(code: str, step: ProcessingStep) -> StepWire:
    """A canonical step as a `CapNhatTienDoHoSoMC` item of dossier `code`; the handler name is cut to 50."""
    name = step.handler_name
    if len(name) > HANDLER_NAME_MAX:
        # Compose first so a cut never separates a Vietnamese letter from its tone mark.
        name = unicodedata.normalize("NFC", name)[:HANDLER_NAME_MAX]
    values = dict(step) | {"dossier_code": code, "handler_name": name}
    return StepWire.model_validate(values)


def wire_to_step(step: StepWire) -> ProcessingStep:
    """A `CapNhatTienDoHoSoMC` item as a canonical step."""
    values = dict(step)
    del values["dossier_code"]
    return ProcessingStep.model_validate(values)


DVCQG_EXCLUDE: dict[str, Any] = {"supplements": {"__all__": {"apology"}}}
"""Fields of `DossierWire` that are the one-stop system's only, left out of DVCQG's `DongBoHoSoMC` item."""


def dossier_to_wire(d: Dossier) -> DossierWire:
    """The `DongBoHoSoMC` item of a canonical dossier (`TrichYeuHoSo` cut to DVCQG's 1000 characters)."""
    return DossierWire.model_validate(_wire_values(d) | {"summary": cut_summary(d.summary)})


def dossier_to_onestop_wire(d: Dossier) -> OnestopDossierWire:
    """The one-stop record of a canonical dossier (steps, tax code and address included)."""
    address = d.applicant.address
    values = _wire_values(d) | {
        # Full handler names: the 50-character cut is DVCQG's rule, not the one-stop system's.
        "steps": [dict(step) | {"dossier_code": d.code} for step in d.steps],
        "tax_code": d.applicant.tax_code,
        "address": None if address is None else dict(address),
    }
    return OnestopDossierWire.model_validate(values)


def _wire_values(d: Dossier) -> dict[str, object]:
    values = dict(d)
    for name in ("applicant", "version", "steps", "online_payment_code"):
        del values[name]
    applicant = d.applicant
    values |= {
        "channel": CHANNEL_CODES[d.channel],
        "applicant_name": applicant.name,
        "subject_type": applicant.subject_type,
        "subject_code": applicant.subject_code,
        "phone": applicant.phone,
        "email": applicant.email,
        "id_number": applicant.id_number,
        "identifiers": [dict(i) for i in applicant.identifiers],
        "connected_databases": [{"code": code} for code in d.connected_databases],
        "paid_online": _code_of(d.paid_online, d.online_payment_code),
        "documents": [_document_values(x) for x in d.documents],
        "fees": [dict(x) for x in d.fees],
        "supplements": [dict(x) for x in d.supplements],
        "results": [dict(x) for x in d.results],
    }
    return values


def _code_of(flag: bool, code: int | None) -> int:
    return code if code is not None else int(flag)


def _document_values(doc: Document) -> dict[str, object]:
    values = dict(doc)
    values["reused"] = _code_of(doc.reused, values.pop("reuse_code"))
    return values


def _canonical_document(w: DocumentWire) -> Document:
    values = dict(w)
    code = values["reused"]
    values |= {"reused": code == 1, "reuse_code": None if code in (0, 1) else code}
    return Document.model_validate(values)


def wire_to_dossier(
    w: DossierWire,
    *,
    version: int,
    steps: Sequence[StepWire] = (),
    tax_code: str | None = None,
    address: AddressWire | None = None,
) -> Dossier:
    """The canonical dossier of a wire record. Raises `MappingError` when a canonical rule fails."""
    try:
        return _canonical(w, version, steps, tax_code, address)
    except ValidationError as exc:
        raise MappingError(f"dossier {w.code}: {describe(exc)}") from exc


def _canonical(
    w: DossierWire,
    version: int,
    steps: Sequence[StepWire],
    tax_code: str | None,
    address: AddressWire | None,
) -> Dossier:
    values = dict(w)
    applicant = {
        "name": values.pop("applicant_name"),
        "subject_type": values.pop("subject_type"),
        "subject_code": values.pop("subject_code"),
        "phone": values.pop("phone"),
        "email": values.pop("email"),
        "id_number": values.pop("id_number"),
        "identifiers": [ApplicantIdentifier.model_validate(dict(i)) for i in w.identifiers],
        "tax_code": tax_code,
        "address": None if address is None else Address.model_validate(dict(address)),
    }
    for name in ("identifiers", "steps", "tax_code", "address"):
        values.pop(name, None)
    values |= {
        "channel": _CHANNELS_BY_CODE[w.channel],
        "applicant": Applicant.model_validate(applicant),
        "version": version,
        "connected_databases": tuple(db.code for db in w.connected_databases),
        "paid_online": w.paid_online == 1,
        "online_payment_code": None if w.paid_online in (0, 1) else w.paid_online,
        "documents": [_canonical_document(x) for x in w.documents],
        "fees": [Fee.model_validate(dict(x)) for x in w.fees],
        "supplements": [SupplementRequest.model_validate(dict(x)) for x in w.supplements],
        "results": [ResultDocument.model_validate(dict(x)) for x in w.results],
        "steps": [wire_to_step(s) for s in steps],
    }
    return Dossier.model_validate(values)
