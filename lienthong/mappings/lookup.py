"""Pure mappings of registry look-ups: the population database's SOAP XML to `Citizen`, field selection.

No I/O: the XML has already been parsed by the XML kit (`lienthong.connectors.xml.parse_xml`).
Elements are matched by local name: the population service's namespace differs between deployments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree
from pydantic import BaseModel, ValidationError

from lienthong.mappings.errors import MappingError
from lienthong.schemas.lookup import Citizen

_NESTED = {
    "HoVaTen": ("Ho", "ChuDem", "Ten"),
    "NgayThangNamSinh": ("Nam", "NgayThangNam"),
    "ThuongTru": ("MaTinhThanh", "MaQuanHuyen", "MaPhuongXa", "ChiTiet"),
    "QueQuan": ("MaTinhThanh", "MaQuanHuyen", "MaPhuongXa", "ChiTiet"),
    "NoiOHienTai": ("MaTinhThanh", "MaQuanHuyen", "MaPhuongXa", "ChiTiet"),
    "Cha": ("HoVaTen", "SoDinhDanh"),
    "Me": ("HoVaTen", "SoDinhDanh"),
    "VoChong": ("HoVaTen", "SoDinhDanh"),
}
_FLAT = ("SoDinhDanh", "SoCMND", "GioiTinh")


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el: etree._Element) -> dict[str, etree._Element]:
    return {_local(c): c for c in el if isinstance(c.tag, str)}


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    value = (el.text or "").strip()
    return value or None


def citizen_from_xml(el: etree._Element) -> Citizen:
    """One `CongDan` element as a `Citizen` (missing elements are None)."""
    kids = _children(el)
    data: dict[str, Any] = {name: _text(kids.get(name)) for name in _FLAT}
    for name, parts in _NESTED.items():
        node = kids.get(name)
        if node is None:
            continue
        sub = _children(node)
        if name in ("Cha", "Me", "VoChong") and not sub:
            continue
        data[name] = {p: _text(sub.get(p)) for p in parts}
    try:
        return Citizen.model_validate(data)
    except ValidationError as exc:
        raise MappingError(f"CongDan record does not fit the model ({exc.error_count()} error(s))") from None


def citizens_from_soap(root: etree._Element) -> list[Citizen]:
    """Every `Envelope/Body/CongdanCollection/CongDan` of a population reply (empty list: not found).

    A reply without `Envelope/Body/CongdanCollection` is a `MappingError` (malformed reply); a SOAP
    Fault is a `MappingError` naming its fault code only.
    """
    if _local(root) != "Envelope":
        raise MappingError("population reply: expected a SOAP Envelope")
    body = _children(root).get("Body")
    if body is None:
        raise MappingError("population reply: SOAP Envelope without Body")
    kids = _children(body)
    if "Fault" in kids:
        code = _text(_children(kids["Fault"]).get("faultcode")) or "?"
        raise MappingError(f"population reply: SOAP Fault {code[:40]}")
    collection = kids.get("CongdanCollection")
    if collection is None:
        raise MappingError("population reply: Body without CongdanCollection")
    return [citizen_from_xml(c) for c in collection if _local(c) == "CongDan"]


def select_fields(record: BaseModel | Mapping[str, Any], allowed: Iterable[str]) -> dict[str, Any]:
    """The top-level fields of `record` named in `allowed` that have a value (data minimisation)."""
    data = record.model_dump(exclude_none=True) if isinstance(record, BaseModel) else dict(record)
    wanted = set(allowed)
    return {k: v for k, v in data.items() if k in wanted and v not in (None, "", {}, [])}


__all__ = ["citizen_from_xml", "citizens_from_soap", "select_fields"]
