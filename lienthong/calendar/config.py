"""The working-time convention a `WorkingCalendar` applies, and local-time helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from zoneinfo import ZoneInfo

from lienthong.schemas.validators import VN_TZ

__all__ = ["DEFAULT_TIMEZONE", "VIETNAM_TZ", "CalendarConfig", "local_date", "to_local"]

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
"""IANA name of the zone every dossier clock runs in."""

VIETNAM_TZ = VN_TZ
"""`ZoneInfo` for `DEFAULT_TIMEZONE`: the same object as `lienthong.schemas.validators.VN_TZ`."""

_DAYS_IN_WEEK = 7


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    """How working time is counted. The defaults are the national convention (REFERENCE.md §5)."""

    timezone: str = DEFAULT_TIMEZONE
    """IANA zone name. Naive datetimes are read in it and every returned datetime is in it."""

    working_periods: tuple[tuple[time, time], ...] = (
        (time(7, 0), time(11, 30)),
        (time(13, 30), time(17, 0)),
    )
    """Working periods of a working day, as (start, end) local wall-clock times, in order and
    not overlapping. Their total length is one working day (8 h by default)."""

    weekend_days: frozenset[int] = frozenset({5, 6})
    """Weekly days off as `date.weekday()` numbers (0 = Monday ... 6 = Sunday)."""

    holiday_country: str = "VN"
    """Country code passed to `holidays.country_holidays` for public holidays and make-up days."""

    same_day_cutoff: time = time(15, 0)
    """Same-day procedures: received after this local time, the result is due the next working day
    (Decree 23/2015/NĐ-CP art. 21 for certification)."""

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises ZoneInfoNotFoundError on a typo, at construction time
        if not self.working_periods:
            raise ValueError("CalendarConfig.working_periods is empty; give at least one (start, end)")
        previous_end: time | None = None
        for start, end in self.working_periods:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError(f"working period {start}-{end}: use naive local times, not aware ones")
            if start >= end:
                raise ValueError(f"working period {start}-{end}: start must be before end")
            if previous_end is not None and start < previous_end:
                raise ValueError(
                    f"working period {start}-{end} starts before the previous one ends ({previous_end}); "
                    "list periods in order without overlap"
                )
            previous_end = end
        if not self.weekend_days <= set(range(_DAYS_IN_WEEK)):
            raise ValueError(f"CalendarConfig.weekend_days {sorted(self.weekend_days)}: use 0 (Mon) .. 6 (Sun)")
        if len(self.weekend_days) == _DAYS_IN_WEEK:
            raise ValueError("CalendarConfig.weekend_days covers the whole week; no day would be worked")

    @property
    def tz(self) -> ZoneInfo:
        """The configured zone (`ZoneInfo` caches instances, so this is cheap)."""
        return ZoneInfo(self.timezone)


def to_local(t: datetime, tz: tzinfo = VIETNAM_TZ) -> datetime:
    """Return `t` as an aware datetime in `tz`; a naive `t` is read as local time in `tz`."""
    if t.tzinfo is None or t.utcoffset() is None:
        return t.replace(tzinfo=tz)
    return t.astimezone(tz)


def local_date(t: datetime, tz: tzinfo = VIETNAM_TZ) -> date:
    """Return the calendar date of `t` in `tz` (naive `t` read as local time in `tz`)."""
    return to_local(t, tz).date()
