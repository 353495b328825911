"""KPI arithmetic over projection rows, counted as the official reports count them, per agency, field and channel.

Pure functions (`kpi_table`, `overdue_dossiers`) and a `KpiTally` that folds rows chunk by chunk, plus
two query wrappers that read a `KpiStore`. For a period [start, end) (REFERENCE sections 3, 5 and 7):

- received (tiếp nhận mới): accepted, with `NgayTiepNhan` in the period; refused dossiers (status 3)
  and ones still waiting for acceptance (1) are not received; `accepted` is the same count;
- carried over (kỳ trước chuyển qua): accepted before the period and not closed before it started;
- refused: status 3, refused in the period; withdrawn: status 7, ended in the period; returned: status
  10, handed over in the period;
- finished early / on time / late: status 9 or 10 with `NgayKetThucXuLy` in the period (not by receipt
  period), classified by local *dates* against the due date (`lienthong.calendar.classify`); a dossier
  that apologised for being late is judged against the date before its apology; one without a due date
  is not rated;
- on-or-before-time rate = (early + on_time) / finished, e.g. 154,550 of 156,467 = 98.77%;
- in progress at the period's end (or now, if sooner), on time or overdue (due date passed);
- online share = online / received, e.g. 51,443 of 148,114 = 34.7%;
- overdue open: clock running (status 2 or 4) and strictly past its due moment at `now`.

Unbounded (no start, no end), every dossier is in the period.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from lienthong.calendar import WorkingCalendar, classify, configured_calendar, is_overdue
from lienthong.calendar.config import VIETNAM_TZ
from lienthong.kpi.store import KpiStore, ProjectedDossier
from lienthong.schemas.dossier import Channel, DossierStatus

__all__ = [
    "GROUP_KEYS",
    "GroupKey",
    "KpiReport",
    "KpiRow",
    "KpiTally",
    "OverdueDossier",
    "kpi_table",
    "load_overdue",
    "load_report",
    "overdue_dossiers",
    "period_bounds",
]

GroupKey = Literal["agency", "field", "channel"]
"""A dimension the table can be grouped by."""

GROUP_KEYS: tuple[GroupKey, ...] = ("agency", "field", "channel")
"""Every dimension, in display order (also the default grouping)."""

_FINISHED = frozenset({DossierStatus.FINISHED, DossierStatus.RETURNED})
_HOUR = timedelta(hours=1)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class KpiRow:
    """One line of the KPI table: the counts of one group (or of everything, when not grouped)."""

    agency: str | None = None
    """Receiving unit's agency code, or None when the table is not grouped by agency."""
    field: str | None = None
    """Field (lĩnh vực) code, or None when not grouped by field."""
    channel: str | None = None
    """`counter`, `online` or `post`, or None when not grouped by channel."""
    received: int = 0
    """Dossiers received (accepted, `NgayTiepNhan`) in the period; refused ones are not received."""
    accepted: int = 0
    """The same dossiers (kept for callers of the earlier report)."""
    refused: int = 0
    """Refused at intake (status 3) in the period."""
    withdrawn: int = 0
    """Withdrawn by the applicant (status 7) in the period."""
    returned: int = 0
    """Result handed over (status 10) in the period."""
    online: int = 0
    """Of the received, submitted online."""
    early: int = 0
    """Finished in the period on a day before the due day (trước hạn)."""
    on_time: int = 0
    """Finished in the period on the due day (đúng hạn)."""
    late: int = 0
    """Finished in the period on a day after the due day (quá hạn)."""
    overdue_open: int = 0
    """Still open with the clock running and past the due moment at `now`."""
    carried_over: int = 0
    """Received before the period and still in progress when it started (từ kỳ trước chuyển qua)."""
    in_progress_on_time: int = 0
    """In progress at the period's end (or now, if sooner), due date not passed (đang giải quyết, trong hạn)."""
    in_progress_overdue: int = 0
    """In progress at the period's end (or now, if sooner), due date passed (đang giải quyết, quá hạn)."""

    @property
    def finished(self) -> int:
        """Finished dossiers that could be rated (early + on time + late)."""
        return self.early + self.on_time + self.late

    @property
    def to_handle(self) -> int:
        """Dossiers to handle in the period: carried over + received."""
        return self.carried_over + self.received

    @property
    def on_or_before_time(self) -> int:
        """Finished early or on time."""
        return self.early + self.on_time

    @property
    def on_time_rate(self) -> float | None:
        """Share of finished dossiers finished on or before time, 0..1; None when none finished."""
        return _share(self.on_or_before_time, self.finished)

    @property
    def late_rate(self) -> float | None:
        """Share of finished dossiers finished late, 0..1; None when none finished."""
        return _share(self.late, self.finished)

    @property
    def online_share(self) -> float | None:
        """Share of received dossiers submitted online, 0..1; None when none received."""
        return _share(self.online, self.received)

    def as_dict(self) -> dict[str, Any]:
        """Counts and rates as plain JSON values; rates as percentages rounded to 2 decimals."""

        def pct(rate: float | None) -> float | None:
            return None if rate is None else round(rate * 100, 2)

        return {
            "agency": self.agency, "field": self.field, "channel": self.channel,
            "received": self.received, "accepted": self.accepted, "refused": self.refused,
            "withdrawn": self.withdrawn, "returned": self.returned, "online": self.online,
            "finished": self.finished, "early": self.early, "on_time": self.on_time, "late": self.late,
            "overdue_open": self.overdue_open, "carried_over": self.carried_over,
            "in_progress_on_time": self.in_progress_on_time, "in_progress_overdue": self.in_progress_overdue,
            "on_or_before_time_pct": pct(self.on_time_rate),
            "late_pct": pct(self.late_rate), "online_pct": pct(self.online_share),
        }  # fmt: skip


