"""The apology letter of a late dossier (phiếu xin lỗi và hẹn lại ngày trả kết quả), as data (pure).

When a dossier will miss its due date, the agency apologises in writing and gives a new date. On the wire
it is a `DanhSachHoSoBoSung` item with `NgayHenTraTruoc` (the missed date) and `NgayHenTraMoi` (the new
one), REFERENCE section 3; the one-stop record also flags it `LaPhieuXinLoi` "1". The dossier's
`NgayHenTra` becomes the new date, while KPIs keep judging it against the date before the first apology
(`original_due`): an apologised dossier is still late.
"""

from __future__ import annotations

from datetime import datetime

from lienthong.schemas.dossier import Dossier, SupplementRequest

__all__ = ["APOLOGY_CONTENT", "apology_record", "original_due", "with_apology"]

APOLOGY_CONTENT = "Phiếu xin lỗi và hẹn lại ngày trả kết quả"
"""What the record says (`NoiDungBoSung`)."""


def apology_record(
    d: Dossier, *, new_due_at: datetime, issued_at: datetime, issued_by: str | None = None
) -> SupplementRequest:
    """The apology record of `d` moving its due date (`d.due_at`, which must be set) to `new_due_at`."""
    if d.due_at is None:
        raise ValueError(f"dossier {d.code} has no due date to apologise for")
    if new_due_at <= d.due_at:
        raise ValueError("the new due date of an apology must be later than the missed one")
    number = sum(1 for s in d.supplements if s.apology) + 1
    return SupplementRequest(
        id=f"XL-{d.code}-{number}", content=APOLOGY_CONTENT, requested_at=issued_at, requested_by=issued_by,
        fulfilled=True, previous_due_at=d.due_at, new_due_at=new_due_at, apology=True,
    )  # fmt: skip


def with_apology(d: Dossier, *, new_due_at: datetime, issued_at: datetime, issued_by: str | None = None) -> Dossier:
    """`d` with its apology record appended and `NgayHenTra` moved to `new_due_at` (version unchanged)."""
    record = apology_record(d, new_due_at=new_due_at, issued_at=issued_at, issued_by=issued_by)
    return d.model_copy(update={"due_at": new_due_at, "supplements": (*d.supplements, record)})


def original_due(d: Dossier) -> datetime | None:
    """The due date the dossier is judged against: before its first apology, else `NgayHenTra`."""
    for s in d.supplements:
        if s.apology and s.previous_due_at is not None:
            return s.previous_due_at
    return d.due_at
