"""`lienthong calendar ...`: compute a due moment or classify a finished dossier from the shell."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from lienthong.calendar.classification import classify
from lienthong.calendar.overrides import CalendarOverrides, OverridesFileError, load_overrides
from lienthong.calendar.working_calendar import WorkingCalendar

__all__ = ["app"]

_USAGE_ERROR = 2  # the exit code click uses for bad command-line input

app = typer.Typer(
    help=(
        "Working-time calendar: due moments (ngày hẹn trả) and on-time classification. "
        "Times are ISO 8601; a time without an offset is read as Asia/Ho_Chi_Minh."
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
    pause: Annotated[
        list[str] | None,
        typer.Option(help="Clock pause START/END (status 5 or 6), ISO 8601; repeat for several pauses."),
    ] = None,
    overrides: Annotated[
        Path | None,
        typer.Option(help="Override file (.json/.yaml) with extra_days_off and extra_working_days."),
    ] = None,
) -> None:
    """Print the due moment of a dossier as ISO 8601 with offset. Give exactly one limit."""
    limits = [
        name
        for name, value in (("--days", days), ("--hours", hours), ("--calendar-days", calendar_days))
        if value is not None
    ]
    if len(limits) != 1:
        _fail(f"give exactly one of --days, --hours or --calendar-days (got: {', '.join(limits) or 'none'})")
    received_at = _parse_moment("--received", received)
    pauses = [_parse_pause(value) for value in pause or []]
    table = CalendarOverrides()
    if overrides is not None:
        try:
            table = load_overrides(overrides)
        except OverridesFileError as exc:
            _fail(str(exc))
    try:
        moment = WorkingCalendar(overrides=table).due_moment(
            received_at, days=days, hours=hours, calendar_days=calendar_days, pauses=pauses
        )
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
