"""The KPI projection: one row per dossier with what the reports and the SLA watch read.

The `kpi` flow folds `dossier.events` into it; `lienthong report` and `SlaWatch` read it. A row holds
codes, status and dates only, never personal data. Writes are idempotent and ordered by the dossier's
own version, so redelivered or reordered events never move a dossier backwards. SQLAlchemy async core:
aiosqlite embedded, asyncpg in production (same DSN forms as the idempotency store).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    bindparam,
    case,
    false,
    func,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping

from lienthong.bus.idempotency import create_tables, open_engine
from lienthong.calendar.config import VIETNAM_TZ
from lienthong.mappings.apology import original_due
from lienthong.schemas.dossier import Channel, Dossier, DossierStatus
from lienthong.schemas.validators import validate_dossier_code
from lienthong.settings import Settings

__all__ = [
    "OPEN_STATUSES",
    "AlertKind",
    "KpiStore",
    "ProjectedDossier",
    "default_kpi_dsn",
    "project",
]

AlertKind = Literal["due_soon", "overdue"]
"""The two SLA alerts: one working day or less left, and past the due moment."""

OPEN_STATUSES: frozenset[DossierStatus] = frozenset({DossierStatus.ACCEPTED, DossierStatus.PROCESSING})
"""Statuses whose processing clock runs (REFERENCE section 3). Paused dossiers (5 supplement, 6 payment)
are left out on purpose: a pause moves their due moment back, so their stored due moment is stale
until the one-stop system sends the new one."""

_NEVER_ACCEPTED = frozenset({DossierStatus.SUBMITTED, DossierStatus.REFUSED})


class _UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC. SQLite keeps no offset, so a naive value read back is UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("the KPI store takes timezone-aware datetimes only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_meta = MetaData()
dossier_kpi = Table(
    "dossier_kpi",
    _meta,
    Column("dossier_code", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("agency_code", String(64), nullable=False),
    Column("field_code", Text, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("received_at", _UtcDateTime, nullable=False),
    Column("due_at", _UtcDateTime),
    Column("finished_at", _UtcDateTime),
    Column("returned_at", _UtcDateTime),
    Column("closed_at", _UtcDateTime),
    Column("refused", Boolean, nullable=False),
    Column("withdrawn", Boolean, nullable=False),
    Column("alerted_due_soon", Boolean, nullable=False),
    Column("alerted_overdue", Boolean, nullable=False),
    Column("updated_at", _UtcDateTime, nullable=False),
    Index("ix_dossier_kpi_received_at", "received_at"),
    Index("ix_dossier_kpi_status_due_at", "status", "due_at"),
)

# Columns a newer version replaces; the alert flags are handled apart (kept unless the due moment moved).
_STATE_COLUMNS = (
    "version", "agency_code", "field_code", "channel", "status", "accepted", "received_at", "due_at",
    "finished_at", "returned_at", "closed_at", "refused", "withdrawn", "updated_at",
)  # fmt: skip
_CLOSING = frozenset({DossierStatus.WITHDRAWN, DossierStatus.STOPPED, DossierStatus.FINISHED, DossierStatus.RETURNED})


@dataclass(frozen=True, slots=True)
class ProjectedDossier:
    """One row of the projection: a dossier as the KPI report and the SLA watch see it."""

    dossier_code: str
    """`<agency code>-<YYMMDD>-<NNNN>`; the key."""
    agency_code: str
    """Agency code of the receiving unit: the dossier code's part before the date."""
    field_code: str
    """Field (lĩnh vực) code of the procedure."""
    channel: Channel
    """Counter, online or post."""
    status: DossierStatus
    """Current status 1..10."""
    received_at: datetime
    """The moment that places the dossier in a reporting period: when it was accepted; for a dossier
    never accepted, when it was refused or submitted; failing all, local midnight of the code's date."""
    accepted: bool
    """The dossier was accepted at some point (status 2 reached): not pending (1), not refused (3),
    not withdrawn before acceptance."""
    version: int = 0
    """The dossier version this row reflects; only a higher version replaces it."""
    due_at: datetime | None = None
    """Due moment the dossier is judged against: `NgayHenTra`, or for a dossier that apologised for being
    late, the date before its first apology (`lienthong.mappings.apology.original_due`). None when the
    procedure has no time limit or it is not set yet."""
    finished_at: datetime | None = None
    """When processing finished (`NgayKetThucXuLy`)."""
    returned_at: datetime | None = None
    """When the result was handed over (`NgayTra`)."""
    closed_at: datetime | None = None
    """When processing ended (status 7, 8, 9 or 10): `NgayKetThucXuLy`, else the time of the step that
    withdrew or stopped it. None while open (or when a closed dossier carries no such time)."""
    refused: bool = False
    """Refused at intake (status 3)."""
    withdrawn: bool = False
    """Withdrawn by the applicant (status 7)."""
    alerted_due_soon: bool = False
    """A `due_soon` alert for the current due moment was published and acknowledged."""
    alerted_overdue: bool = False
    """An `overdue` alert for the current due moment was published and acknowledged."""
    updated_at: datetime | None = None
    """When the row was last written (None before it is stored)."""

    @property
    def is_open(self) -> bool:
        """The processing clock runs (status 2 or 4), so the dossier can become due soon or overdue."""
        return self.status in OPEN_STATUSES