# Positions of the counters in a tally list (KpiRow's count fields, in order).
_COUNTS = ("received", "accepted", "refused", "withdrawn", "returned", "online", "early", "on_time",
           "late", "overdue_open", "carried_over", "in_progress_on_time", "in_progress_overdue")  # fmt: skip
_CLOSED = frozenset({DossierStatus.WITHDRAWN, DossierStatus.STOPPED, DossierStatus.FINISHED, DossierStatus.RETURNED})
_SLOT = {name: i for i, name in enumerate(_COUNTS)}


class KpiTally:
    """Folds projection rows into `KpiRow`s, one chunk at a time (for streamed queries).

    `now` decides which open dossiers are overdue; `start`/`end` bound the period (None: unbounded). The
    tally keeps a running total beside the groups.
    """

    def __init__(
        self,
        group_by: Sequence[str] = GROUP_KEYS,
        *,
        now: datetime,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        unknown = [g for g in group_by if g not in GROUP_KEYS]
        if unknown:
            raise ValueError(f"cannot group by {', '.join(unknown)}; choose from {', '.join(GROUP_KEYS)}")
        self.group_by: tuple[GroupKey, ...] = tuple(g for g in GROUP_KEYS if g in group_by)
        """The grouping, in display order."""
        self.now = now
        """The moment open dossiers are judged overdue at."""
        self.start = start
        """First moment of the period (inclusive), or None."""
        self.end = end
        """End of the period (exclusive), or None."""
        self._as_of = now if end is None else min(now, end)
        self._groups: dict[tuple[str, ...], list[int]] = {}
        self._total = [0] * len(_COUNTS)

    def _key(self, row: ProjectedDossier) -> tuple[str, ...]:
        parts = {"agency": row.agency_code, "field": row.field_code, "channel": row.channel.value}
        return tuple(parts[g] for g in self.group_by)

    def add(self, rows: Iterable[ProjectedDossier]) -> None:
        """Count `rows` in."""
        for row in rows:
            counts = self._groups.get(key := self._key(row))
            if counts is None:
                counts = self._groups[key] = [0] * len(_COUNTS)
            for slot in self._slots(row):
                counts[slot] += 1
                self._total[slot] += 1

    def _in(self, t: datetime | None) -> bool:
        return t is not None and (self.start is None or t >= self.start) and (self.end is None or t < self.end)

    @staticmethod
    def _closed_before(row: ProjectedDossier, t: datetime) -> bool:
        return row.status in _CLOSED and (row.closed_at is None or row.closed_at < t)

    def _slots(self, row: ProjectedDossier) -> list[int]:
        slots: list[int] = []
        if row.accepted and self._in(row.received_at):
            slots += [_SLOT["received"], _SLOT["accepted"]]
            if row.channel is Channel.ONLINE:
                slots.append(_SLOT["online"])
        if row.refused and self._in(row.received_at):
            slots.append(_SLOT["refused"])
        if row.withdrawn and self._in(row.closed_at or row.received_at):
            slots.append(_SLOT["withdrawn"])
        if row.status is DossierStatus.RETURNED and self._in(row.returned_at or row.finished_at):
            slots.append(_SLOT["returned"])
        start = self.start
        if start is not None and row.accepted and row.received_at < start and not self._closed_before(row, start):
            slots.append(_SLOT["carried_over"])
        if row.status in _FINISHED and row.due_at is not None and self._in(row.finished_at):
            slots.append(_SLOT[classify(row.due_at, row.finished_at)])  # type: ignore[arg-type]
        as_of = self._as_of
        if row.accepted and row.received_at < as_of and not self._closed_before(row, as_of):
            overdue = row.due_at is not None and row.due_at < as_of
            slots.append(_SLOT["in_progress_overdue" if overdue else "in_progress_on_time"])
        if row.due_at is not None and row.is_open and is_overdue(row.due_at, self.now):
            slots.append(_SLOT["overdue_open"])
        return slots

    def _row(self, key: tuple[str, ...], counts: list[int]) -> KpiRow:
        named: dict[str, Any] = dict(zip(self.group_by, key, strict=True))
        named.update(zip(_COUNTS, counts, strict=True))
        return KpiRow(**named)

    def rows(self) -> list[KpiRow]:
        """One row per group seen, sorted by the group's codes. Not grouped: exactly one row."""
        if not self.group_by:
            return [self.total()]
        return [self._row(key, self._groups[key]) for key in sorted(self._groups)]

    def total(self) -> KpiRow:
        """All rows counted together."""
        counts: dict[str, Any] = dict(zip(_COUNTS, self._total, strict=True))
        return KpiRow(**counts)


def kpi_table(
    rows: Iterable[ProjectedDossier], group_by: Sequence[str] = GROUP_KEYS, *, now: datetime | None = None
) -> list[KpiRow]:
    """The KPI table of `rows`, one `KpiRow` per group (`group_by` ⊆ agency, field, channel).

    `now` (default: the current time) decides which open dossiers count as overdue. Grouped by
    nothing, the table is one total row. Raises ValueError for an unknown grouping.
    """
    tally = KpiTally(group_by, now=now or datetime.now(UTC))
    tally.add(rows)
    return tally.rows()


@dataclass(frozen=True, slots=True)
class KpiReport:
    """A KPI table over a reporting period, as `lienthong report kpi` prints it."""

    received_from: date | None
    """First day of the period (local), inclusive; None = unbounded."""
    received_to: date | None
    """Last day of the period (local), inclusive; None = unbounded."""
    group_by: tuple[GroupKey, ...]
    """The grouping of `rows`."""
    now: datetime
    """The moment open dossiers were judged overdue at."""
    rows: tuple[KpiRow, ...]
    """One row per group."""
    total: KpiRow
    """Everything in the period."""

    def as_dict(self) -> dict[str, Any]:
        """The report as one JSON object."""
        return {
            "from": self.received_from.isoformat() if self.received_from else None,
            "to": self.received_to.isoformat() if self.received_to else None,
            "by": list(self.group_by),
            "now": self.now.isoformat(),
            "rows": [r.as_dict() for r in self.rows],
            "total": self.total.as_dict(),
        }


def period_bounds(received_from: date | None, received_to: date | None) -> tuple[datetime | None, datetime | None]:
    """[start, end) moments of the local-date period `received_from..received_to` (both inclusive)."""
    start = datetime.combine(received_from, time(), tzinfo=VIETNAM_TZ) if received_from else None
    end = datetime.combine(received_to + timedelta(days=1), time(), tzinfo=VIETNAM_TZ) if received_to else None
    return start, end


async def load_report(
    store: KpiStore,
    *,
    received_from: date | None,
    received_to: date | None,
    group_by: Sequence[str] = GROUP_KEYS,
    now: datetime | None = None,
) -> KpiReport:
    """The KPI report of the period `received_from..received_to` (local dates, inclusive), counted as in
    the module docstring (intake by `NgayTiepNhan`, finished by `NgayKetThucXuLy`, carry-over)."""
    start, end = period_bounds(received_from, received_to)
    tally = KpiTally(group_by, now=now or datetime.now(UTC), start=start, end=end)
    async for chunk in store.iter_period(start=start, end=end):
        tally.add(chunk)
    return KpiReport(received_from, received_to, tally.group_by, tally.now, tuple(tally.rows()), tally.total())


@dataclass(frozen=True, slots=True)
class OverdueDossier:
    """An open dossier past its due moment (codes and dates only: no personal data)."""

    dossier_code: str
    """The dossier code."""
    agency_code: str
    """Receiving unit's agency code."""
    field_code: str
    """Field (lĩnh vực) code."""
    due_at: datetime
    """The due moment that passed."""
    working_time_late: timedelta
    """Working time elapsed since the due moment."""

    @property
    def working_hours_late(self) -> float:
        """`working_time_late` in hours."""
        return self.working_time_late / _HOUR

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values; hours rounded to 2 decimals, due moment in local time."""
        return {
            "dossier_code": self.dossier_code,
            "agency": self.agency_code,
            "field": self.field_code,
            "due_at": self.due_at.astimezone(VIETNAM_TZ).isoformat(),
            "working_hours_late": round(self.working_hours_late, 2),
        }


def overdue_dossiers(
    rows: Iterable[ProjectedDossier], now: datetime, calendar: WorkingCalendar | None = None
) -> list[OverdueDossier]:
    """The open dossiers among `rows` that are overdue at `now`, most working time late first."""
    cal = calendar or configured_calendar()
    found = [
        OverdueDossier(r.dossier_code, r.agency_code, r.field_code, r.due_at, cal.working_time_between(r.due_at, now))
        for r in rows
        if r.is_open and r.due_at is not None and is_overdue(r.due_at, now)
    ]
    return sorted(found, key=lambda o: (-o.working_time_late, o.due_at, o.dossier_code))


async def load_overdue(
    store: KpiStore, *, now: datetime | None = None, calendar: WorkingCalendar | None = None
) -> list[OverdueDossier]:
    """Every open dossier in the projection that is overdue at `now` (default: the current time)."""
    moment = now or datetime.now(UTC)
    return overdue_dossiers(await store.open_due_by(moment), moment, calendar)
