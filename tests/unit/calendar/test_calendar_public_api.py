"""Pins the public API of `lienthong.calendar`: a change here is a change for every caller."""

import lienthong.calendar


def test_public_api_is_exactly_the_documented_names() -> None:
    assert sorted(lienthong.calendar.__all__) == [
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


def test_every_public_name_has_a_docstring() -> None:
    for name in lienthong.calendar.__all__:
        if name == "Punctuality":  # a Literal alias; documented by the attribute docstring in its module
            continue
        assert getattr(lienthong.calendar, name).__doc__, name
