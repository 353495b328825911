"""Dossier sync: `dossier.events` → DVCQG (`DongBoHoSoMC`, then `CapNhatTienDoHoSoMC`), version-guarded.

One poll batch is handled in five steps:

1. decode every record as a `DossierEvent` (an undecodable one is a `PermanentError`: the DLQ);
2. load the sync state of the batch's dossiers in one query (`sync_state.SyncStateStore`);
3. plan each dossier (`lienthong.mappings.dvcqg_sync.plan_dossier`, pure): stale, superseded, not yet
   received, the version to send, and warning notes (an unlisted status transition is forwarded with a
   note unless `strict_transitions`);
4. write the dossiers, `max_items_per_call` per `DongBoHoSoMC` call (creates for dossiers never
   confirmed, updates for the others, with the exists/missing fallback of `writes`), then each chunk's
   new steps, up to `concurrency` calls in flight;
5. upsert the state of every dossier the portal fully accepted, in one statement, and mark as pending
   the versions whose send timed out after leaving (the portal may still apply them), before returning:
   a redelivery after a crash is then skipped as stale, so the effect is applied once, and no older
   version is sent while a newer one may still land.

Older versions of a dossier in the same batch are settled only with the newest: done when it is
written, sent round the retry path when it fails. Only steps added since the stored state are sent (the
state keeps how many leading steps the portal has and a fingerprint of their identity); when the leading
steps changed, all are sent again (the portal ignores identical steps). A dossier whose steps failed
keeps its old state, so its retry writes the dossier again (same content) and then the steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from lienthong.audit.record import AuditEntry
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.policy import error_text
from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome
from lienthong.connectors.dvcqg.client import AMBIGUOUS, PEER, DvcqgClient, ItemResult, Sent
from lienthong.connectors.dvcqg.settings import DvcqgSettings
from lienthong.connectors.dvcqg.sync_state import SyncStateStore
from lienthong.errors import LienthongError, PermanentError, TransientError
from lienthong.logging import get_logger
from lienthong.mappings.dvcqg import STEPS_PER_CALL, chunk, dossier_to_dvcqg, steps_to_dvcqg
from lienthong.mappings.dvcqg_sync import DossierPlan, SyncState, plan_dossier, steps_progress
from lienthong.mappings.errors import MappingError
from lienthong.schemas.dossier import DossierEvent
from lienthong.settings import Settings

FLOW = "dossier_sync"
"""Audit flow name and consumer-group suffix."""
TOPIC = "dossier.events"
"""Default source topic."""

log = get_logger("lienthong.dvcqg.sync")


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

    def note(self, text: str) -> AuditEntry:
        return AuditEntry(
            flow=FLOW, direction="out", peer=PEER, outcome="warning", dossier_code=self.event.dossier.code,
            correlation_id=self.msg.envelope.correlation_id, event_type="DongBoHoSoMC",
            detail={"version": self.event.dossier.version, "warning": text},
        )  # fmt: skip

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
        self.stats: dict[str, int] = {
            "sent": 0, "skipped_stale": 0, "superseded": 0, "skipped_not_received": 0, "invalid_transition": 0,
            "failed": 0,
        }  # fmt: skip
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
        strict = self.client.settings.strict_transitions
        for code, events in by_code.items():
            plan = plan_dossier(events, stored.get(code), strict_transitions=strict)
            for i in plan.stale:
                results[i] = Outcome(result="skipped_stale")
            for i in plan.not_received:
                results[i] = Outcome(result="skipped_not_received")
            for i, rejection in plan.rejected:
                results[i] = rejection
            if plan.send is not None:
                index, event = plan.send
                job = _Job(batch[index], index, event, plan)
                for text in (*event.notes, *plan.notes):
                    log.warning("dvcqg sync note", dossier=code, note=text)
                    job.audit.append(job.note(text))
                jobs.append(job)
        await self._deliver(jobs)
        for job in jobs:
            results[job.index] = job.error if job.error is not None else Outcome(audit=job.audit)
            for i in job.plan.superseded:
                results[i] = _superseded(job)
        return self._finish(results)

    def _finish(self, results: list[BatchResult | None]) -> list[BatchResult]:
        done: list[BatchResult] = []
        for r in results:
            if r is None:
                raise AssertionError("dossier sync left a record without a result")
            if isinstance(r, Outcome):
                self.stats[r.result if r.result in self.stats else "sent"] += 1
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
        pending = {
            j.event.dossier.code: j.event.dossier.version
            for j in jobs
            if isinstance(j.error, TransientError) and j.error.code == AMBIGUOUS
        }
        try:
            await self.state.mark_pending(pending)
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


def _superseded(job: _Job) -> BatchResult:
    """The result of an older version of `job`'s dossier in the same batch: done once the newest is."""
    if job.error is None:
        return Outcome(result="superseded")
    if isinstance(job.error, TransientError):
        return job.error
    # The newest was refused or is broken: this older full state may still be valid, so it goes round
    # the retry path and is sent on its own there (nothing newer is confirmed).
    return TransientError(
        f"held back with version {job.event.dossier.version}, which failed ({type(job.error).__name__}); "
        "retried on its own", code="superseded_failed",
    )  # fmt: skip


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
"""`DossierPlan`, `SyncState`, `plan_dossier`, `steps_progress` live in `lienthong.mappings.dvcqg_sync` and
`SyncStateStore` in `sync_state`; they are re-exported here for existing callers."""
