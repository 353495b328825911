"""Canonical <-> the provincial one-stop system's JSON: dossier events in, notices out.

A dossier event (webhook body or Kafka record value) is an envelope with English keys around the
one-stop system's dossier record::

    {
      "event_id": "<id, stable across retries>",
      "event_type": "dossier.created | dossier.status_changed | dossier.updated | dossier.step_added",
      "occurred_at": "<ISO-8601 with a UTC offset>",
      "source": "<system name, default onestop>",
      "version": <monotonic version of the dossier's full state>,
      "dossier": {<DongBoHoSoMC fields>, "TienTrinhXuLy": [<CapNhatTienDoHoSoMC steps>],
                  "MaSoThue": "<tax code>", "DiaChiChuHoSo": {MaTinh, MaHuyen, MaXa, DiaChiChiTiet}}
    }

A dossier received on or after 1 July 2025 that still carries pre-merger codes has them mapped
(`lienthong.mappings.merger`); what could not be mapped is passed through and named in the canonical
event's `notes`.

The dossier record uses the DVCQG names and value conventions (strings, `yyyyMMddHHmmss` local
times) because one-stop systems already produce them for the national sync. The envelope is strict
(unknown keys refused); the record ignores unknown keys such as `GhiChu` or `ThongTinKhac`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)

from lienthong.mappings.dvcqg import ATTACHMENT_CONTENT_FIELD, ATTACHMENT_NAME_FIELD, ATTACHMENTS_FIELD
from lienthong.mappings.errors import MappingError
from lienthong.mappings.merger import remap_dossier
from lienthong.mappings.records import OnestopDossierWire, dossier_to_onestop_wire, wire_to_dossier
from lienthong.mappings.wire import check_year
from lienthong.schemas.dossier import DossierEvent, DossierEventKind, InboundNotice, NoticeItem

EVENT_TYPES: tuple[str, ...] = tuple(f"dossier.{kind.value}" for kind in DossierEventKind)
"""The one-stop event types, `dossier.<canonical kind>`."""

EXAMPLE_EVENT: dict[str, Any] = {
    "event_id": "01JZ3M8Q4V6K2N7P9R0S1T2U3V",
    "event_type": "dossier.status_changed",
    "occurred_at": "2025-07-03T14:05:00+07:00",
    "source": "onestop",
    "version": 3,
    "dossier": {
        "MaHoSo": "000.00.12.H52-250703-0042",
        "MaTTHC": "1.001193.000.00.00.H52",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "HT",
        "TenLinhVuc": "Hộ tịch",
        "KenhThucHien": "1",
        "SoBienNhan": "BN-0042",
        "ChuHoSo": "Nguyễn Văn An",
        "LoaiDoiTuong": "1",
        "SoDienThoai": "0912345678",
        "Email": None,
        "SoGiayToChuHoSo": "052090000123",
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "052090000123"}],
        "TrichYeuHoSo": "Đăng ký khai sinh cho con",
        "NgayNopHoSo": "20250703083000",
        "NgayTiepNhan": "20250703083500",
        "NgayHenTra": "20250704083500",
        "TrangThaiHoSo": "4",
        "HinhThuc": "0",
        "DonViXuLy": "UBND phường Quy Nhơn",
        "NoiNopHoSo": "1",
        "HoSoCoThanhPhanSoHoa": "1",
        "TaiKhoanDuocXacThucVoiVNeID": "0",
        "DuocThanhToanTrucTuyen": "0",
        "DSKetNoiCSDL": [{"MaCSDL": "CSDLQGDC"}],
        "TaiLieuNop": [
            {
                "TepDinhKemId": "f-1",
                "TenTepDinhKem": "to-khai-khai-sinh.pdf",
                "MaThanhPhanHoSo": "TP1",
                "DuongDanTaiTepTin": "https://motcua.example.gov.vn/files/f-1",
                "DuocSoHoa": "1",
                "DuocTaiSuDung": "0",
                "DuocLayTuKhoDMQG": "0",
            }
        ],
        "TienTrinhXuLy": [
            {
                "NguoiXuLy": "Trần Thị Bình",
                "ChucDanh": "Công chức tư pháp - hộ tịch",
                "ThoiDiemXuLy": "20250703140500",
                "PhongBanXuLy": "Bộ phận Tiếp nhận và Trả kết quả",
                "NoiDungXuLy": "Chuyển xử lý",
                "TrangThai": "4",
                "NgayBatDau": "20250703083500",
                "NgayKetThucTheoQuyDinh": "20250704083500",
            }
        ],
    },
}
"""A complete, valid one-stop dossier event (also the OpenAPI example)."""


def _aware_iso(value: Any) -> datetime:
    hint = "expected ISO-8601 with a UTC offset, e.g. 2025-07-03T14:05:00+07:00"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise MappingError(f"occurred_at: {hint}") from exc
    if not isinstance(value, datetime):
        raise MappingError(f"occurred_at: {hint}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise MappingError(f"occurred_at: the UTC offset is missing; {hint}")
    return check_year(value)


IsoDatetime = Annotated[
    datetime,
    BeforeValidator(_aware_iso),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2025-07-03T14:05:00+07:00"]}),
]


class OnestopDossierEventIn(BaseModel):
    """A dossier event from the one-stop system (webhook body or `dossier.events` input record)."""

    model_config = ConfigDict(
        title="OnestopDossierEvent",
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
        json_schema_extra={"examples": [EXAMPLE_EVENT]},
    )

    event_id: str = Field(min_length=1, max_length=128, pattern=r"^\S+$")
    """Id of the event, stable across retries: lienthong's idempotency key."""
    event_type: Literal["dossier.created", "dossier.status_changed", "dossier.updated", "dossier.step_added"]
    """What happened."""
    occurred_at: IsoDatetime
    """When it happened, ISO-8601 with a UTC offset."""
    source: str = Field("onestop", min_length=1, max_length=64)
    """Name of the sending system."""
    version: int = Field(ge=0, le=2**63 - 1, strict=True)
    """Version of the dossier's full state; increases with every change. Older versions are skipped."""
    dossier: OnestopDossierWire
    """The dossier's full state after the event (DongBoHoSoMC names plus TienTrinhXuLy, MaSoThue,
    DiaChiChuHoSo)."""

    _canonical: DossierEvent | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _maps_to_canonical(self) -> OnestopDossierEventIn:
        # Validating means "will map": every canonical rule is checked here, once.
        if self.event_type == "dossier.step_added" and not self.dossier.steps:
            raise MappingError("dossier.step_added needs at least one step in dossier.TienTrinhXuLy")
        dossier, notes = remap_dossier(
            wire_to_dossier(
                self.dossier,
                version=self.version,
                steps=self.dossier.steps,
                tax_code=self.dossier.tax_code,
                address=self.dossier.address,
            )
        )
        self._canonical = DossierEvent(
            event_id=self.event_id,
            kind=DossierEventKind(self.event_type.removeprefix("dossier.")),
            occurred_at=self.occurred_at,
            source=self.source,
            dossier=dossier,
            notes=tuple(notes),
        )
        return self


