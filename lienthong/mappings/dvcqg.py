"""Canonical <-> DVCQG (National Public Service Portal) JSON, REFERENCE sections 2A and 2B.

Outbound: `dossier_to_dvcqg` gives one `DongBoHoSoMC` item with exactly the reference's field names,
`steps_to_dvcqg` the `CapNhatTienDoHoSoMC` items, `build_request` the request body. Every value is a
string (codes `"4"`, flags `"0"`/`"1"`, amounts `"50000"`, times `yyyyMMddHHmmss` in
Asia/Ho_Chi_Minh), as public implementations send them; an absent optional value is JSON `null`.
The dossier's version is not a DVCQG field: the sync worker keeps it beside the call.

Inbound: `parse_inbound` reads a DVCQG push `{service, isUpdating, data}`. The service names DVCQG
pushes are named here and nowhere else (`INBOUND_SERVICES`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import Field, ValidationError, field_validator

from lienthong.mappings.errors import MappingError
from lienthong.mappings.identifiers import validate_agency_code
from lienthong.mappings.merger import remap_notice
from lienthong.mappings.records import (
    DVCQG_EXCLUDE,
    AddressWire,
    DossierWire,
    StepWire,
    WireModel,
    describe,
    dossier_to_wire,
    step_to_wire,
    wire_to_dossier,
)
from lienthong.mappings.wire import (
    DVCQG_DATE_FORMAT,
    WireOptionalText,
    WireOptionalTime,
    format_dvcqg_time,
    parse_dvcqg_time,
)
from lienthong.schemas.dossier import (
    Address,
    Dossier,
    InboundNotice,
    NoticeAttachment,
    NoticeItem,
    NoticeKind,
)

__all__ = [
    "DVCQG_DATE_FORMAT",
    "INBOUND_SERVICES",
    "SERVICE_LAND_TAX_NOTICE",
    "SERVICE_LAND_TAX_RECEIPT",
    "SERVICE_LOOKUP",
    "SERVICE_ONLINE_SUBMISSION",
    "SERVICE_PROMOTION_NOTICE",
    "SERVICE_SYNC_DOSSIER",
    "SERVICE_UPDATE_PROGRESS",
    "STEPS_PER_CALL",
    "build_request",
    "chunk",
    "dossier_to_dvcqg",
    "dvcqg_to_dossier",
    "format_dvcqg_time",
    "parse_dvcqg_time",
    "parse_inbound",
    "steps_to_dvcqg",
]

SERVICE_LOOKUP = "TraCuuHoSo"
"""Does the portal have this dossier?"""
SERVICE_SYNC_DOSSIER = "DongBoHoSoMC"
"""Create (`isUpdating` "False") or update ("True") dossiers."""
SERVICE_UPDATE_PROGRESS = "CapNhatTienDoHoSoMC"
"""Add processing steps, at most `STEPS_PER_CALL` per call."""
SERVICE_LAND_TAX_NOTICE = "NhanThongBaoThueDat"
"""Inbound: land tax notice."""
SERVICE_LAND_TAX_RECEIPT = "NhanChungTuThueDat"
"""Inbound: land tax payment voucher."""
SERVICE_PROMOTION_NOTICE = "NhanThongBaoKhuyenMai"
"""Inbound: sales promotion notice. The reference lists its fields but not its service name: this
name is lienthong's assumption, shared with the sandbox; confirm it when connecting to the portal."""
SERVICE_ONLINE_SUBMISSION = "NhanHoSoTrucTuyen"
"""Inbound: a dossier submitted online. The real contract is not public; this is lienthong's name,
modelled on the `{service, data}` shape of the other pushes."""

INBOUND_SERVICES: Mapping[str, NoticeKind] = {
    SERVICE_LAND_TAX_NOTICE: NoticeKind.LAND_TAX_NOTICE,
    SERVICE_LAND_TAX_RECEIPT: NoticeKind.LAND_TAX_RECEIPT,
    SERVICE_PROMOTION_NOTICE: NoticeKind.PROMOTION_NOTICE,
    SERVICE_ONLINE_SUBMISSION: NoticeKind.ONLINE_SUBMISSION,
}
"""Every service DVCQG may push to the province, and what it carries."""

STEPS_PER_CALL = 10
"""Most steps in one `CapNhatTienDoHoSoMC` call."""

# Attachment field names of pushed notices: the reference says "attachments base64" without names.
ATTACHMENTS_FIELD = "TepDinhKem"
ATTACHMENT_NAME_FIELD = "TenTepDinhKem"
ATTACHMENT_CONTENT_FIELD = "Base64"

T = TypeVar("T")


def dossier_to_dvcqg(d: Dossier) -> dict[str, Any]:
    """One `DongBoHoSoMC` data item for dossier `d` (all fields, reference order, wire conventions)."""
    return dossier_to_wire(d).model_dump(mode="json", exclude=DVCQG_EXCLUDE)


def steps_to_dvcqg(d: Dossier) -> list[dict[str, Any]]:
    """The `CapNhatTienDoHoSoMC` items of every step of `d`, oldest first; `NguoiXuLy` cut to 50."""
    return [step_to_wire(d.code, step).model_dump(mode="json") for step in d.steps]


