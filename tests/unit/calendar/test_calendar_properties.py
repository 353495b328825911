"""Properties of working-time arithmetic that must hold for any receipt moment and limit."""

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.calendar import WorkingCalendar
from lienthong.calendar.config import VIETNAM_TZ

CAL = WorkingCalendar()

# 2024-2027 covers Tết on different weekdays, the 2024/2025/2026 swaps and observed holidays.
moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(VIETNAM_TZ)
).map(lambda t: t.replace(second=0, microsecond=0))
work_hours = st.integers(min_value=0, max_value=400)
work_minutes = st.integers(min_value=0, max_value=60 * 200).map(lambda m: timedelta(minutes=m))
pause_lists = st.lists(
    st.tuples(moments, st.integers(min_value=0, max_value=60 * 24 * 10)).map(
        lambda p: (p[0], p[0] + timedelta(minutes=p[1]))
    ),
    max_size=4,
)

fast = settings(max_examples=150, deadline=None)


def inside_working_time(t: datetime) -> bool:
    """On a working day and within a period, its end included."""
    if not CAL.is_working_day(t.date()):
        return False
    return any(start <= t.time() <= end for start, end in CAL.config.working_periods)


@fast
@given(moments, work_hours)
def test_due_is_never_before_receipt(received: datetime, hours: int) -> None:
    assert CAL.due_moment(received, hours=hours) >= received


@fast
@given(moments, work_hours, work_hours)
def test_due_grows_with_the_limit(received: datetime, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert CAL.due_moment(received, hours=low) <= CAL.due_moment(received, hours=high)


@fast
@given(moments, work_hours)
def test_working_time_from_receipt_to_due_is_the_limit(received: datetime, hours: int) -> None:
    due = CAL.due_moment(received, hours=hours)
    assert CAL.working_time_between(received, due) == timedelta(hours=hours)


@fast
@given(moments, st.integers(min_value=0, max_value=60))
def test_working_days_are_eight_working_hours_each(received: datetime, days: int) -> None:
    assert CAL.due_moment(received, days=days) == CAL.due_moment(received, hours=8 * days)


@fast
@given(
    moments,
    st.one_of(work_hours.map(lambda h: {"hours": h}), st.integers(0, 90).map(lambda d: {"calendar_days": d})),
)
def test_due_is_inside_working_time_on_a_working_day(received: datetime, limit: dict[str, Any]) -> None:
    due = CAL.due_moment(received, **limit)
    assert due.tzinfo is VIETNAM_TZ
    assert inside_working_time(due)


@fast
@given(moments, work_hours, pause_lists)
def test_pauses_never_make_due_earlier(received: datetime, hours: int, pauses: list[tuple[datetime, datetime]]) -> None:
    assert CAL.due_moment(received, hours=hours, pauses=pauses) >= CAL.due_moment(received, hours=hours)


@fast
@given(moments, work_hours, pause_lists)
def test_repeating_a_pause_does_not_count_it_twice(
    received: datetime, hours: int, pauses: list[tuple[datetime, datetime]]
) -> None:
    assert CAL.due_moment(received, hours=hours, pauses=pauses + pauses) == CAL.due_moment(
        received, hours=hours, pauses=pauses
    )


@fast
@given(moments, work_minutes, work_minutes)
def test_adding_in_two_steps_equals_adding_at_once(received: datetime, a: timedelta, b: timedelta) -> None:
    assert CAL.add_working_time(CAL.add_working_time(received, a), b) == CAL.add_working_time(received, a + b)


@fast
@given(moments, moments)
def test_working_time_left_plus_elapsed_is_the_whole(start: datetime, end: datetime) -> None:
    start, end = sorted((start, end))
    middle = start + (end - start) / 2
    assert CAL.working_time_between(start, middle) + CAL.working_time_left(end, middle) == CAL.working_time_between(
        start, end
    )
