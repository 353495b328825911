"""Dossier sync: `dossier.events` → DVCQG (`DongBoHoSoMC`, then `CapNhatTienDoHoSoMC`), version-guarded.

One poll batch is handled in five steps:

1. decode every record as a `DossierEvent` (an undecodable one is a `PermanentError`: the DLQ);
2. load the sync state of the batch's dossiers in one query (`dvcqg_sync_state`: the last version,
   status and steps the portal accepted);
3. plan each dossier (`plan_dossier`, pure): an event not newer than the stored version is
   `skipped_stale`, as is one superseded by a newer event of the same batch; a status change that
   `can_transition` forbids (walking the batch's versions in order from the stored status) is a
   `BusinessRejection("invalid_transition")`; the newest valid event is sent;
4. write the dossiers, `max_items_per_call` per `DongBoHoSoMC` call (creates for dossiers never
   synced, updates for the others, with the client's exists/missing fallback), then each chunk's new
   steps, up to `concurrency` calls in flight;
5. upsert the state of every dossier the portal fully accepted, in one statement, before returning:
   a redelivery after a crash is then skipped as stale, so the effect is applied once.

Only steps added since the stored state are sent: the state keeps how many leading steps the portal
has and a fingerprint of their identity (time, status, official: the portal's own step key); when the
leading steps changed, all are sent again (the portal ignores identical steps). A dossier whose steps
failed keeps its old state, so its retry writes the dossier again (same content) and then the steps.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, SmallInteger, String, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from lienthong.audit.record import AuditEntry
from lienthong.bus.idempotency import IdempotencyStore, create_tables, open_engine
from lienthong.bus.policy import error_text
from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome
from lienthong.connectors.dvcqg.client import PEER, DvcqgClient, ItemResult, Sent
from lienthong.connectors.dvcqg.settings import DvcqgSettings
from lienthong.errors import BusinessRejection, LienthongError, PermanentError, TransientError
from lienthong.mappings.dvcqg import STEPS_PER_CALL, chunk, dossier_to_dvcqg, steps_to_dvcqg
from lienthong.mappings.errors import MappingError
from lienthong.schemas.dossier import DossierEvent, ProcessingStep, can_transition
from lienthong.settings import Settings

FLOW = "dossier_sync"
"""Audit flow name and consumer-group suffix."""
TOPIC = "dossier.events"
"""Default source topic."""

_meta = MetaData()
sync_state = Table(
    "dvcqg_sync_state",
    _meta,
    Column("dossier_code", String(64), primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("steps_synced", Integer, nullable=False),
    Column("steps_key", String(64), nullable=False),
    Column("synced_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class SyncState:
    """What the portal holds of one dossier, as far as lienthong knows."""

    version: int
    """Version of the last full state the portal accepted (dossier and its steps)."""
    status: int
    """`TrangThaiHoSo` of that version."""
    steps_synced: int
    """How many leading steps of that version the portal holds."""
    steps_key: str
    """Fingerprint of those steps' identities (see `steps_progress`)."""


