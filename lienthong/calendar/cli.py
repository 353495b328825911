"""`lienthong calendar ...`: compute a due moment or classify a finished dossier from the shell."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from lienthong.calendar.classification import classify
from lienthong.calendar.overrides import OverridesFileError
from lienthong.calendar.settings import configured_calendar
from lienthong.calendar.working_calendar import WorkingCalendar

__all__ = ["app"]

_USAGE_ERROR = 2  # the exit code click uses for bad command-line input

app = typer.Typer(
    help=(
        "Working-time calendar: due moments (ngày hẹn trả), on-time classification and the year's "
        "working days. Times are ISO 8601; a time without an offset is read as Asia/Ho_Chi_Minh. Days off: "
        "the holidays package, the shipped official table and LIENTHONG_CALENDAR_OVERRIDES."
    ),
    no_args_is_help=True,
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(_USAGE_ERROR)


def _parse_moment(option: str, value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is not an ISO 8601 date-time; write e.g. 2025-05-09T16:00+07:00")


def _calendar(overrides: Path | None) -> WorkingCalendar:
    try:
        return configured_calendar(overrides)
    except (OverridesFileError, OSError) as exc:
        _fail(str(exc))


def _parse_cutoff(value: str) -> time:
    try:
        return time.fromisoformat(value)
    except ValueError:
        _fail(f"--cutoff {value!r} is not a time of day; write HH:MM, e.g. 15:00")


def _parse_pause(value: str) -> tuple[datetime, datetime]:
    start, slash, end = value.partition("/")
    if not slash:
        _fail(f"--pause {value!r} must be START/END, e.g. 2025-05-12T08:00+07:00/2025-05-13T08:00+07:00")
    return _parse_moment("--pause start", start), _parse_moment("--pause end", end)


@app.command(
    epilog=(
        "Example: lienthong calendar due --received 2025-05-09T16:00+07:00 --days 1 prints 2025-05-12T16:00:00+07:00"
    )
)
def due(
    *,
    received: Annotated[str, typer.Option(help="Moment of receipt, ISO 8601, e.g. 2025-05-09T16:00+07:00.")],
    days: Annotated[int | None, typer.Option(help="Limit in working days (8 working hours each).")] = None,
    hours: Annotated[int | None, typer.Option(help="Limit in working hours.")] = None,
    calendar_days: Annotated[
        int | None,
        typer.Option(help="Limit in calendar days; a day off moves to the next working day."),
    ] = None,
    same_day: Annotated[
        bool,
        typer.Option(
            "--same-day",
            help="Same-day limit: the end of the day of receipt, or of the next working day when received "
            "after --cutoff (e.g. certification).",
        ),
    ] = False,
    cutoff: Annotated[
        str | None,
        typer.Option(
            help="With --same-day: receipt after this local time HH:MM (default 15:00) is due the next working day."
        ),
    ] = None,
    pause: Annotated[
        list[str] | None,
        typer.Option(help="Clock pause START/END (status 5 or 6), ISO 8601; repeat for several pauses."),
    ] = None,
    overrides: Annotated[
        Path | None,
        typer.Option(
            help="Override file (.json/.yaml) laid over the shipped official table "
            "(default: LIENTHONG_CALENDAR_OVERRIDES)."
        ),
    ] = None,
) -> None:
    """Print the due moment of a dossier as ISO 8601 with offset. Give exactly one limit."""
    limits = [
        name
        for name, value in (("--days", days), ("--hours", hours), ("--calendar-days", calendar_days))
        if value is not None
    ]
    if same_day:
        limits.append("--same-day")
    if len(limits) != 1:
        _fail(
            f"give exactly one of --days, --hours, --calendar-days or --same-day (got: {', '.join(limits) or 'none'})"
        )
    if cutoff is not None and not same_day:
        _fail("--cutoff goes with --same-day")
    received_at = _parse_moment("--received", received)
    pauses = [_parse_pause(value) for value in pause or []]
    cal = _calendar(overrides)
    try:
        moment = cal.due_moment(
            received_at, days=days, hours=hours, calendar_days=calendar_days, same_day=same_day,
            cutoff=None if cutoff is None else _parse_cutoff(cutoff), pauses=pauses,
        )  # fmt: skip
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(moment.isoformat())


@app.command(
    name="classify",
    epilog=(
        "Example: lienthong calendar classify --due 2025-05-12T16:00+07:00 "
        "--finished 2025-05-12T16:45+07:00 prints on_time"
    ),
)
def classify_command(
    *,
    due: Annotated[str, typer.Option(help="Due moment (NgayHenTra), ISO 8601.")],
    finished: Annotated[str, typer.Option(help="End of processing (NgayKetThucXuLy), ISO 8601.")],
) -> None:
    """Print early, on_time or late, comparing the local dates of --finished and --due."""
    typer.echo(classify(_parse_moment("--due", due), _parse_moment("--finished", finished)))


@app.command(
    epilog="Example: lienthong calendar days --year 2026 --only-exceptions prints 2026-01-02 Fri off ... and "
    "2026-01-10 Sat working ..."
)
def days(
    *,
    year: Annotated[int, typer.Option(help="Calendar year, e.g. 2026.", min=1900, max=2200)],
    only_exceptions: Annotated[
        bool, typer.Option("--only-exceptions", help="Only days that differ from the plain Monday-Friday week.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of lines.")] = False,
    overrides: Annotated[
        Path | None,
        typer.Option(help="Override file laid over the shipped table (default: LIENTHONG_CALENDAR_OVERRIDES)."),
    ] = None,
) -> None:
    """Print every day of a year as working or off, with the reason and its legal source.

    Lines read `YYYY-MM-DD Ddd working|off  reason  [source]`, then the totals.
    """
    cal = _calendar(overrides)
    infos = []
    day = date(year, 1, 1)
    while day.year == year:
        infos.append(cal.explain(day))
        day += timedelta(days=1)
    working = sum(info.working for info in infos)
    weekend = cal.config.weekend_days
    shown = [i for i in infos if not only_exceptions or i.working == (i.day.weekday() in weekend)]
    if as_json:
        payload = {
            "year": year,
            "working_days": working,
            "non_working_days": len(infos) - working,
            "days": [
                {"date": i.day.isoformat(), "weekday": f"{i.day:%a}", "working": i.working, "reason": i.reason,
                 "source": i.source}
                for i in shown
            ],
        }  # fmt: skip
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    for i in shown:
        source = f"  [{i.source}]" if i.source else ""
        typer.echo(f"{i.day.isoformat()} {i.day:%a} {'working' if i.working else 'off':7}  {i.reason}{source}")
    typer.echo(f"{year}: {working} working days, {len(infos) - working} non-working days")
