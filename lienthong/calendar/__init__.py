"""Working-time calendar: working days, due moments (NgayHenTra) and on-time classification.

Pure code: the only I/O is `load_overrides`, which reads the operator's override file.
Naive datetimes are read as Asia/Ho_Chi_Minh local time (the configured zone for a
`WorkingCalendar`); every returned datetime is aware and in that zone.

    >>> from datetime import datetime
    >>> cal = WorkingCalendar()
    >>> cal.due_moment(datetime.fromisoformat("2025-05-09T16:00+07:00"), days=1).isoformat()
    '2025-05-12T16:00:00+07:00'
"""

from lienthong.calendar.classification import Punctuality, classify, is_overdue
from lienthong.calendar.config import CalendarConfig
from lienthong.calendar.overrides import CalendarOverrides, OverridesFileError, load_overrides
from lienthong.calendar.working_calendar import WorkingCalendar

__all__ = [
    "CalendarConfig",
    "CalendarOverrides",
    "OverridesFileError",
    "Punctuality",
    "WorkingCalendar",
    "classify",
    "is_overdue",
    "load_overrides",
]