class SyncStateStore:
    """The `dvcqg_sync_state` table (SQLAlchemy async core: aiosqlite embedded, asyncpg in production)."""

    def __init__(self, dsn: str) -> None:
        self.engine, self._pg = open_engine(dsn)

    async def open(self) -> None:
        """Create the table if missing."""
        await create_tables(self.engine, _meta)

    async def load(self, codes: Iterable[str]) -> dict[str, SyncState]:
        """Stored state of those of `codes` that have one (one query)."""
        wanted = list(codes)
        if not wanted:
            return {}
        c = sync_state.c
        query = select(c.dossier_code, c.version, c.status, c.steps_synced, c.steps_key).where(
            c.dossier_code.in_(wanted)
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return {row[0]: SyncState(row[1], row[2], row[3], row[4]) for row in rows}

    async def save(self, states: Mapping[str, SyncState]) -> None:
        """Upsert states in one statement; a stored newer version is never overwritten by an older one."""
        if not states:
            return
        now = datetime.now(UTC)
        rows = [
            {"dossier_code": code, "version": s.version, "status": s.status, "steps_synced": s.steps_synced,
             "steps_key": s.steps_key, "synced_at": now}
            for code, s in states.items()
        ]  # fmt: skip
        insert = (pg_insert if self._pg else sqlite_insert)(sync_state)
        new = insert.excluded
        stmt = insert.on_conflict_do_update(
            index_elements=["dossier_code"],
            set_={"version": new.version, "status": new.status, "steps_synced": new.steps_synced,
                  "steps_key": new.steps_key, "synced_at": new.synced_at},
            where=sync_state.c.version <= new.version,
        )  # fmt: skip
        async with self.engine.begin() as conn:
            await conn.execute(stmt, rows)

    async def close(self) -> None:
        """Dispose of the connection pool."""
        await self.engine.dispose()


# -- planning (pure) --------------------------------------------------------------------------------


def _step_identity(step: ProcessingStep) -> bytes:
    return f"{step.processed_at.isoformat()}\x1f{int(step.status)}\x1f{step.handler_name}\x1e".encode()


def steps_progress(steps: Sequence[ProcessingStep], stored: SyncState | None) -> tuple[int, str]:
    """(index of the first step the portal lacks, fingerprint of all `steps`).

    The stored leading steps count only while their fingerprint still matches; otherwise every step
    is sent again from index 0.
    """
    h = hashlib.sha256()
    start = 0
    for n, step in enumerate(steps):
        if stored is not None and n == stored.steps_synced and h.hexdigest() == stored.steps_key:
            start = n
        h.update(_step_identity(step))
    key = h.hexdigest()
    if stored is not None and stored.steps_synced == len(steps) and key == stored.steps_key:
        start = len(steps)
    return start, key


@dataclass(slots=True)
class DossierPlan:
    """What to do with one dossier's events in a batch."""

    send: tuple[int, DossierEvent] | None = None
    """(batch index, event) of the version to write, or None."""
    create: bool = False
    """True when the dossier was never synced (`isUpdating "False"`)."""
    steps_from: int = 0
    """Index of the first step to send."""
    steps_key: str = ""
    """Fingerprint of all the sent version's steps (stored on success)."""
    stale: list[int] = field(default_factory=list)
    """Batch indexes settled as `skipped_stale` (not newer than the stored version, or superseded)."""
    rejected: list[tuple[int, BusinessRejection]] = field(default_factory=list)
    """Batch indexes refused for an invalid status transition."""


def plan_dossier(events: Sequence[tuple[int, DossierEvent]], stored: SyncState | None) -> DossierPlan:
    """Plan one dossier's events (batch index, event) against its stored state; see the module docstring."""
    plan = DossierPlan()
    version = stored.version if stored is not None else -1
    status = stored.status if stored is not None else None
    for index, event in sorted(events, key=lambda pair: (pair[1].dossier.version, pair[0])):
        dossier = event.dossier
        if dossier.version <= version:
            plan.stale.append(index)
            continue
        # Only consecutive versions say which transition the source made. Full-state sync skips
        # versions that were superseded or are still in the retry topic, so across a gap the
        # intermediate statuses are unknown and the newer full state is simply the truth.
        consecutive = dossier.version == version + 1
        if status is not None and consecutive and not can_transition(status, dossier.status):
            plan.rejected.append((index, BusinessRejection(
                f"status {status} -> {int(dossier.status)} is not an allowed transition "
                f"(version {dossier.version}, last synced version {version})",
                peer=PEER, code="invalid_transition",
            )))  # fmt: skip
            continue
        if plan.send is not None:
            plan.stale.append(plan.send[0])
        plan.send = (index, event)
        version, status = dossier.version, int(dossier.status)
    if plan.send is not None:
        plan.create = stored is None
        plan.steps_from, plan.steps_key = steps_progress(plan.send[1].dossier.steps, stored)
    return plan


# -- the handler ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    msg: Inbound
    index: int
    event: DossierEvent
    plan: DossierPlan
    item: dict[str, Any] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    error: LienthongError | None = None

    def entry(self, sent: Sent) -> AuditEntry:
        detail: dict[str, Any] = {"version": self.event.dossier.version, "items": sent.items}
        if sent.is_updating is not None:
            detail["is_updating"] = sent.is_updating
        return AuditEntry(
            flow=FLOW, direction="out", peer=PEER, outcome="sent", dossier_code=self.event.dossier.code,
            correlation_id=self.msg.envelope.correlation_id, event_type=sent.service, digest=sent.digest,
            detail=detail,
        )  # fmt: skip


class DossierSyncHandler:
    """Batch handler of `dossier.events` (payload: JSON of `DossierEvent`) for the `dossier_sync` flow."""

    def __init__(self, client: DvcqgClient, state: SyncStateStore) -> None:
        self.client = client
        self.state = state
        self.stats: dict[str, int] = {"sent": 0, "skipped_stale": 0, "invalid_transition": 0, "failed": 0}
        """Records per outcome since start (`failed`: any exception value returned)."""

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        """One result per record, in order (steps 1-5 of the module docstring)."""
        results: list[BatchResult | None] = [None] * len(batch)
        by_code: dict[str, list[tuple[int, DossierEvent]]] = {}
        for i, msg in enumerate(batch):
            try:
                event = DossierEvent.model_validate_json(msg.value)
            except ValidationError as exc:
                results[i] = PermanentError(f"invalid DossierEvent payload: {error_text(exc)}")
                continue
            by_code.setdefault(event.dossier.code, []).append((i, event))
        try:
            stored = await self.state.load(by_code)
        except SQLAlchemyError as exc:
            failure = TransientError(f"sync state store unavailable: {type(exc).__name__}", code="state_store")
            return self._finish([failure if r is None else r for r in results])
        jobs: list[_Job] = []
        for code, events in by_code.items():
            plan = plan_dossier(events, stored.get(code))
            for i in plan.stale:
                results[i] = Outcome(result="skipped_stale")
            for i, rejection in plan.rejected:
                results[i] = rejection
            if plan.send is not None:
                index, event = plan.send
                jobs.append(_Job(batch[index], index, event, plan))
        await self._deliver(jobs)
        for job in jobs:
            results[job.index] = job.error if job.error is not None else Outcome(audit=job.audit)
        return self._finish(results)

    def _finish(self, results: list[BatchResult | None]) -> list[BatchResult]:
        done: list[BatchResult] = []
        for r in results:
            if r is None:
                raise AssertionError("dossier sync left a record without a result")
            if isinstance(r, Outcome):
                self.stats["skipped_stale" if r.result == "skipped_stale" else "sent"] += 1
            elif getattr(r, "code", "") == "invalid_transition":
                self.stats["invalid_transition"] += 1
            else:
                self.stats["failed"] += 1
            done.append(r)
        return done

    async def _deliver(self, jobs: list[_Job]) -> None:
        size = self.client.settings.max_items_per_call
        calls = [(part, False) for part in chunk([j for j in jobs if j.plan.create], size)]
        calls += [(part, True) for part in chunk([j for j in jobs if not j.plan.create], size)]
        await asyncio.gather(*(self._write_chunk(part, updating) for part, updating in calls))
        done = [j for j in jobs if j.error is None]
        states = {
            j.event.dossier.code: SyncState(j.event.dossier.version, int(j.event.dossier.status),
                                            len(j.event.dossier.steps), j.plan.steps_key)
            for j in done
        }  # fmt: skip
        try:
            await self.state.save(states)
        except SQLAlchemyError as exc:
            # The portal has the writes; without the state a retry sends them again (same content).
            failure = TransientError(f"sync state not saved: {type(exc).__name__}", code="state_store")
            for j in done:
                j.error = failure

    async def _write_chunk(self, jobs: list[_Job], updating: bool) -> None:
        """One `DongBoHoSoMC` chunk, then the new steps of the dossiers it wrote.

        Each chunk maps its own dossiers, so the first call is on the wire while the next chunk maps.
        """
        ready: list[_Job] = []
        for job in jobs:
            try:
                job.item = dossier_to_dvcqg(job.event.dossier)
                ready.append(job)
            except MappingError as exc:
                job.error = exc
        if not ready:
            return
        written: list[_Job] = []
        for job, result in zip(ready, await self.client.dong_bo([j.item for j in ready], is_updating=updating),
                               strict=True):  # fmt: skip
            if isinstance(result, Sent):
                job.audit.append(job.entry(result))
                written.append(job)
            else:
                job.error = result
        groups = _pack_steps(written)
        answers = await asyncio.gather(*(self.client.cap_nhat_tien_do(steps) for _, steps in groups))
        for (owners, _), group_results in zip(groups, answers, strict=True):
            _apply_step_results(owners, group_results)


def _pack_steps(jobs: list[_Job]) -> list[tuple[list[_Job], list[dict[str, Any]]]]:
    """The jobs' new steps in calls of at most `STEPS_PER_CALL`, a dossier's steps kept in one call
    (or one sequence of calls when it has more), so each dossier's steps reach the portal in order."""
    groups: list[tuple[list[_Job], list[dict[str, Any]]]] = []
    owners: list[_Job] = []
    steps: list[dict[str, Any]] = []
    for job in jobs:
        dossier = job.event.dossier
        new = dossier.steps[job.plan.steps_from :]
        if not new:
            continue
        wire = steps_to_dvcqg(dossier.model_copy(update={"steps": new}))
        if len(wire) > STEPS_PER_CALL:
            groups.append(([job] * len(wire), wire))
            continue
        if len(steps) + len(wire) > STEPS_PER_CALL:
            groups.append((owners, steps))
            owners, steps = [], []
        owners += [job] * len(wire)
        steps += wire
    if steps:
        groups.append((owners, steps))
    return groups


def _apply_step_results(owners: list[_Job], results: list[ItemResult]) -> None:
    audited: set[tuple[int, str]] = set()
    for job, result in zip(owners, results, strict=True):
        if not isinstance(result, Sent):
            job.error = job.error or result
        elif (id(job), result.digest) not in audited:
            audited.add((id(job), result.digest))
            job.audit.append(job.entry(result))


async def build_dossier_sync_flow(
    settings: Settings,
    *,
    idempotency: IdempotencyStore,
    dvcqg: DvcqgSettings | None = None,
    topic: str = TOPIC,
    rejection_topic: str = "dossier.outcomes",
) -> tuple[Flow, Callable[[], Awaitable[None]]]:
    """The `dossier_sync` flow (peer `dvcqg`) and an async function closing its client and state store.

    `idempotency` is taken for the uniform flow-factory signature; this flow's idempotency record is
    its own version table (`dvcqg.state_dsn`), since a version, not a message id, decides a duplicate.
    """
    del idempotency
    config = dvcqg or DvcqgSettings()
    state = SyncStateStore(config.resolved_state_dsn(settings.state_dir))
    await state.open()
    client = DvcqgClient(config)
    handler = DossierSyncHandler(client, state)
    flow = Flow(name=FLOW, topic=topic, handler=handler, peer=PEER, rejection_topic=rejection_topic)

    async def close() -> None:
        await client.close()
        await state.close()

    return flow, close


__all__ = [
    "FLOW",
    "TOPIC",
    "DossierPlan",
    "DossierSyncHandler",
    "SyncState",
    "SyncStateStore",
    "build_dossier_sync_flow",
    "plan_dossier",
    "steps_progress",
]
