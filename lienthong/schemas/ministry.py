"""Canonical models of the ministry flow: a ministry's result on `ministry.results`, the dossier view."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

RESULT_EVENT_TYPE = "vn.gov.lienthong.ministry.result_reported.v1"
"""CloudEvents type of a record on `ministry.results`."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class ResultFile(_Model):
    """A result file a ministry attached (`TepKetQua`)."""

    name: str = Field(min_length=1, max_length=255)
    """`TenTep`: file name."""
    result_code: str | None = None
    """`MaGiayToKetQua`: code of the result document, if any."""
    url: str | None = None
    """`DuongDan`: where to fetch it."""
    content_b64: str | None = Field(None, repr=False)
    """`NoiDung`: the file itself, base64, when sent inline."""


class MinistryResult(_Model):
    """A ministry's report of its part of an inter-agency dossier (`GuiKetQuaXuLy`)."""

    message_id: str = Field(min_length=1, max_length=64)
    """`MaThongDiep`: the ministry's own message id (idempotency key together with `ministry`)."""
    ministry: str
    """The ministry account that sent it (WS-Security username)."""
    dossier_code: str
    """`MaHoSo`."""
    agency_code: str
    """`MaDonVi`: the ministry's unit that processed its part."""
    status: int = Field(ge=1, le=10)
    """`TrangThai`: status code of its part (REFERENCE 3)."""
    content: str = Field(max_length=2000)
    """`NoiDungXuLy`: what was done."""
    processed_at: AwareDatetime
    """`ThoiDiemXuLy` (Asia/Ho_Chi_Minh)."""
    files: tuple[ResultFile, ...] = ()
    """`TepKetQua`."""
    received_at: AwareDatetime
    """When lienthong accepted it (UTC)."""


class DossierView(_Model):
    """What `TraCuuHoSo` answers: a dossier as lienthong last saw it on `dossier.events`."""

    dossier_code: str
    """`MaHoSo`."""
    version: int
    """Version of the state seen."""
    status: int
    """`TrangThaiHoSo`."""
    due_at: datetime | None = None
    """`NgayHenTra`."""
    last_step_at: datetime | None = None
    """`ThoiDiemXuLy` of the last processing step."""
    last_step_status: int | None = None
    """`TrangThai` of that step."""
    last_step_department: str | None = None
    """`PhongBanXuLy` of that step."""
    last_step_content: str | None = None
    """`NoiDungXuLy` of that step."""
    synced_at: datetime
    """When lienthong stored this view (UTC)."""


__all__ = ["RESULT_EVENT_TYPE", "DossierView", "MinistryResult", "ResultFile"]
