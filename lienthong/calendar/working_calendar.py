"""`WorkingCalendar`: which days are worked, and arithmetic on working time.

Internally every moment is a naive *wall-clock* datetime in the configured zone: working periods
are wall-clock times, and Vietnam has had no daylight saving since 1975, so wall-clock
differences are real durations there. Inputs are converted on the way in and made aware on the
way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from lienthong.calendar.config import CalendarConfig, to_local
from lienthong.calendar.overrides import CalendarOverrides, official_overrides
from lienthong.calendar.public_holidays import year_days_off

__all__ = ["DayInfo", "WorkingCalendar"]


@dataclass(frozen=True, slots=True)
class DayInfo:
    """Whether one date is worked, and why."""

    day: date
    """The date."""
    working: bool
    """True when it is a working day."""
    reason: str
    """`weekday`, `weekend`, `public holiday: <name>`, `make-up working day`, or the override's name."""
    source: str = ""
    """Where the answer comes from: the override's legal source, `holidays package`, or empty for the
    plain weekly rule."""


_ONE_DAY = timedelta(days=1)
_ZERO = timedelta()
# A run of days off longer than ten years means a broken override table, not a holiday season.
_MAX_DAYS_OFF_IN_A_ROW = 3660


class WorkingCalendar:
    """Working days and working time for dossier time limits (REFERENCE.md §5).

    Naive datetimes are read as local time in the configured zone (Asia/Ho_Chi_Minh by
    default); every returned datetime is aware and in that zone. An instance is cheap to share
    and safe to use from several threads (its only state is a memo of working-day answers).
    """

    def __init__(self, config: CalendarConfig | None = None, overrides: CalendarOverrides | None = None) -> None:
        self.config = config if config is not None else CalendarConfig()
        """The convention in use."""
        self.overrides = overrides if overrides is not None else official_overrides()
        """Days off and working days that win over the national calendar (default: the shipped
        official table, `lienthong.calendar.official_overrides()`)."""
        self._tz = self.config.tz
        self._periods = tuple(
            (_since_midnight(start), _since_midnight(end)) for start, end in self.config.working_periods
        )
        self._day_length = sum((end - start for start, end in self._periods), _ZERO)
        # Memo of is_working_day: the hot path asks about the same few hundred dates over and over.
        self._working_day_memo: dict[date, bool] = {}

    @property
    def working_day_length(self) -> timedelta:
        """Working time in one working day (8 hours by default)."""
        return self._day_length

    def is_working_day(self, d: date) -> bool:
        """Whether `d` is worked: not a weekend day or public holiday, unless a make-up working
        day; the override table wins over both. A datetime is reduced to its local date."""
        if isinstance(d, datetime):
            d = self._wall(d).date()
        answer = self._working_day_memo.get(d)
        if answer is None:
            answer = self._compute_is_working_day(d)
            self._working_day_memo[d] = answer
        return answer

    def explain(self, d: date) -> DayInfo:
        """Whether `d` is worked and why (the override's name and source, the package holiday, the weekend)."""
        ov = self.overrides
        national = year_days_off(self.config.holiday_country, d.year)
        holiday = national.names.get(d, "")
        if d in ov.extra_working_days or d in ov.extra_days_off:
            working = d in ov.extra_working_days
            default = "working day (override)" if working else "day off (override)"
            return DayInfo(d, working, ov.names.get(d, default), ov.sources.get(d, "override table"))
        if d in national.public_holidays:
            if self._ignored(holiday):
                working = d.weekday() not in self.config.weekend_days
                reason = f"{'weekday' if working else 'weekend'}; package holiday {holiday!r} not applied"
                source = ov.sources.get(holiday.removesuffix(" (observed)"), "override table")
                return DayInfo(d, working, reason, source)
            return DayInfo(d, False, f"public holiday: {holiday}", "holidays package (Labour Code 2019 art. 112)")
        if d.weekday() in self.config.weekend_days:
            if d in national.makeup_working_days:
                return DayInfo(d, True, "make-up working day", "holidays package")
            return DayInfo(d, False, "weekend")
        return DayInfo(d, True, "weekday")

    def next_working_moment(self, t: datetime) -> datetime:
        """Return `t` itself if it lies in a working period, else the start of the next one.

        Periods are half-open here: at 17:00 (or 11:30) the next moment is 07:00 the next working
        day (or 13:30), because nothing can be done at the very end of a period.
        """
        return self._aware(self._next_working_wall(self._wall(t)))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in the interval [start, end); zero if `end` is not after `start`."""
        return self._between_wall(self._wall(start), self._wall(end))

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """Return the moment at which `amount` of working time has elapsed since `start`.

        Counting starts at `start` or, outside working time, at the next working moment. A count
        that ends exactly at the end of a period ends there (17:00, not 07:00 next day).
        """
        if amount < _ZERO:
            raise ValueError(f"amount must not be negative, got {amount}")
        return self._aware(self._add_wall(self._wall(start), amount))

    def due_moment(
        self,
        received: datetime,
        *,
        days: int | None = None,
        hours: int | None = None,
        calendar_days: int | None = None,
        same_day: bool = False,
        cutoff: time | None = None,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> datetime:
        """Return the due moment (NgayHenTra) of a dossier received at `received`.

        Give exactly one limit: `days` working days (each `working_day_length` of working time,
        counted from the moment of receipt), `hours` working hours, `calendar_days`
        (counted from the first working moment after receipt; a result on a day off moves to
        the next working day at the same time of day), or `same_day`: the end of the working day
        of receipt, or of the next working day when received after `cutoff` (default
        `config.same_day_cutoff`, 15:00; e.g. certification, Decree 23/2015/NĐ-CP art. 21). Receipt
        outside working time counts from the next working moment.

        `pauses` are (start, end) intervals when the clock stood still (status 5 supplement or
        6 payment requested). The due moment moves later by the working time inside the union
        of the pauses, counting only what lies after receipt; overlapping pauses count once.
        For a pause still open, pass the current moment as its end.
        """
        if same_day:
            if days is not None or hours is not None or calendar_days is not None:
                raise ValueError("give exactly one of days, hours, calendar_days or same_day")
            received_wall = self._wall(received)
            base = self._same_day_wall(received_wall, cutoff or self.config.same_day_cutoff)
            return self._aware(self._add_wall(base, self._paused_working_time(received_wall, pauses)))
        if cutoff is not None:
            raise ValueError("cutoff applies to same_day limits only")
        limit = _single_limit(days=days, hours=hours, calendar_days=calendar_days)
        received_wall = self._wall(received)
        paused = self._paused_working_time(received_wall, pauses)
        if calendar_days is not None:
            base = self._calendar_days_wall(received_wall, limit)
            return self._aware(self._add_wall(base, paused))
        amount = limit * self._day_length if days is not None else timedelta(hours=limit)
        return self._aware(self._add_wall(received_wall, amount + paused))

    def working_time_left(self, due: datetime, now: datetime) -> timedelta:
        """Working time from `now` until `due`; zero once `due` has passed.

        An SLA watch alerts when this drops to one working day (`working_day_length`) or less.
        """
        return self._between_wall(self._wall(now), self._wall(due))

    # -- internals, all on naive wall-clock datetimes -------------------------------------------

    def _wall(self, t: datetime) -> datetime:
        return to_local(t, self._tz).replace(tzinfo=None)

    def _aware(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self._tz)

    def _compute_is_working_day(self, d: date) -> bool:
        if d in self.overrides.extra_working_days:
            return True
        if d in self.overrides.extra_days_off:
            return False
        national = year_days_off(self.config.holiday_country, d.year)
        if d.weekday() in self.config.weekend_days:
            return d in national.makeup_working_days
        if d in national.public_holidays:
            return self._ignored(national.names.get(d, ""))
        return True

    def _ignored(self, holiday: str) -> bool:
        # A holiday on a weekend is observed on the next weekday under the same name + " (observed)".
        return holiday.removesuffix(" (observed)") in self.overrides.ignored_holidays

    def _next_working_wall(self, wall: datetime) -> datetime:
        day = wall.date()
        for _ in range(_MAX_DAYS_OFF_IN_A_ROW):
            if self.is_working_day(day):
                midnight = datetime.combine(day, time())
                for start, end in self._periods:
                    if wall < midnight + end:
                        return max(wall, midnight + start)
            day += _ONE_DAY
        raise ValueError(f"no working day within {_MAX_DAYS_OFF_IN_A_ROW} days after {wall:%Y-%m-%d}")

    def _add_wall(self, cursor: datetime, remaining: timedelta) -> datetime:
        day = cursor.date()
        first_day = True
        days_off_in_a_row = 0
        while True:
            if not self.is_working_day(day):
                days_off_in_a_row += 1
                if days_off_in_a_row > _MAX_DAYS_OFF_IN_A_ROW:
                    raise ValueError(f"no working day within {_MAX_DAYS_OFF_IN_A_ROW} days after {cursor}")
            elif not first_day and remaining > self._day_length:
                # Whole working days in one step: a 60-day limit costs ~85 set lookups, not periods.
                # Strictly greater, so the last day walks its periods and may end exactly at 17:00.
                days_off_in_a_row = 0
                remaining -= self._day_length
            else:
                days_off_in_a_row = 0
                midnight = datetime.combine(day, time())
                for start, end in self._periods:
                    period_end = midnight + end
                    if cursor > period_end:
                        continue
                    begin = max(cursor, midnight + start)
                    if remaining <= period_end - begin:
                        return begin + remaining
                    remaining -= period_end - begin
            first_day = False
            day += _ONE_DAY

    def _between_wall(self, start: datetime, end: datetime) -> timedelta:
        if end <= start:
            return _ZERO
        total = _ZERO
        first, last = start.date(), end.date()
        day = first
        while day <= last:
            if self.is_working_day(day):
                total += self._day_length if first < day < last else self._working_time_on(day, start, end)
            day += _ONE_DAY
        return total

    def _working_time_on(self, day: date, start: datetime, end: datetime) -> timedelta:
        midnight = datetime.combine(day, time())
        total = _ZERO
        for period_start, period_end in self._periods:
            low = max(start, midnight + period_start)
            high = min(end, midnight + period_end)
            if high > low:
                total += high - low
        return total

    def _same_day_wall(self, received: datetime, cutoff: time) -> datetime:
        start = self._next_working_wall(received)
        if start.time() > cutoff:
            start = self._next_working_wall(datetime.combine(start.date() + _ONE_DAY, time()))
        return datetime.combine(start.date(), time()) + self._periods[-1][1]

    def _calendar_days_wall(self, received: datetime, calendar_days: int) -> datetime:
        start = self._next_working_wall(received)
        target = start + timedelta(days=calendar_days)
        day = target.date()
        for _ in range(_MAX_DAYS_OFF_IN_A_ROW):
            if self.is_working_day(day):
                # `start` lies in a working period, so its time of day does on any working day.
                return datetime.combine(day, target.time())
            day += _ONE_DAY
        raise ValueError(f"no working day within {_MAX_DAYS_OFF_IN_A_ROW} days after {target:%Y-%m-%d}")

    def _paused_working_time(self, received: datetime, pauses: Sequence[tuple[datetime, datetime]]) -> timedelta:
        intervals: list[tuple[datetime, datetime]] = []
        for pause_start, pause_end in pauses:
            start, end = self._wall(pause_start), self._wall(pause_end)
            if end < start:
                raise ValueError(f"pause ends ({pause_end.isoformat()}) before it starts ({pause_start.isoformat()})")
            # The clock only runs after receipt, so a pause before it cannot stop it.
            start = max(start, received)
            if end > start:
                intervals.append((start, end))
        intervals.sort()
        # Merge overlapping pauses first so that time paused twice is counted once.
        merged: list[tuple[datetime, datetime]] = []
        for start, end in intervals:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return sum((self._between_wall(start, end) for start, end in merged), _ZERO)


def _since_midnight(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _single_limit(*, days: int | None, hours: int | None, calendar_days: int | None) -> int:
    given = (("days", days), ("hours", hours), ("calendar_days", calendar_days))
    chosen = {name: value for name, value in given if value is not None}
    if len(chosen) != 1:
        named = ", ".join(chosen) or "none"
        raise ValueError(f"give exactly one of days, hours or calendar_days (got: {named})")
    ((name, value),) = chosen.items()
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value
