"""Publishing from inbound HTTP/SOAP requests: audited and durable on the bus before the caller hears "accepted".

Concurrent requests are served in batches: while one batch is being written, new requests queue, and the
next batch takes them all, so one audit group commit and one produce round trip serve many waiting
requests (the number of batches adapts to the load, as the audit writer's transactions do).

Order inside a batch: the audit entries first, then the records. So a record never reaches the bus
without its audit entry, and when the audit store is unavailable nothing is published (the route answers
503). A record the broker refuses after its entry was written gets a second entry, `not_published`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from lienthong.audit.record import AuditEntry, digest
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import Envelope
from lienthong.bus.producer import Outbound, make_producer
from lienthong.logging import get_logger
from lienthong.metrics import PRODUCED
from lienthong.settings import Settings

log = get_logger("lienthong.bus.publisher")

BATCHES_IN_FLIGHT = 4
"""Batches being written at once: one keeps the broker and the audit store busy while the next fills."""
BATCH_MAX = 1000
"""Most requests served by one batch."""


ENQUEUE_TIMEOUT_S = 10.0
"""Default longest wait for the producer to take a record (metadata of its topic, room in its buffer)."""


@dataclass(slots=True)
class _Pending:
    record: Outbound
    entry: AuditEntry
    done: asyncio.Future[None]
    deadline: float
    """Monotonic time by which the producer must have taken the record, or it fails unpublished."""


class BusPublisher:
    """Owned by the ASGI app: one producer (acks=all, idempotent) and the audit writer.

    `publish()` returns only when the audit record is durable and the broker acknowledged the record, so an
    inbound route can answer 202 knowing nothing will be lost.
    """

    def __init__(
        self, settings: Settings, audit: AuditWriter | None = None, producer: AIOKafkaProducer | None = None
    ) -> None:
        self.settings = settings
        self._audit = audit
        self._own_audit = audit is None
        self._own = producer is None
        self.producer = producer or make_producer(settings)
        self.started = False
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(BATCHES_IN_FLIGHT)
        self._loop_task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Batches written (for benchmarks: requests per batch = published / batches)."""

    @property
    def audit(self) -> AuditWriter:
        """The audit writer (opened by `start()` when none was given)."""
        if self._audit is None:
            raise RuntimeError("BusPublisher is not started")
        return self._audit

    async def start(self) -> None:
        """Connect the producer (and open the audit store named by the settings, if none was given)."""
        if self._audit is None:
            s = self.settings
            self._audit = await AuditWriter.from_dsn(
                s.resolved_audit_dsn(), batch_max=s.audit_batch_max, encryption_key=s.audit_encryption_key
            )
        if self._own:
            await self.producer.start()
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="bus-publisher")
        self.started = True

    async def close(self) -> None:
        """Finish the queued publications, then close what this publisher opened."""
        self.started = False
        if self._loop_task is not None:
            self._wake.set()
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        while self._queue:
            await self._write(self._take())
        await asyncio.gather(*self._batches, return_exceptions=True)
        if self._own:
            await self.producer.stop()
        if self._own_audit and self._audit is not None:
            await self._audit.close()
            self._audit = None

    async def publish(
        self,
        topic: str,
        value: bytes,
        envelope: Envelope,
        *,
        key: str,
        flow: str,
        peer: str,
        wire: bytes | None = None,
        detail: dict[str, object] | None = None,
        queue_timeout_s: float | None = None,
    ) -> None:
        """Audit the reception from `peer` (digest of `wire`, the exact bytes received, defaulting to `value`)
        and publish one record; returns once both are durable, raises if either failed.

        `queue_timeout_s` (default `ENQUEUE_TIMEOUT_S`) bounds the wait until the producer has taken the
        record: past it, the record is withdrawn unpublished and `TimeoutError` is raised (a caller may answer
        503: nothing was published). Once the producer has it, its real outcome is awaited, so a caller never
        reports a failure for a record that reached the bus (short of the broker's own ambiguous time-outs,
        after which a resend carries the same record id).
        """
        if self._loop_task is None or self._loop_task.done():
            raise RuntimeError("BusPublisher is not started")
        entry = AuditEntry(
            flow=flow, direction="in", peer=peer, outcome="received", dossier_code=envelope.subject,
            correlation_id=envelope.correlation_id, event_type=envelope.type,
            digest=digest(wire if wire is not None else value), detail=dict(detail or {}),
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        pending = _Pending(
            Outbound(topic, value, key.encode(), envelope.to_headers()),
            entry,
            loop.create_future(),
            loop.time() + (ENQUEUE_TIMEOUT_S if queue_timeout_s is None else queue_timeout_s),
        )
        self._queue.append(pending)
        self._wake.set()
        if queue_timeout_s is None:
            await pending.done
            return
        try:
            async with asyncio.timeout(queue_timeout_s):
                await asyncio.shield(pending.done)
        except TimeoutError:
            if pending in self._queue:
                self._queue.remove(pending)
                raise
            await pending.done  # a batch has it: its outcome (bounded by the same deadline to be taken) decides

    def _take(self) -> list[_Pending]:
        batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
        return batch

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()
                task = asyncio.get_running_loop().create_task(self._write(self._take()))
                self._batches.add(task)
                task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        self._slots.release()

    async def _send_all(self, batch: list[_Pending]) -> list[object]:
        """Queue every record in the producer's batches, then await every ack; one result (or error) each.

        Taking a record (its topic's metadata, buffer room) is bounded by the request's deadline: a record
        not taken by then was never sent. An ack, once the record is taken, is awaited to its real end.
        """
        loop = asyncio.get_running_loop()
        acks: list[asyncio.Future[Any] | BaseException] = []
        for p in batch:
            try:
                async with asyncio.timeout(max(0.0, p.deadline - loop.time())):
                    acks.append(await _acked(self.producer, p.record))
            except Exception as exc:  # not taken: unknown topic, too large, closed producer, deadline
                acks.append(exc)
        waiting = [a for a in acks if not isinstance(a, BaseException)]
        done = iter(await asyncio.gather(*waiting, return_exceptions=True))
        return [a if isinstance(a, BaseException) else next(done) for a in acks]

    async def _write(self, batch: list[_Pending]) -> None:
        """Audit, then publish, one batch; settle every request's future with its own outcome."""
        live = [p for p in batch if not p.done.done()]
        if not live:
            return
        try:
            await self.audit.append([p.entry for p in live])
        except Exception as exc:
            for p in live:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        self.batches += 1
        results = await self._send_all(live)
        failed: list[AuditEntry] = []
        for p, result in zip(live, results, strict=True):
            if isinstance(result, BaseException):
                failed.append(_not_published(p.entry, result))
                if not p.done.done():
                    p.done.set_exception(result)
            else:
                PRODUCED.labels(p.record.topic).inc()
                if not p.done.done():
                    p.done.set_result(None)
        if failed:
            try:
                await self.audit.append(failed)
            except Exception as exc:  # the store went away too; the callers already heard the failure
                log.warning("not-published audit entries lost", count=len(failed), error=type(exc).__name__)


async def _acked(producer: AIOKafkaProducer, r: Outbound) -> asyncio.Future[Any]:
    ack: asyncio.Future[Any] = await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers))
    return ack


def _not_published(entry: AuditEntry, exc: BaseException) -> AuditEntry:
    return AuditEntry(
        flow=entry.flow, direction="in", peer=entry.peer, outcome="not_published", dossier_code=entry.dossier_code,
        correlation_id=entry.correlation_id, event_type=entry.event_type, digest=entry.digest,
        detail={**entry.detail, "error": type(exc).__name__},
    )  # fmt: skip
