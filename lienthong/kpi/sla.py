"""The SLA watch: alert on `dossier.alerts` when an open dossier is due within a working day, or overdue.

A scan reads the projection, publishes one CloudEvents record per new alert and waits for the broker's
acks, and only then marks the rows alerted. A crash between the publish and the mark repeats the
publish on the next scan with the same deterministic event ids, so downstream consumers drop the
duplicate; a failed publish marks nothing and is retried on the next scan.

Dossiers whose clock is paused (status 5 or 6) are not watched: the pause moves their due moment
back, and the one-stop system sends the new one with the next event (which re-arms the alerts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict

from lienthong.bus.envelope import Envelope, derived_id, now_rfc3339
from lienthong.bus.producer import Outbound, make_producer, publish_all
from lienthong.calendar import WorkingCalendar, configured_calendar, is_overdue
from lienthong.calendar.config import VIETNAM_TZ
from lienthong.kpi.store import AlertKind, KpiStore, ProjectedDossier, default_kpi_dsn
from lienthong.logging import get_logger
from lienthong.settings import Settings

__all__ = [
    "ALERT_EVENT_TYPES",
    "ALERT_TOPIC",
    "PendingAlert",
    "Publish",
    "SlaAlert",
    "SlaWatch",
    "build_sla_watch",
    "pending_alerts",
]

log = get_logger("lienthong.kpi.sla")

ALERT_TOPIC = "dossier.alerts"
"""Where alerts go by default (see `lienthong.bus.topics`)."""

ALERT_EVENT_TYPES: dict[AlertKind, str] = {
    "due_soon": "vn.gov.lienthong.dossier.due_soon.v1",
    "overdue": "vn.gov.lienthong.dossier.overdue.v1",
}
"""CloudEvents `ce_type` of each alert kind."""

Publish = Callable[[Sequence[Outbound]], Awaitable[None]]
"""Publishes records and returns only once the broker acknowledged every one (raises otherwise),
e.g. `functools.partial(publish_all, producer)`."""

_HOUR = timedelta(hours=1)


class SlaAlert(BaseModel):
    """Payload of an alert on `dossier.alerts`: codes and dates only, no personal data."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    dossier_code: str
    """The dossier concerned (also the record key and `ce_subject`)."""
    agency: str
    """Agency code of the receiving unit."""
    due_at: AwareDatetime
    """The due moment (`NgayHenTra`) alerted about, in Vietnam time."""
    working_hours_left: float
    """Working hours from the scan until the due moment; negative once overdue (then: hours late)."""
    kind: AlertKind
    """`due_soon` (one working day or less left) or `overdue` (the due moment has passed)."""


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An alert a scan decided to send, before it is published."""

    kind: AlertKind
    """Which alert."""
    row: ProjectedDossier
    """The dossier's projection row (its `due_at` is set)."""
    due_at: datetime
    """The due moment alerted about."""
    working_time_left: timedelta
    """Working time until the due moment; negative once overdue."""

    def payload(self) -> SlaAlert:
        """The alert's JSON payload."""
        return SlaAlert(
            dossier_code=self.row.dossier_code,
            agency=self.row.agency_code,
            due_at=self.due_at.astimezone(VIETNAM_TZ),
            working_hours_left=round(self.working_time_left / _HOUR, 2),
            kind=self.kind,
        )

    @property
    def event_id(self) -> str:
        """Deterministic `ce_id`: the same dossier, kind and due moment always give the same id, so a
        repeated scan does not double-alert; a new due moment (after a pause) gives a new one."""
        due = self.due_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return derived_id(self.row.dossier_code, f"{self.kind}/{due}")


def pending_alerts(rows: Iterable[ProjectedDossier], now: datetime, calendar: WorkingCalendar) -> list[PendingAlert]:
    """The alerts due at `now` (pure).

    An open dossier past its due moment and not yet alerted as overdue gets `overdue`; one not past it,
    with at most one working day (`calendar.working_day_length`) of working time left and not yet
    alerted as due soon, gets `due_soon`. Closed or paused dossiers and those without a due moment get
    nothing.
    """
    out: list[PendingAlert] = []
    for row in rows:
        due = row.due_at
        if due is None or not row.is_open:
            continue
        if is_overdue(due, now):
            if not row.alerted_overdue:
                out.append(PendingAlert("overdue", row, due, -calendar.working_time_between(due, now)))
        elif not row.alerted_due_soon:
            left = calendar.working_time_left(due, now)
            if left <= calendar.working_day_length:
                out.append(PendingAlert("due_soon", row, due, left))
    return out