def chunk(items: Sequence[T], size: int = STEPS_PER_CALL) -> list[list[T]]:
    """`items` in consecutive lists of at most `size` (DVCQG takes steps 10 at a time)."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def dvcqg_to_dossier(item: Mapping[str, Any], *, steps: Sequence[Mapping[str, Any]] = (), version: int = 0) -> Dossier:
    """The canonical dossier of a `DongBoHoSoMC` item (and optionally its `CapNhatTienDoHoSoMC` steps).

    DVCQG carries no version, tax code or address: `version` is given by the caller, the others are
    None. Raises `MappingError` naming the offending wire field.
    """
    try:
        wire = DossierWire.model_validate(item)
        step_wires = [StepWire.model_validate(step) for step in steps]
    except ValidationError as exc:
        raise MappingError(f"DongBoHoSoMC item: {describe(exc)}") from exc
    for index, step in enumerate(step_wires):
        if step.dossier_code not in (None, wire.code):
            raise MappingError(f"CapNhatTienDoHoSoMC step {index}: MaHoSo differs from the dossier's")
    return wire_to_dossier(wire, version=version, steps=step_wires)


def build_request(
    service: str,
    data: Iterable[dict[str, Any]],
    *,
    session: str,
    agency_code: str,
    is_updating: bool | None,
) -> dict[str, Any]:
    """The DVCQG request body `{service, session, madonvi, isUpdating, data}`.

    `isUpdating` is written `"True"`/`"False"`, and left out when `is_updating` is None (services
    other than `DongBoHoSoMC`).
    """
    if not service:
        raise MappingError("DVCQG request: service is empty")
    if not session:
        raise MappingError("DVCQG request: no session; log in first")
    items = list(data)
    if service == SERVICE_UPDATE_PROGRESS and len(items) > STEPS_PER_CALL:
        raise MappingError(f"{service} takes at most {STEPS_PER_CALL} steps per call; split them with chunk()")
    body: dict[str, Any] = {
        "service": service,
        "session": session,
        "madonvi": validate_agency_code(agency_code),
    }
    if is_updating is not None:
        body["isUpdating"] = "True" if is_updating else "False"
    body["data"] = items
    return body


class _AttachmentWire(WireModel):
    file_name: WireOptionalText = Field(None, alias=ATTACHMENT_NAME_FIELD)
    content_base64: str = Field(alias=ATTACHMENT_CONTENT_FIELD)

    @field_validator("content_base64")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MappingError("attachment content is not valid base64") from exc
        return value


class _NoticeItemWire(WireModel):
    dossier_code: WireOptionalText = Field(None, alias="MaHoSo")
    procedure_code: WireOptionalText = Field(None, alias="MaTTHC")
    document_number: WireOptionalText = Field(None, alias="SoVanBan")
    submitted_at: WireOptionalTime = Field(None, alias="NgayNopHoSo")
    tax_code: WireOptionalText = Field(None, alias="MaSoThue")
    enterprise_address: AddressWire | None = Field(None, alias="DiaChiDoanhNghiep")
    attachments: list[_AttachmentWire] = Field(default_factory=list, alias=ATTACHMENTS_FIELD)


def _read_is_updating(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise MappingError('inbound push: isUpdating must be "True" or "False"')


def _notice_item(raw: Any) -> NoticeItem:
    if not isinstance(raw, Mapping):
        raise MappingError("must be a JSON object")
    wire = _NoticeItemWire.model_validate(raw)
    address = wire.enterprise_address
    item = NoticeItem(
        dossier_code=wire.dossier_code,
        procedure_code=wire.procedure_code,
        document_number=wire.document_number,
        submitted_at=wire.submitted_at,
        tax_code=wire.tax_code,
        enterprise_address=None if address is None else Address.model_validate(dict(address)),
        attachments=tuple(NoticeAttachment.model_validate(dict(a)) for a in wire.attachments),
        raw={key: value for key, value in raw.items() if key != ATTACHMENTS_FIELD},
    )
    if not (item.dossier_code or item.document_number):
        raise MappingError("an item needs MaHoSo or SoVanBan (an empty item is refused)")
    return item


def parse_inbound(body: Mapping[str, Any], *, services: Mapping[str, NoticeKind] = INBOUND_SERVICES) -> InboundNotice:
    """Read a DVCQG push `{service, isUpdating, data}` into an `InboundNotice`.

    `data` is a list of items (a single object is accepted as a list of one). Each item keeps its raw
    form beside the fields lienthong reads, except the attachments, which are held once, typed.
    Raises `MappingError` for an unknown service or a malformed item, naming the item's index and field.
    """
    if not isinstance(body, Mapping):
        raise MappingError("inbound push: the body must be a JSON object")
    service = body.get("service")
    if not isinstance(service, str) or not service:
        raise MappingError("inbound push: 'service' is missing")
    kind = services.get(service)
    if kind is None:
        known = ", ".join(sorted(services))
        raise MappingError(f"inbound push: unknown service {service[:60]!r}; known services: {known}")
    data = body.get("data")
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise MappingError(f"inbound push {service}: 'data' must be a list of objects")
    items = []
    for index, raw in enumerate(data):
        try:
            items.append(_notice_item(raw))
        except ValidationError as exc:
            raise MappingError(f"inbound push {service}: data[{index}]: {describe(exc)}") from exc
        except MappingError as exc:
            raise MappingError(f"inbound push {service}: data[{index}]: {exc}") from exc
    notice = InboundNotice(
        service=service, kind=kind, is_updating=_read_is_updating(body.get("isUpdating")), items=tuple(items)
    )
    # Pre-merger province codes in addresses of items submitted after 1 July 2025 are mapped.
    remapped, notes = remap_notice(notice)
    return remapped.model_copy(update={"notes": tuple(notes)}) if notes else remapped
