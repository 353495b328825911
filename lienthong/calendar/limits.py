"""A procedure's time limit as data: working days, working hours, calendar days, or same day with a cutoff.

Procedure tables write a limit as text, parsed by `TimeLimit.parse`:

- `"3d"`: 3 working days; `"4h"`: 4 working hours; `"30cd"`: 30 calendar days;
- `"same-day"` or `"same-day<15:00"`: the same working day, or the next one when received after the
  cutoff (default 15:00; certification, Decree 23/2015/NĐ-CP art. 21).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from lienthong.calendar.working_calendar import WorkingCalendar

__all__ = ["TimeLimit"]

_FORM = re.compile(r"(?:(?P<n>\d{1,4})(?P<unit>d|h|cd)|same-day(?:<(?P<cutoff>\d{1,2}:\d{2}))?)")


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """One procedure's time limit; exactly one of the four forms is set."""

    working_days: int | None = None
    """Limit in working days (8 working hours each)."""
    working_hours: int | None = None
    """Limit in working hours."""
    calendar_days: int | None = None
    """Limit in calendar days (a result on a day off moves to the next working day)."""
    same_day: bool = False
    """Due at the end of the working day of receipt (or the next one after `cutoff`)."""
    cutoff: time | None = None
    """For `same_day`: receipt after this local time is due the next working day; None = the
    calendar's `same_day_cutoff` (15:00)."""

    def __post_init__(self) -> None:
        given = [v for v in (self.working_days, self.working_hours, self.calendar_days) if v is not None]
        if len(given) + self.same_day != 1:
            raise ValueError("a TimeLimit has exactly one of working_days, working_hours, calendar_days or same_day")
        if any(v < 0 for v in given):
            raise ValueError("a time limit is not negative")
        if self.cutoff is not None and not self.same_day:
            raise ValueError("cutoff applies to same_day limits only")

    @classmethod
    def parse(cls, text: str) -> TimeLimit:
        """`"3d"`, `"4h"`, `"30cd"`, `"same-day"` or `"same-day<15:00"`; ValueError otherwise."""
        match = _FORM.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"time limit {text!r}: write 3d, 4h, 30cd, same-day or same-day<15:00")
        if match["n"] is None:
            return cls(same_day=True, cutoff=None if match["cutoff"] is None else time.fromisoformat(match["cutoff"]))
        n = int(match["n"])
        unit = match["unit"]
        return cls(
            working_days=n if unit == "d" else None,
            working_hours=n if unit == "h" else None,
            calendar_days=n if unit == "cd" else None,
        )

    def __str__(self) -> str:
        if self.same_day:
            return "same-day" if self.cutoff is None else f"same-day<{self.cutoff:%H:%M}"
        if self.working_days is not None:
            return f"{self.working_days}d"
        if self.working_hours is not None:
            return f"{self.working_hours}h"
        return f"{self.calendar_days}cd"

    def due(
        self, calendar: WorkingCalendar, received: datetime, pauses: Sequence[tuple[datetime, datetime]] = ()
    ) -> datetime:
        """The due moment (NgayHenTra) of a dossier received at `received` under this limit."""
        return calendar.due_moment(
            received, days=self.working_days, hours=self.working_hours, calendar_days=self.calendar_days,
            same_day=self.same_day, cutoff=self.cutoff, pauses=pauses,
        )  # fmt: skip
