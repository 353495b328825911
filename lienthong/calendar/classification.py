"""On-time classification of finished dossiers and the overdue test for open ones (REFERENCE.md §3)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Literal

from lienthong.calendar.config import VIETNAM_TZ, local_date, to_local

__all__ = ["Punctuality", "classify", "is_overdue"]

Punctuality = Literal["early", "on_time", "late"]
"""`early` = trước hạn, `on_time` = đúng hạn, `late` = quá hạn."""


def classify(due: datetime, finished: datetime, tz: tzinfo = VIETNAM_TZ) -> Punctuality:
    """Classify a finished dossier by comparing local *dates*, not times.

    Finished (NgayKetThucXuLy) on an earlier day than due (NgayHenTra) is `early`, on the due
    day `on_time` even if after the due hour, on a later day `late`. Naive datetimes are read
    as local time in `tz`.
    """
    due_day, finished_day = local_date(due, tz), local_date(finished, tz)
    if finished_day < due_day:
        return "early"
    if finished_day == due_day:
        return "on_time"
    return "late"


def is_overdue(due: datetime, now: datetime) -> bool:
    """Whether a dossier still open at `now` is overdue: strictly after the due moment.

    Naive datetimes are read as Asia/Ho_Chi_Minh local time.
    """
    return to_local(now) > to_local(due)
