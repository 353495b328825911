"""Worked examples of due moments (NgayHenTra): working days, hours, calendar days and pauses."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from lienthong.calendar import CalendarOverrides, WorkingCalendar


def at(iso: str) -> datetime:
    """An aware moment from ISO text; no offset means Vietnam time (+07:00)."""
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else datetime.fromisoformat(iso + "+07:00")


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def test_friday_16h_plus_one_working_day_is_monday_16h(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-09T16:00"), days=1) == at("2025-05-12T16:00")


def test_receipt_at_18h_counts_from_next_morning_7h(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-12T18:00"), hours=2) == at("2025-05-13T09:00")


def test_count_ending_exactly_at_17h_stays_at_17h(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-12T18:00"), days=1) == at("2025-05-13T17:00")


def test_count_ending_exactly_at_11h30_stays_at_11h30(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-12T07:30"), hours=4) == at("2025-05-12T11:30")


def test_lunch_break_is_not_counted(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-12T11:00"), hours=1) == at("2025-05-12T14:00")


def test_receipt_during_lunch_counts_from_13h30(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-12T12:15"), hours=1) == at("2025-05-12T14:30")


def test_receipt_on_saturday_counts_from_monday_morning(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-10T10:00"), hours=3) == at("2025-05-12T10:00")


def test_tet_2025_is_skipped(cal: WorkingCalendar) -> None:
    # Holidays 27 Jan - 1 Feb 2025, weekend 1-2 Feb: the next working day is Monday 3 Feb.
    assert cal.due_moment(at("2025-01-24T10:00"), days=1) == at("2025-02-03T10:00")


def test_hung_kings_day_2025_is_skipped(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-04-04T09:00"), days=1) == at("2025-04-08T09:00")


def test_makeup_saturday_26_april_2025_is_counted(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-04-25T16:00"), days=1) == at("2025-04-26T16:00")


def test_30_april_to_4_may_2025_is_skipped_including_swapped_2_may(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-04-29T11:00"), days=1) == at("2025-05-05T11:00")


def test_sixty_working_days_match_the_working_time_in_between(cal: WorkingCalendar) -> None:
    received = at("2025-01-06T09:13")
    due = cal.due_moment(received, days=60)
    assert cal.working_time_between(received, due) == timedelta(hours=8 * 60)
    assert due == at("2025-04-08T09:13")


def test_zero_hours_from_inside_a_period_is_the_receipt_itself(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-12T09:00"), hours=0) == at("2025-05-12T09:00")


def test_utc_input_gives_vietnam_time_output(cal: WorkingCalendar) -> None:
    due = cal.due_moment(datetime(2025, 5, 9, 9, 0, tzinfo=UTC), days=1)
    assert due.isoformat() == "2025-05-12T16:00:00+07:00"


def test_naive_input_is_read_as_vietnam_time(cal: WorkingCalendar) -> None:
    assert cal.due_moment(datetime(2025, 5, 9, 16, 0), days=1) == at("2025-05-12T16:00")


def test_extra_day_off_from_overrides_is_skipped() -> None:
    cal = WorkingCalendar(overrides=CalendarOverrides(extra_days_off=frozenset({date(2025, 5, 12)})))
    assert cal.due_moment(at("2025-05-09T16:00"), days=1) == at("2025-05-13T16:00")


def test_extra_working_saturday_from_overrides_is_counted() -> None:
    cal = WorkingCalendar(overrides=CalendarOverrides(extra_working_days=frozenset({date(2025, 5, 10)})))
    assert cal.due_moment(at("2025-05-09T16:00"), days=1) == at("2025-05-10T16:00")


def test_calendar_days_keep_the_time_of_day(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-05T10:00"), calendar_days=3) == at("2025-05-08T10:00")


def test_calendar_days_landing_on_sunday_move_to_monday(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-05T10:00"), calendar_days=6) == at("2025-05-12T10:00")


def test_calendar_days_landing_on_a_holiday_move_to_the_next_working_day(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-04-23T10:00"), calendar_days=7) == at("2025-05-05T10:00")


def test_calendar_days_after_hours_count_from_the_next_working_morning(cal: WorkingCalendar) -> None:
    assert cal.due_moment(at("2025-05-09T18:00"), calendar_days=2) == at("2025-05-14T07:00")


def test_pause_pushes_due_by_its_working_time(cal: WorkingCalendar) -> None:
    pause = (at("2025-05-13T08:00"), at("2025-05-14T08:00"))
    assert cal.due_moment(at("2025-05-12T08:00"), days=3, pauses=[pause]) == at("2025-05-16T08:00")


def test_overlapping_pauses_count_once(cal: WorkingCalendar) -> None:
    pauses = [
        (at("2025-05-13T08:00"), at("2025-05-13T16:00")),
        (at("2025-05-13T10:00"), at("2025-05-14T08:00")),
    ]
    assert cal.due_moment(at("2025-05-12T08:00"), days=3, pauses=pauses) == at("2025-05-16T08:00")


def test_pause_over_night_and_weekend_counts_only_working_time(cal: WorkingCalendar) -> None:
    pause = (at("2025-05-16T16:00"), at("2025-05-19T08:00"))  # Friday 16:00 to Monday 08:00 = 2 h
    assert cal.due_moment(at("2025-05-12T08:00"), days=5, pauses=[pause]) == at("2025-05-19T10:00")


def test_pause_before_receipt_is_ignored(cal: WorkingCalendar) -> None:
    pause = (at("2025-05-05T08:00"), at("2025-05-06T08:00"))
    assert cal.due_moment(at("2025-05-12T08:00"), days=1, pauses=[pause]) == at("2025-05-13T08:00")


def test_only_the_part_of_a_pause_after_receipt_counts(cal: WorkingCalendar) -> None:
    pause = (at("2025-05-12T07:00"), at("2025-05-12T10:00"))
    assert cal.due_moment(at("2025-05-12T09:00"), hours=1, pauses=[pause]) == at("2025-05-12T11:00")


def test_pause_extends_a_calendar_day_limit_by_its_working_time(cal: WorkingCalendar) -> None:
    pause = (at("2025-05-06T10:00"), at("2025-05-06T12:00"))  # 1 h 30 of working time
    assert cal.due_moment(at("2025-05-05T10:00"), calendar_days=3, pauses=[pause]) == at("2025-05-08T11:30")


def test_pause_ending_before_it_starts_is_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="before it starts"):
        cal.due_moment(at("2025-05-12T08:00"), days=1, pauses=[(at("2025-05-13T08:00"), at("2025-05-12T08:00"))])


@pytest.mark.parametrize(
    "limits",
    [{}, {"days": 1, "hours": 2}, {"days": 1, "calendar_days": 2}],
    ids=["none", "days-and-hours", "days-and-calendar-days"],
)
def test_due_moment_needs_exactly_one_limit(cal: WorkingCalendar, limits: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        cal.due_moment(at("2025-05-12T08:00"), **limits)


def test_negative_limit_is_rejected(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        cal.due_moment(at("2025-05-12T08:00"), hours=-1)


def test_next_working_moment_at_17h_is_next_morning(cal: WorkingCalendar) -> None:
    assert cal.next_working_moment(at("2025-05-12T17:00")) == at("2025-05-13T07:00")


def test_next_working_moment_inside_a_period_is_unchanged(cal: WorkingCalendar) -> None:
    assert cal.next_working_moment(at("2025-05-12T10:00")) == at("2025-05-12T10:00")


def test_working_time_between_skips_lunch_nights_and_weekends(cal: WorkingCalendar) -> None:
    assert cal.working_time_between(at("2025-05-09T16:00"), at("2025-05-12T08:00")) == timedelta(hours=2)


def test_working_time_between_reversed_moments_is_zero(cal: WorkingCalendar) -> None:
    assert cal.working_time_between(at("2025-05-12T16:00"), at("2025-05-12T08:00")) == timedelta()


def test_working_time_left_is_one_day_a_working_day_before_due(cal: WorkingCalendar) -> None:
    assert cal.working_time_left(at("2025-05-12T16:00"), at("2025-05-09T16:00")) == timedelta(hours=8)


def test_working_time_left_is_zero_once_due_has_passed(cal: WorkingCalendar) -> None:
    assert cal.working_time_left(at("2025-05-12T16:00"), at("2025-05-13T08:00")) == timedelta()


def test_add_working_time_rejects_a_negative_amount(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_time(at("2025-05-12T08:00"), timedelta(minutes=-1))