def project(dossier: Dossier) -> ProjectedDossier:
    """The projection row of a dossier's full state (pure; no alert flags, no `updated_at`)."""
    status = dossier.status
    code = validate_dossier_code(dossier.code)
    placed = dossier.received_at or dossier.refused_at or dossier.submitted_at
    if placed is None:
        placed = datetime.combine(code.received_on, time(), tzinfo=VIETNAM_TZ)
    accepted = status not in _NEVER_ACCEPTED and (
        status is not DossierStatus.WITHDRAWN or dossier.received_at is not None
    )
    return ProjectedDossier(
        dossier_code=dossier.code,
        agency_code=code.agency_code,
        field_code=dossier.field_code,
        channel=dossier.channel,
        status=status,
        received_at=placed,
        accepted=accepted,
        version=dossier.version,
        due_at=original_due(dossier),
        finished_at=dossier.finished_at,
        returned_at=dossier.returned_at,
        closed_at=_closed_at(dossier),
        refused=status is DossierStatus.REFUSED,
        withdrawn=status is DossierStatus.WITHDRAWN,
    )


def _closed_at(d: Dossier) -> datetime | None:
    if d.status not in _CLOSING:
        return None
    if d.finished_at is not None:
        return d.finished_at
    ended = [step.processed_at for step in d.steps if step.status is d.status]
    return ended[-1] if ended else (d.returned_at if d.status is DossierStatus.RETURNED else None)


def default_kpi_dsn(settings: Settings) -> str:
    """The embedded projection: SQLite file `kpi.db` under the state directory."""
    return settings.kpi_dsn or f"sqlite:///{settings.state_dir / 'kpi.db'}"


def _row_values(row: ProjectedDossier, now: datetime) -> dict[str, Any]:
    return {
        "dossier_code": row.dossier_code,
        "version": row.version,
        "agency_code": row.agency_code,
        "field_code": row.field_code,
        "channel": row.channel.value,
        "status": int(row.status),
        "accepted": row.accepted,
        "received_at": row.received_at,
        "due_at": row.due_at,
        "finished_at": row.finished_at,
        "returned_at": row.returned_at,
        "closed_at": row.closed_at,
        "refused": row.refused,
        "withdrawn": row.withdrawn,
        "alerted_due_soon": False,
        "alerted_overdue": False,
        "updated_at": now,
    }


def _from_mapping(m: RowMapping) -> ProjectedDossier:
    return ProjectedDossier(
        dossier_code=m["dossier_code"],
        agency_code=m["agency_code"],
        field_code=m["field_code"],
        channel=Channel(m["channel"]),
        status=DossierStatus(m["status"]),
        received_at=m["received_at"],
        accepted=bool(m["accepted"]),
        version=m["version"],
        due_at=m["due_at"],
        finished_at=m["finished_at"],
        returned_at=m["returned_at"],
        closed_at=m["closed_at"],
        refused=bool(m["refused"]),
        withdrawn=bool(m["withdrawn"]),
        alerted_due_soon=bool(m["alerted_due_soon"]),
        alerted_overdue=bool(m["alerted_overdue"]),
        updated_at=m["updated_at"],
    )