class SlaWatch:
    """Scans the projection for dossiers due soon or overdue and publishes each alert once."""

    def __init__(
        self,
        store: KpiStore,
        publish: Publish,
        *,
        calendar: WorkingCalendar | None = None,
        topic: str = ALERT_TOPIC,
        source: str = "/lienthong/kpi/sla",
    ) -> None:
        self.store = store
        """The projection read and marked."""
        self.publish = publish
        """Publishes and waits for the acks."""
        self.calendar = calendar or configured_calendar()
        """Working time for `working_hours_left` and the one-working-day threshold."""
        self.topic = topic
        """Destination of the alerts."""
        self.source = source
        """`ce_source` of the alerts."""
        self._stop = asyncio.Event()

    def to_outbound(self, alert: PendingAlert) -> Outbound:
        """The CloudEvents record of an alert (binary mode, JSON payload, key = dossier code)."""
        code = alert.row.dossier_code
        env = Envelope(
            id=alert.event_id, source=self.source, type=ALERT_EVENT_TYPES[alert.kind], subject=code,
            time=now_rfc3339(), correlation_id=alert.event_id,
        )  # fmt: skip
        return Outbound(self.topic, orjson.dumps(alert.payload().model_dump(mode="json")), code.encode(),
                        env.to_headers())  # fmt: skip

    async def scan(self, now: datetime) -> list[Outbound]:
        """Publish the alerts due at `now`, then mark them alerted; returns the records published.

        Raises what `publish` raises (nothing is marked then, so the next scan tries again).
        """
        if now.tzinfo is None:
            raise ValueError("scan(now) needs a timezone-aware moment")
        # No dossier with more than one working day left can qualify, and one beyond two working days
        # from now certainly has more: a cheap bound for the query, the exact test is in pending_alerts.
        horizon = self.calendar.add_working_time(now, 2 * self.calendar.working_day_length)
        rows = await self.store.open_due_by(horizon, unalerted_only=True)
        alerts = pending_alerts(rows, now, self.calendar)
        if not alerts:
            return []
        records = [self.to_outbound(a) for a in alerts]
        await self.publish(records)
        await self.store.mark_alerted([(a.kind, a.row.dossier_code, a.due_at) for a in alerts])
        counts = {kind: sum(a.kind == kind for a in alerts) for kind in ALERT_EVENT_TYPES}
        log.info("sla alerts published", topic=self.topic, **counts)
        return records

    async def run(self, interval_s: float = 60.0) -> None:
        """Scan every `interval_s` seconds until `stop()` (after it, `run()` returns at once); a failed
        scan is logged and tried again at the next interval."""
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        while not self._stop.is_set():
            try:
                await self.scan(datetime.now(UTC))
            except Exception as exc:
                # The watch outlives a broker or database hiccup: nothing was marked, the next scan repeats.
                log.warning("sla scan failed; retrying next interval", error=type(exc).__name__, detail=str(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)

    def stop(self) -> None:
        """Ask `run()` to return after the current scan (safe from a signal handler)."""
        self._stop.set()


async def build_sla_watch(
    settings: Settings,
    *,
    dsn: str | None = None,
    topic: str = ALERT_TOPIC,
    calendar: WorkingCalendar | None = None,
) -> tuple[SlaWatch, Callable[[], Awaitable[None]]]:
    """An `SlaWatch` on the projection at `dsn` (default `kpi.db` under the state directory) with its
    own acks=all producer; returns the watch and the function that closes both."""
    store = KpiStore(dsn or default_kpi_dsn(settings))
    await store.open()
    producer = make_producer(settings)
    try:
        await producer.start()
    except Exception:
        await store.close()
        raise
    watch = SlaWatch(store, partial(publish_all, producer), calendar=calendar, topic=topic)

    async def close() -> None:
        watch.stop()
        await producer.stop()
        await store.close()

    return watch, close
