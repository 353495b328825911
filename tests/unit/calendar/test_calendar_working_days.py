"""Which days are worked: weekends, holidays.Vietnam, government swaps and the override table."""

from datetime import date, datetime, time

import pytest

from lienthong.calendar import CalendarConfig, CalendarOverrides, WorkingCalendar
from lienthong.calendar.config import VIETNAM_TZ


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def test_ordinary_weekday_is_a_working_day(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2025, 5, 12))


@pytest.mark.parametrize("day", [date(2025, 5, 10), date(2025, 5, 11)], ids=["saturday", "sunday"])
def test_weekend_is_a_day_off(cal: WorkingCalendar, day: date) -> None:
    assert not cal.is_working_day(day)


@pytest.mark.parametrize("day", [date(2025, 1, 27), date(2025, 1, 29), date(2025, 1, 31)])
def test_tet_2025_weekdays_are_days_off(cal: WorkingCalendar, day: date) -> None:
    assert not cal.is_working_day(day)


def test_first_working_day_after_tet_2025_is_monday_3_february(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2025, 2, 3))


def test_hung_kings_day_2025_is_a_day_off(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2025, 4, 7))


def test_hung_kings_day_on_sunday_2026_gives_monday_off(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 4, 27))


def test_swapped_friday_2_may_2025_is_a_day_off(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2025, 5, 2))


def test_makeup_saturday_26_april_2025_is_a_working_day(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2025, 4, 26))


def test_other_saturdays_around_the_2025_swap_stay_off(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2025, 4, 19))
    assert not cal.is_working_day(date(2025, 5, 3))


def test_makeup_saturday_in_the_previous_year_is_worked() -> None:
    # 27 Dec 2014 was worked in exchange for Friday 2 Jan 2015: the swap is listed under 2015.
    cal = WorkingCalendar()
    assert cal.is_working_day(date(2014, 12, 27))
    assert not cal.is_working_day(date(2015, 1, 2))


def test_extra_day_off_wins_over_an_ordinary_weekday() -> None:
    cal = WorkingCalendar(overrides=CalendarOverrides(extra_days_off=frozenset({date(2025, 5, 12)})))
    assert not cal.is_working_day(date(2025, 5, 12))


def test_extra_working_day_wins_over_a_weekend() -> None:
    cal = WorkingCalendar(overrides=CalendarOverrides(extra_working_days=frozenset({date(2025, 5, 10)})))
    assert cal.is_working_day(date(2025, 5, 10))


def test_extra_working_day_wins_over_a_public_holiday() -> None:
    cal = WorkingCalendar(overrides=CalendarOverrides(extra_working_days=frozenset({date(2025, 9, 1)})))
    assert cal.is_working_day(date(2025, 9, 1))


def test_overrides_reject_a_date_both_off_and_worked() -> None:
    day = date(2025, 5, 12)
    with pytest.raises(ValueError, match="2025-05-12"):
        CalendarOverrides(extra_days_off=frozenset({day}), extra_working_days=frozenset({day}))


def test_datetime_is_judged_by_its_local_date(cal: WorkingCalendar) -> None:
    # 17:30 UTC on Friday 9 May is 00:30 Saturday 10 May in Vietnam.
    assert not cal.is_working_day(datetime.fromisoformat("2025-05-09T17:30+00:00"))


def test_configured_weekend_is_respected() -> None:
    cal = WorkingCalendar(CalendarConfig(weekend_days=frozenset({6})))
    assert cal.is_working_day(date(2025, 5, 10))


def test_config_rejects_overlapping_periods() -> None:
    with pytest.raises(ValueError, match="overlap"):
        CalendarConfig(working_periods=((time(7), time(12)), (time(11), time(17))))


def test_config_rejects_a_week_without_working_days() -> None:
    with pytest.raises(ValueError, match="whole week"):
        CalendarConfig(weekend_days=frozenset(range(7)))


def test_default_config_is_eight_hours_a_day_in_vietnam_time() -> None:
    cal = WorkingCalendar()
    assert cal.working_day_length.total_seconds() == 8 * 3600
    assert cal.config.tz == VIETNAM_TZ
