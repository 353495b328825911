"""`lienthong report ...`: the KPI table and the overdue list, read from the KPI projection.

Output carries codes, counts and dates only, never personal data. Usage errors exit with 2, an
unreachable projection with 1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from lienthong.kpi.report import KpiReport, KpiRow, OverdueDossier

__all__ = ["app"]

T = TypeVar("T")

_USAGE_ERROR = 2  # the exit code click uses for bad command-line input

app = typer.Typer(
    help="KPI reports from the dossier projection that the `kpi` flow keeps: received, accepted, "
    "on-time rate, online share, overdue dossiers. No personal data is shown.",
    no_args_is_help=True,
)

Dsn = Annotated[
    str | None,
    typer.Option("--dsn", help="Projection DSN, sqlite:///PATH or postgresql://... (default: kpi.db under "
                 "LIENTHONG_STATE_DIR)."),
]  # fmt: skip
Now = Annotated[
    str | None,
    typer.Option("--now", help="Judge overdue at this ISO 8601 moment instead of now (reproducible reports)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def _fail(message: str, code: int = _USAGE_ERROR) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _parse_date(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} {value!r} is not a date; write YYYY-MM-DD, e.g. 2021-07-15")


def _parse_now(value: str | None) -> datetime:
    from lienthong.calendar.config import to_local

    if value is None:
        return to_local(datetime.now(UTC))
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--now {value!r} is not an ISO 8601 date-time; write e.g. 2025-07-03T09:00+07:00")
    return to_local(moment)


def _parse_by(value: str) -> tuple[str, ...]:
    from lienthong.kpi.report import GROUP_KEYS

    parts = tuple(p.strip() for p in value.split(",") if p.strip())
    unknown = [p for p in parts if p not in GROUP_KEYS]
    if unknown:
        _fail(f"--by {', '.join(unknown)}: choose from {','.join(GROUP_KEYS)} (comma-separated, or '' for totals)")
    return parts


def _resolve_dsn(dsn: str | None) -> str:
    from lienthong.bus.idempotency import sqlalchemy_url
    from lienthong.kpi.store import default_kpi_dsn
    from lienthong.settings import Settings

    resolved = dsn or default_kpi_dsn(Settings())
    try:
        url = sqlalchemy_url(resolved)
    except ValueError as exc:
        _fail(f"--dsn: {exc}")
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite+aiosqlite:///"))
        if not path.is_file():
            _fail(f"no KPI projection at {path}: run the kpi flow first, or pass --dsn", code=1)
    return resolved


def _run(coro: Coroutine[Any, Any, T]) -> T:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return asyncio.run(coro)
    except (SQLAlchemyError, OSError) as exc:
        _fail(f"cannot read the KPI projection ({type(exc).__name__}: {exc}); check --dsn", code=1)


async def _load_report(dsn: str, start: date, end: date, by: tuple[str, ...], now: datetime) -> KpiReport:
    from lienthong.kpi.report import load_report
    from lienthong.kpi.store import KpiStore

    store = KpiStore(dsn)
    try:
        await store.open()
        return await load_report(store, received_from=start, received_to=end, group_by=by, now=now)
    finally:
        await store.close()


async def _load_overdue(dsn: str, now: datetime) -> list[OverdueDossier]:
    from lienthong.kpi.report import load_overdue
    from lienthong.kpi.store import KpiStore

    store = KpiStore(dsn)
    try:
        await store.open()
        return await load_overdue(store, now=now)
    finally:
        await store.close()


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.2f}%"


def _kpi_cells(row: KpiRow) -> list[str]:
    return [
        f"{row.carried_over:,}", f"{row.received:,}", f"{row.refused:,}", f"{row.returned:,}", f"{row.early:,}",
        f"{row.on_time:,}", f"{row.late:,}", _pct(row.on_time_rate), f"{row.in_progress_on_time:,}",
        f"{row.in_progress_overdue:,}", _pct(row.online_share), f"{row.overdue_open:,}",
    ]  # fmt: skip


_GROUP_TITLES = {"agency": "Agency", "field": "Field", "channel": "Channel"}
_KPI_COLUMNS = ("Carried over", "Received", "Refused", "Returned", "Early", "On time", "Late", "On/before time",
                "In progress on time", "In progress overdue", "Online", "Overdue open now")  # fmt: skip


@app.command(epilog="Example: lienthong report kpi --from 2019-04-19 --to 2021-07-15 --by agency")
def kpi(
    *,
    date_from: Annotated[str, typer.Option("--from", help="First day of the period, YYYY-MM-DD (inclusive, local).")],
    date_to: Annotated[str, typer.Option("--to", help="Last day of the period, YYYY-MM-DD (inclusive, local).")],
    as_json: AsJson = False,
    by: Annotated[
        str, typer.Option("--by", help="Group by, comma-separated: agency, field, channel; '' for totals only.")
    ] = "agency,field,channel",
    dsn: Dsn = None,
    now: Now = None,
) -> None:
    """KPI table of a period as the official reports count it: carried over, received (by NgayTiepNhan;
    refused ones are not received), finished early / on time / late (by NgayKetThucXuLy in the period),
    in progress at the period's end on time / overdue.

    On-or-before-time rate = (early + on time) / finished, comparing the finishing date with the due
    date (before any apology); online share = online / received; overdue open now = clock running and
    past the due moment at --now.
    """
    start, end = _parse_date("--from", date_from), _parse_date("--to", date_to)
    if end < start:
        _fail(f"--to {end} is before --from {start}")
    groups, moment = _parse_by(by), _parse_now(now)
    report = _run(_load_report(_resolve_dsn(dsn), start, end, groups, moment))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    table = Table(title=f"Dossiers, period {start} .. {end}", title_justify="left")
    for g in report.group_by:
        table.add_column(_GROUP_TITLES[g])
    for title in _KPI_COLUMNS:
        table.add_column(title, justify="right")
    if report.group_by:
        for row in report.rows:
            keys = {"agency": row.agency, "field": row.field, "channel": row.channel}
            table.add_row(*[keys[g] or "" for g in report.group_by], *_kpi_cells(row))
        table.add_section()
    total_label = ["Total", *[""] * (len(report.group_by) - 1)] if report.group_by else []
    table.add_row(*total_label, *_kpi_cells(report.total), style="bold")
    Console().print(table)


@app.command(epilog="Example: lienthong report overdue --json")
def overdue(*, as_json: AsJson = False, dsn: Dsn = None, now: Now = None) -> None:
    """Open dossiers past their due moment, most working hours late first (codes and dates only)."""
    moment = _parse_now(now)
    found = _run(_load_overdue(_resolve_dsn(dsn), moment))
    if as_json:
        payload = {"now": moment.isoformat(), "count": len(found), "dossiers": [o.as_dict() for o in found]}
        typer.echo(json.dumps(payload, ensure_ascii=False))
        return
    console = Console()
    if not found:
        console.print(f"No open dossier is overdue at {moment:%Y-%m-%d %H:%M %z}.")
        return
    table = Table(title=f"{len(found)} overdue open dossier(s) at {moment:%Y-%m-%d %H:%M %z}", title_justify="left")
    for title in ("Dossier", "Agency", "Field", "Due"):
        table.add_column(title)
    table.add_column("Working hours late", justify="right")
    for o in found:
        item = o.as_dict()
        table.add_row(o.dossier_code, o.agency_code, o.field_code, item["due_at"], f"{item['working_hours_late']:.2f}")
    console.print(table)
