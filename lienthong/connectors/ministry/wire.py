"""Pure mapping between the ministry service's XML (ministry.xsd) and the canonical models; no I/O."""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from lienthong.mappings.wire import format_dvcqg_time, parse_dvcqg_time
from lienthong.schemas.ministry import DossierView, MinistryResult, ResultFile

NS = "urn:lienthong:bonganh:v1"
"""Target namespace of ministry.xsd / ministry.wsdl."""


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _text(el: etree._Element, name: str) -> str | None:
    found = el.find(_q(name))
    return None if found is None else (found.text or "").strip()


def operation_name(el: etree._Element) -> str | None:
    """The operation a Body element calls (`GuiKetQuaXuLy`...), None when not in our namespace."""
    qname = etree.QName(el)
    return qname.localname if qname.namespace == NS else None


def dossier_code_of(el: etree._Element) -> str:
    """`MaHoSo` of an operation element (schema-validated before)."""
    return _text(el, "MaHoSo") or ""


def result_from_xml(el: etree._Element, *, ministry: str, received_at: datetime) -> MinistryResult:
    """A schema-valid `GuiKetQuaXuLy` element as a `MinistryResult`."""
    files = tuple(
        ResultFile(
            name=_text(f, "TenTep") or "",
            result_code=_text(f, "MaGiayToKetQua"),
            url=_text(f, "DuongDan"),
            content_b64=_text(f, "NoiDung"),
        )
        for f in el.iterfind(_q("TepKetQua"))
    )
    return MinistryResult(
        message_id=_text(el, "MaThongDiep") or "",
        ministry=ministry,
        dossier_code=dossier_code_of(el),
        agency_code=_text(el, "MaDonVi") or "",
        status=int(_text(el, "TrangThai") or 0),
        content=el.findtext(_q("NoiDungXuLy")) or "",
        processed_at=parse_dvcqg_time(_text(el, "ThoiDiemXuLy") or ""),
        files=files,
        received_at=received_at,
    )


def _sub(parent: etree._Element, name: str, value: object) -> None:
    if value is not None:
        etree.SubElement(parent, _q(name)).text = str(value)


def result_reply(code: int, text: str, message_id: str, record_id: str) -> etree._Element:
    """`GuiKetQuaXuLyResponse`: MaLoi 0 accepted, 1 accepted before (duplicate)."""
    el = etree.Element(_q("GuiKetQuaXuLyResponse"), nsmap={None: NS})
    _sub(el, "MaLoi", code)
    _sub(el, "MoTa", text)
    _sub(el, "MaThongDiep", message_id)
    _sub(el, "MaBanGhi", record_id)
    return el


def view_reply(dossier_code: str, view: DossierView | None) -> etree._Element:
    """`TraCuuHoSoResponse` for a dossier (TimThay false when lienthong never saw it)."""
    el = etree.Element(_q("TraCuuHoSoResponse"), nsmap={None: NS})
    _sub(el, "MaHoSo", dossier_code)
    _sub(el, "TimThay", "true" if view else "false")
    if view is None:
        return el
    _sub(el, "TrangThaiHoSo", view.status)
    if view.due_at is not None:
        _sub(el, "NgayHenTra", format_dvcqg_time(view.due_at))
    if view.last_step_at is not None and view.last_step_status is not None:
        step = etree.SubElement(el, _q("BuocXuLyCuoi"))
        _sub(step, "ThoiDiemXuLy", format_dvcqg_time(view.last_step_at))
        _sub(step, "TrangThai", view.last_step_status)
        _sub(step, "PhongBanXuLy", (view.last_step_department or "")[:255] or None)
        _sub(step, "NoiDungXuLy", (view.last_step_content or "")[:2000] or None)
    _sub(el, "ThoiDiemDongBo", format_dvcqg_time(view.synced_at))
    return el


__all__ = ["NS", "dossier_code_of", "operation_name", "result_from_xml", "result_reply", "view_reply"]