class KpiStore:
    """The `dossier_kpi` table behind a DSN (`sqlite:///PATH` or `postgresql://...`)."""

    def __init__(self, dsn: str) -> None:
        self.engine, pg = open_engine(dsn)
        """The async engine (exposed for tests and for the composition root's health checks)."""
        self._sqlite = not pg

    async def open(self) -> None:
        """Create the table and its indexes if missing."""
        if self._sqlite:
            async with self.engine.begin() as conn:
                # WAL lets `lienthong report` read while the kpi worker writes.
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        await create_tables(self.engine, _meta)
        async with self.engine.begin() as conn:
            columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("dossier_kpi")})
            if "closed_at" not in columns:  # a projection made by an older release
                exists = " IF NOT EXISTS" if not self._sqlite else ""
                kind = "TIMESTAMP WITH TIME ZONE" if not self._sqlite else "DATETIME"
                await conn.execute(text(f"ALTER TABLE dossier_kpi ADD COLUMN{exists} closed_at {kind}"))

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()

    async def upsert_many(self, dossiers: Iterable[Dossier]) -> int:
        """Project and store dossiers in one statement; returns how many distinct dossiers were sent.

        A stored row is replaced only by a strictly higher version, so a redelivered or late older event
        changes nothing. The batch is first reduced to the highest version of each dossier, so no
        statement ever touches a row twice (PostgreSQL refuses that in one multi-row upsert). The alert flags
        survive a newer version unless its due moment differs (a pause moved it): then they are re-armed.
        """
        newest: dict[str, ProjectedDossier] = {}
        for dossier in dossiers:
            row = project(dossier)
            seen = newest.get(row.dossier_code)
            if seen is None or row.version > seen.version:
                newest[row.dossier_code] = row
        if not newest:
            return 0
        now = datetime.now(UTC)
        values = [_row_values(row, now) for row in newest.values()]
        ins = (sqlite_insert if self._sqlite else pg_insert)(dossier_kpi)
        t, new = dossier_kpi.c, ins.excluded
        same_due = t.due_at.is_not_distinct_from(new.due_at)
        changes: dict[str, Any] = {name: new[name] for name in _STATE_COLUMNS}
        changes["alerted_due_soon"] = case((same_due, t.alerted_due_soon), else_=false())
        changes["alerted_overdue"] = case((same_due, t.alerted_overdue), else_=false())
        stmt = ins.on_conflict_do_update(index_elements=[t.dossier_code], set_=changes, where=t.version < new.version)
        async with self.engine.begin() as conn:
            await conn.execute(stmt, values)
        return len(values)

    async def get_many(self, codes: Iterable[str]) -> dict[str, ProjectedDossier]:
        """The stored rows of the dossiers that have one, by code."""
        wanted = list(codes)
        if not wanted:
            return {}
        async with self.engine.connect() as conn:
            result = await conn.execute(select(dossier_kpi).where(dossier_kpi.c.dossier_code.in_(wanted)))
            return {m["dossier_code"]: _from_mapping(m) for m in result.mappings()}

    async def count(self) -> int:
        """How many dossiers the projection holds."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(dossier_kpi))).scalar_one())

    async def iter_received(
        self, *, start: datetime | None = None, end: datetime | None = None, chunk: int = 5000
    ) -> AsyncIterator[list[ProjectedDossier]]:
        """Rows with `start <= received_at < end` (either bound optional), `chunk` rows at a time, so a
        report over millions of dossiers never holds them all in memory."""
        query = select(dossier_kpi)
        if start is not None:
            query = query.where(dossier_kpi.c.received_at >= start)
        if end is not None:
            query = query.where(dossier_kpi.c.received_at < end)
        async with self.engine.connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=chunk))
            async for part in result.mappings().partitions(chunk):
                yield [_from_mapping(m) for m in part]

    async def iter_period(
        self, *, start: datetime | None = None, end: datetime | None = None, chunk: int = 5000
    ) -> AsyncIterator[list[ProjectedDossier]]:
        """Rows a report over [start, end) needs, `chunk` at a time: placed before `end`, and either placed
        in the period, still open, or closed / handed over at or after `start` (carried over, finished in
        the period)."""
        t = dossier_kpi.c
        query = select(dossier_kpi)
        if end is not None:
            query = query.where(t.received_at < end)
        if start is not None:
            query = query.where(
                or_(t.received_at >= start, t.closed_at.is_(None), t.closed_at >= start, t.returned_at >= start)
            )
        async with self.engine.connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=chunk))
            async for part in result.mappings().partitions(chunk):
                yield [_from_mapping(m) for m in part]

    async def open_due_by(self, moment: datetime, *, unalerted_only: bool = False) -> list[ProjectedDossier]:
        """Open dossiers (clock running) whose due moment is at or before `moment`, earliest due first.

        With `unalerted_only`, dossiers already alerted as overdue are left out: they need no more alerts
        until a new due moment re-arms them.
        """
        t = dossier_kpi.c
        query = (
            select(dossier_kpi)
            .where(t.status.in_([int(s) for s in OPEN_STATUSES]), t.due_at.is_not(None), t.due_at <= moment)
            .order_by(t.due_at, t.dossier_code)
        )
        if unalerted_only:
            query = query.where(t.alerted_overdue.is_(False))
        async with self.engine.connect() as conn:
            return [_from_mapping(m) for m in (await conn.execute(query)).mappings()]

    async def mark_alerted(self, marks: Sequence[tuple[AlertKind, str, datetime]]) -> None:
        """Record acknowledged alerts, each as (kind, dossier code, due moment it was about).

        A mark applies only while the stored due moment is still the one alerted about: if a newer
        version moved it meanwhile, the row stays re-armed for the new moment.
        """
        if not marks:
            return
        t = dossier_kpi.c
        async with self.engine.begin() as conn:
            for kind in ("due_soon", "overdue"):
                params = [{"b_code": code, "b_due": due} for k, code, due in marks if k == kind]
                if not params:
                    continue
                flag = "alerted_due_soon" if kind == "due_soon" else "alerted_overdue"
                stmt = (
                    update(dossier_kpi)
                    .where(and_(t.dossier_code == bindparam("b_code"), t.due_at == bindparam("b_due")))
                    .values({flag: True})
                )
                await conn.execute(stmt, params)