def onestop_event_to_canonical(body: OnestopDossierEventIn) -> DossierEvent:
    """The canonical `DossierEvent` of a validated one-stop event."""
    if body._canonical is None:  # pragma: no cover - set by the model validator
        raise MappingError("one-stop event was not validated")
    return body._canonical


def canonical_to_onestop(ev: DossierEvent) -> dict[str, Any]:
    """The one-stop event JSON of a canonical event; `OnestopDossierEventIn` reads it back unchanged."""
    return {
        "event_id": ev.event_id,
        "event_type": f"dossier.{ev.kind.value}",
        "occurred_at": ev.occurred_at.isoformat(),
        "source": ev.source,
        "version": ev.dossier.version,
        "dossier": dossier_to_onestop_wire(ev.dossier).model_dump(mode="json"),
    }


def notice_to_onestop(n: InboundNotice) -> dict[str, Any]:
    """The body delivered to the one-stop REST API for a DVCQG push.

    Same shape as DVCQG's push, so a one-stop system that already reads DVCQG pushes needs nothing
    new: `{service, kind, isUpdating?, data: [items as received]}`, attachments under `TepDinhKem`.
    `kind` names what the service carries (`land_tax_notice`, ...); `isUpdating` is left out when
    DVCQG did not send it.
    """
    body: dict[str, Any] = {"service": n.service, "kind": n.kind.value}
    if n.is_updating is not None:
        body["isUpdating"] = "True" if n.is_updating else "False"
    body["data"] = [_notice_item_body(item) for item in n.items]
    return body


def _notice_item_body(item: NoticeItem) -> dict[str, Any]:
    body = dict(item.raw)
    if item.attachments:
        body[ATTACHMENTS_FIELD] = [
            {ATTACHMENT_NAME_FIELD: a.file_name, ATTACHMENT_CONTENT_FIELD: a.content_base64} for a in item.attachments
        ]
    return body
