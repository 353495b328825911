"""Public holidays and government make-up working days, from the `holidays` package, cached per year."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import holidays

__all__ = ["YearDaysOff", "year_days_off"]


@dataclass(frozen=True, slots=True)
class YearDaysOff:
    """One year's national calendar exceptions for one country."""

    public_holidays: frozenset[date]
    """Days off by law or by government decision, observed (nghỉ bù) and swapped days included,
    e.g. Friday 2 May 2025. Some fall on weekends (Saturday 1 Feb 2025, fourth day of Tết)."""

    makeup_working_days: frozenset[date]
    """Weekend days worked instead of a swapped day off (ngày làm bù), e.g. Saturday 26 Apr 2025."""

    names: Mapping[date, str] = field(default_factory=dict)
    """English name of each public holiday as the package spells it (several joined by "; ")."""


# Hot path: every working-day test needs its year, and building a `holidays` year (lunar
# calendar included) costs about a millisecond; the set of years in use is small.
@functools.lru_cache(maxsize=256)
def year_days_off(country: str, year: int) -> YearDaysOff:
    """Return the public holidays and make-up working days of `year` in `country`.

    The `holidays` package records a government swap as a substituted holiday ("Day off
    (substituted from 04/26/2025)") and lists the weekend day worked in exchange in the
    entity's `weekend_workdays` set, which may include days of neighbouring years: only the
    days of `year` are kept.
    """
    calendar = holidays.country_holidays(country, years=year)
    return YearDaysOff(
        public_holidays=frozenset(d for d in calendar if d.year == year),
        makeup_working_days=frozenset(d for d in calendar.weekend_workdays if d.year == year),
        names={d: str(name) for d, name in calendar.items() if d.year == year},
    )
