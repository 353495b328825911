"""Where the calendar's override table comes from: `LIENTHONG_CALENDAR_OVERRIDES`.

Every user of the calendar (due dates, `lienthong calendar`, the SLA watch, `lienthong report overdue`,
KPIs) builds its `WorkingCalendar` with `configured_calendar()`: the shipped official table
(`lienthong/calendar/data/vn_official_days.yaml`) with the operator's file, when set, laid over it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from lienthong.calendar.overrides import CalendarOverrides, load_overrides, official_overrides
from lienthong.calendar.working_calendar import WorkingCalendar

__all__ = ["CalendarSettings", "configured_calendar", "configured_overrides"]


class CalendarSettings(BaseSettings):
    """Calendar settings (`LIENTHONG_CALENDAR_*`)."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_CALENDAR_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    overrides: Path | None = None
    """Operator's override table (YAML or JSON: `days_off`, `working_days` with `date`/`name`/`source`,
    `ignored_holidays`), laid over the shipped official table; for a date both list, this file wins.
    Empty = the shipped table alone. `lienthong calendar days --year Y` prints the result."""


def configured_overrides(path: Path | None = None) -> CalendarOverrides:
    """The shipped official table with the operator's file (`path`, default the setting) laid over it.

    Raises `OverridesFileError` (a `ConfigurationError`) when the operator's file cannot be used.
    """
    file = path if path is not None else CalendarSettings().overrides
    if file is None or str(file) == "":
        return official_overrides()
    stat = Path(file).stat() if Path(file).is_file() else None
    return _layered(str(file), stat.st_mtime_ns if stat else 0)


@functools.lru_cache(maxsize=8)
def _layered(file: str, mtime_ns: int) -> CalendarOverrides:
    del mtime_ns  # part of the cache key only: an edited file is read again
    return official_overrides().layered(load_overrides(file))


def configured_calendar(path: Path | None = None) -> WorkingCalendar:
    """A `WorkingCalendar` with `configured_overrides(path)`."""
    return WorkingCalendar(overrides=configured_overrides(path))
