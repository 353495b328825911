"""KPI arithmetic over projection rows: counts, on-time rate and online share per agency, field and channel.

Pure functions (`kpi_table`, `overdue_dossiers`) and a `KpiTally` that folds rows chunk by chunk, plus
two query wrappers that read a `KpiStore`. The definitions follow REFERENCE sections 3, 5 and 7:

- received: every dossier placed in the period (see `ProjectedDossier.received_at`);
- accepted: reached status 2 (not pending, not refused, not withdrawn before acceptance);
- refused: status 3; returned: status 10;
- finished early / on time / late: status 9 or 10 with both `finished_at` and `due_at`, classified by
  local *dates* (`lienthong.calendar.classify`); a finished dossier without a due moment is not rated;
- on-or-before-time rate = (early + on_time) / finished, e.g. 154,550 of 156,467 = 98.77%;
- online share = online / received, e.g. 51,443 of 148,114 = 34.7%;
- overdue open: clock running (status 2 or 4) and strictly past its due moment at `now`.
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
    """Dossiers received in the period."""
    accepted: int = 0
    """Of those, accepted (status 2 reached)."""
    refused: int = 0
    """Refused at intake (status 3)."""
    withdrawn: int = 0
    """Withdrawn by the applicant (status 7)."""
    returned: int = 0
    """Result handed over (status 10)."""
    online: int = 0
    """Submitted online."""
    early: int = 0
    """Finished on a day before the due day (trước hạn)."""
    on_time: int = 0
    """Finished on the due day (đúng hạn)."""
    late: int = 0
    """Finished on a day after the due day (quá hạn)."""
    overdue_open: int = 0
    """Still open with the clock running and past the due moment."""

    @property
    def finished(self) -> int:
        """Finished dossiers that could be rated (early + on time + late)."""
        return self.early + self.on_time + self.late

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
            "overdue_open": self.overdue_open, "on_or_before_time_pct": pct(self.on_time_rate),
            "late_pct": pct(self.late_rate), "online_pct": pct(self.online_share),
        }  # fmt: skip


# Positions of the counters in a tally list (KpiRow's count fields, in order).
_COUNTS = ("received", "accepted", "refused", "withdrawn", "returned", "online", "early", "on_time",
           "late", "overdue_open")  # fmt: skip
_SLOT = {name: i for i, name in enumerate(_COUNTS)}


class KpiTally:
    """Folds projection rows into `KpiRow`s, one chunk at a time (for streamed queries).

    `now` decides which open dossiers are overdue; the tally keeps a running total beside the groups.
    """

    def __init__(self, group_by: Sequence[str] = GROUP_KEYS, *, now: datetime) -> None:
        unknown = [g for g in group_by if g not in GROUP_KEYS]
        if unknown:
            raise ValueError(f"cannot group by {', '.join(unknown)}; choose from {', '.join(GROUP_KEYS)}")
        self.group_by: tuple[GroupKey, ...] = tuple(g for g in GROUP_KEYS if g in group_by)
        """The grouping, in display order."""
        self.now = now
        """The moment open dossiers are judged overdue at."""
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

    def _slots(self, row: ProjectedDossier) -> list[int]:
        slots = [_SLOT["received"]]
        if row.accepted:
            slots.append(_SLOT["accepted"])
        if row.refused:
            slots.append(_SLOT["refused"])
        if row.withdrawn:
            slots.append(_SLOT["withdrawn"])
        if row.status is DossierStatus.RETURNED:
            slots.append(_SLOT["returned"])
        if row.channel is Channel.ONLINE:
            slots.append(_SLOT["online"])
        if row.due_at is not None:
            if row.status in _FINISHED and row.finished_at is not None:
                slots.append(_SLOT[classify(row.due_at, row.finished_at)])
            elif row.is_open and is_overdue(row.due_at, self.now):
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
    """A KPI table over a receipt period, as `lienthong report kpi` prints it."""

    received_from: date | None
    """First receipt date (local), inclusive; None = unbounded."""
    received_to: date | None
    """Last receipt date (local), inclusive; None = unbounded."""
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
    """The KPI report of the dossiers received in `received_from..received_to` (local dates, inclusive)."""
    tally = KpiTally(group_by, now=now or datetime.now(UTC))
    start, end = period_bounds(received_from, received_to)
    async for chunk in store.iter_received(start=start, end=end):
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
