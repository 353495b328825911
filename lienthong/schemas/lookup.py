"""Canonical models of registry look-ups: the request with its purpose, the answer, the registers' records.

Record models keep the registers' own (Vietnamese) field names: they are what a desk receives and what
the per-procedure field lists name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REQUEST_EVENT_TYPE = "vn.gov.lienthong.lookup.requested.v1"
"""CloudEvents type of a record on `lookup.requests`."""
RESULT_EVENT_TYPE = "vn.gov.lienthong.lookup.answered.v1"
"""CloudEvents type of a record on `lookup.results`."""


class Register(StrEnum):
    """The national databases lienthong looks up."""

    POPULATION = "population"
    """CSDL quốc gia về dân cư (through the integration platform)."""
    BUSINESS = "business"
    """CSDL đăng ký doanh nghiệp (`chiTietDoanhNghiep?msdn=`)."""
    CIVIL_STATUS = "civil-status"
    """CSDL hộ tịch điện tử (SOAP, our vendored WSDL)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class LookupPurpose(_Model):
    """Why a look-up is made (Decree 13/2023: every look-up of personal data states its purpose)."""

    procedure_code: str = Field(min_length=1, max_length=64)
    """`MaTTHC` of the procedure being handled, e.g. `1.001193` or a province instance."""
    dossier_code: str = Field(min_length=1, max_length=64)
    """`MaHoSo` of the dossier being handled."""
    officer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    """`MaCanBo`: the officer at the desk."""
    legal_basis: str = Field(min_length=5, max_length=300)
    """The legal text that allows the look-up, e.g. "Nghị định 63/2024/NĐ-CP, Điều 5"."""


class PopulationQuery(_Model):
    """Who to look up in the population database."""

    SoDinhDanh: str = Field(pattern=r"^[0-9]{12}$", repr=False)
    """12-digit personal ID."""
    HoVaTen: str = Field(min_length=1, max_length=100, repr=False)
    """Full name as declared."""
    Nam: int | None = Field(None, ge=1900, le=2100)
    """Year of birth, when known."""


class BusinessQuery(_Model):
    """Which enterprise to look up."""

    msdn: str = Field(pattern=r"^[0-9]{10}(-?[0-9]{3})?$|^[0-9]{12}$")
    """Enterprise code (= tax code, 10 or 13 digits; 12 digits for households)."""


class CivilStatusQuery(_Model):
    """Whose civil-status records to look up."""

    SoDinhDanh: str = Field(pattern=r"^[0-9]{12}$", repr=False)
    """12-digit personal ID of the person concerned."""
    LoaiSuKien: str | None = Field(None, max_length=32)
    """Only events of this kind (`KhaiSinh`, `KetHon`, `KhaiTu`...), all when empty."""


class LookupRequest(_Model):
    """A look-up as the desk (REST) or a producer (`lookup.requests`) sends it."""

    request_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    """The caller's id of this request (`MaYeuCau`); results are keyed by it."""
    database: Register
    """Which database."""
    purpose: LookupPurpose | None = None
    """Why: required; a look-up without it is refused (kept optional here so the refusal is ours)."""
    query: dict[str, Any]
    """The register's query (`PopulationQuery`, `BusinessQuery` or `CivilStatusQuery` fields)."""


class LookupStatus(StrEnum):
    """Outcome of a look-up."""

    ANSWERED = "answered"
    NOT_FOUND = "not_found"
    REFUSED = "refused"
    FAILED = "failed"


class LookupResult(_Model):
    """The answer (REST reply body, `lookup.results` payload)."""

    request_id: str
    """The request's id."""
    database: Register
    """Which database."""
    status: LookupStatus
    """answered, not_found, refused (no purpose, not allowed, rate limit, bad query), failed (peer)."""
    reason: str = ""
    """Why refused or failed (rules and fields named, never values)."""
    fields: tuple[str, ...] = ()
    """Names of the fields returned (the procedure's list, as far as the register had them)."""
    records: tuple[dict[str, Any], ...] = Field((), repr=False)
    """The records, restricted to `fields`."""


class Place(_Model):
    """An address in the population database."""

    MaTinhThanh: str | None = None
    MaQuanHuyen: str | None = None
    MaPhuongXa: str | None = None
    ChiTiet: str | None = Field(None, repr=False)


class PersonName(_Model):
    """`HoVaTen{Ho, ChuDem, Ten}`."""

    Ho: str | None = None
    ChuDem: str | None = None
    Ten: str | None = None


class BirthDate(_Model):
    """`NgayThangNamSinh{Nam, NgayThangNam}`."""

    Nam: str | None = None
    NgayThangNam: str | None = None


class Relative(_Model):
    """`Cha`/`Me`/`VoChong{HoVaTen, SoDinhDanh}`."""

    HoVaTen: str | None = Field(None, repr=False)
    SoDinhDanh: str | None = Field(None, repr=False)


class Citizen(_Model):
    """A `CongDan` record of the population database (REFERENCE 2E)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    SoDinhDanh: str | None = Field(None, repr=False)
    SoCMND: str | None = Field(None, repr=False)
    HoVaTen: PersonName | None = Field(None, repr=False)
    GioiTinh: str | None = None
    NgayThangNamSinh: BirthDate | None = Field(None, repr=False)
    ThuongTru: Place | None = Field(None, repr=False)
    QueQuan: Place | None = Field(None, repr=False)
    NoiOHienTai: Place | None = Field(None, repr=False)
    Cha: Relative | None = Field(None, repr=False)
    Me: Relative | None = Field(None, repr=False)
    VoChong: Relative | None = Field(None, repr=False)


class Enterprise(_Model):
    """The business registry's `chiTietDoanhNghiep` answer (the fields lienthong reads)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    msdn: str
    tenDoanhNghiep: str | None = None  # noqa: N815 - the registry's field name
    tenTiengAnh: str | None = None  # noqa: N815 - the registry's field name
    tinhTrang: str | None = None  # noqa: N815 - the registry's field name
    loaiHinh: str | None = None  # noqa: N815 - the registry's field name
    ngayThanhLap: str | None = None  # noqa: N815 - the registry's field name
    diaChiTruSo: str | None = None  # noqa: N815 - the registry's field name
    nguoiDaiDien: str | None = Field(None, repr=False)  # noqa: N815 - the registry's field name
    vonDieuLe: int | None = None  # noqa: N815 - the registry's field name
    nganhNgheChinh: str | None = None  # noqa: N815 - the registry's field name


class CivilStatusEvent(_Model):
    """A `SuKien` record of the civil-status database (our WSDL)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    LoaiSuKien: str
    SoDangKy: str
    NgayDangKy: str
    NoiDangKy: str
    HoVaTen: str = Field(repr=False)
    NgaySinh: str | None = Field(None, repr=False)
    GioiTinh: str | None = None
    HoTenCha: str | None = Field(None, repr=False)
    HoTenMe: str | None = Field(None, repr=False)


__all__ = [
    "REQUEST_EVENT_TYPE",
    "RESULT_EVENT_TYPE",
    "BirthDate",
    "BusinessQuery",
    "Citizen",
    "CivilStatusEvent",
    "CivilStatusQuery",
    "Enterprise",
    "LookupPurpose",
    "LookupRequest",
    "LookupResult",
    "LookupStatus",
    "PersonName",
    "Place",
    "PopulationQuery",
    "Register",
    "Relative",
]
