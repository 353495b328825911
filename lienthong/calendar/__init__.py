"""Working-time calendar: working days, due moments (NgayHenTra) and on-time classification.

Pure code: the only I/O is reading the override tables (`load_overrides`, `official_overrides`,
`configured_calendar`): the shipped official table of government swaps and non-enacted package holidays,
with the operator's file (`LIENTHONG_CALENDAR_OVERRIDES`) laid over it.
Naive datetimes are read as Asia/Ho_Chi_Minh local time (the configured zone for a
`WorkingCalendar`); every returned datetime is aware and in that zone.

    >>> from datetime import datetime
    >>> cal = WorkingCalendar()
    >>> cal.due_moment(datetime.fromisoformat("2025-05-09T16:00+07:00"), days=1).isoformat()
    '2025-05-12T16:00:00+07:00'
"""

from lienthong.calendar.classification import Punctuality, classify, is_overdue
from lienthong.calendar.config import CalendarConfig
from lienthong.calendar.limits import TimeLimit
from lienthong.calendar.overrides import CalendarOverrides, OverridesFileError, load_overrides, official_overrides
from lienthong.calendar.settings import CalendarSettings, configured_calendar, configured_overrides
from lienthong.calendar.working_calendar import DayInfo, WorkingCalendar

__all__ = [
    "CalendarConfig",
    "CalendarOverrides",
    "CalendarSettings",
    "DayInfo",
    "OverridesFileError",
    "Punctuality",
    "TimeLimit",
    "WorkingCalendar",
    "classify",
    "configured_calendar",
    "configured_overrides",
    "is_overdue",
    "load_overrides",
    "official_overrides",
]
