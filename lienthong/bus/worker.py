"""The bus worker: consume a batch, run the handler, settle every record, make it durable, then commit.

One poll batch goes through five steps, always in this order:

1. decode envelopes (a record that is not a CloudEvent is dead-lettered as it is);
2. run the flow's batch handler, retrying transient failures in process (tenacity, bounded well
   below the poll interval);
3. settle each record on the one decision ladder (`_settle`): delivered, retry topic, DLQ,
   business rejection, or paused behind an open circuit;
4. publish every output, retry and DLQ record and wait for the broker's acks (acks=all), and append
   the batch's audit records and wait for their group commit;
5. commit the offsets, only of records settled in steps 3-4.

A crash anywhere before step 5 redelivers the batch; outbound effects are idempotent, so that
repeats nothing outside. Offsets are never committed automatically.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from lienthong import metrics
from lienthong.audit.record import AuditEntry, digest
from lienthong.audit.writer import AuditWriter
from lienthong.bus.circuit import Circuit, shared_circuit
from lienthong.bus.envelope import Envelope, derived_id, now_rfc3339
from lienthong.bus.policy import (
    Failure,
    RetrySchedule,
    SourceRef,
    attempt_of,
    classify,
    error_text,
    failure_headers,
    not_before_ms,
)
from lienthong.bus.producer import Outbound, make_producer, publish_all
from lienthong.errors import LienthongError, PermanentError, TransientError
from lienthong.logging import bound_record, get_logger
from lienthong.settings import Settings

log = get_logger("lienthong.bus")


@dataclass(frozen=True, slots=True)
class Inbound:
    """A consumed record as a handler sees it."""

    record: ConsumerRecord
    """The aiokafka record (topic, partition, offset, key, value bytes, headers)."""
    envelope: Envelope
    """Its parsed CloudEvents envelope."""
    attempt: int
    """Retry-topic rounds already behind it (0 for a fresh record)."""

    @property
    def value(self) -> bytes:
        """The payload bytes exactly as consumed."""
        return bytes(self.record.value or b"")


@dataclass(slots=True)
class Outcome:
    """What a handler did with one record."""

    publish: list[Outbound] = field(default_factory=list)
    """Records to publish (made durable before the offset is committed)."""
    audit: list[AuditEntry] = field(default_factory=list)
    """Audit entries for boundary crossings the handler made (e.g. a call to DVCQG)."""
    result: str = "delivered"
    """The worker's own audit outcome for the record: `delivered`, `skipped_stale`, ..."""


BatchResult = Outcome | BaseException
BatchHandler = Callable[[Sequence[Inbound]], Awaitable[Sequence[BatchResult]]]
"""A flow's handler: one result per input record, in order; an exception value is that record's failure."""


class RejectionEvent(BaseModel):
    """Payload on a flow's outcomes topic when a peer refused a record's content (business rejection).

    Generic over flows: `subject` is the record's business key (a dossier code, a payment's `MaThamChieu`).
    """

    rejected_event_id: str
    """`ce_id` of the refused record."""
    subject: str = ""
    """The business key of the refused record (its `ce_subject`)."""
    dossier_code: str
    """The dossier concerned (= `subject` on dossier-keyed flows; empty otherwise). Kept for consumers written
    before `subject` existed."""
    flow: str
    """The flow that carried it."""
    peer: str
    """Who refused it."""
    code: str
    """The peer's own error code."""
    reason: str
    """The peer's explanation (personal data masked)."""
    at: str
    """When it was refused (RFC 3339)."""


@dataclass(frozen=True)
class Flow:
    """One consumer flow: a topic, its handler, the peer it talks to."""

    name: str
    """Audit flow name, e.g. `dossier_sync`."""
    topic: str
    """Main topic; its `.retry` companion is consumed too and `.dlq` receives dead letters."""
    handler: BatchHandler
    """The batch handler."""
    peer: str
    """The external system the handler calls (names the circuit)."""
    group_id: str = ""
    """Consumer group; default `<LIENTHONG_CONSUMER_GROUP>.<name>`."""
    rejection_topic: str = "dossier.outcomes"
    """Where business rejections are reported back to the source (the connector's own outcomes topic)."""
    rejection_type: str = "vn.gov.lienthong.dossier.rejected.v1"
    """CloudEvents type of the rejection events this flow publishes."""
    subject_is_dossier: bool = True
    """Whether the records' subject is a dossier code (fills `RejectionEvent.dossier_code`)."""


def _reached_peer(result: BatchResult, peer: str) -> bool:
    """Did this result come from an exchange with the peer (a sent effect, or the peer's own refusal)?"""
    if isinstance(result, Outcome):
        return any(a.direction == "out" and a.outcome == "sent" for a in result.audit)
    return isinstance(result, LienthongError) and bool(result.peer) and result.peer == peer


class _Paused(Exception):  # noqa: N818 - a signal, not an error
    """Some records could not be tried because the peer's circuit is open."""


class _StillFailing(Exception):  # noqa: N818 - a signal, not an error
    """Some records still fail transiently after an in-process attempt."""


class Worker:
    """Runs one flow: a consumer group member with the policy above."""

    def __init__(
        self,
        flow: Flow,
        settings: Settings,
        audit: AuditWriter,
        *,
        producer: AIOKafkaProducer | None = None,
        circuit: Circuit | None = None,
    ) -> None:
        self.flow = flow
        self.settings = settings
        self.audit = audit
        self.retry_topic = f"{flow.topic}.retry"
        self.dlq_topic = f"{flow.topic}.dlq"
        self.schedule = RetrySchedule(settings.retry_attempts, settings.retry_base_s, settings.retry_max_s)

        def make_circuit() -> Circuit:
            return Circuit(
                flow.peer,
                threshold=settings.circuit_failure_threshold,
                open_s=settings.circuit_open_s,
                max_s=settings.circuit_open_max_s,
            )

        # Flows calling one peer share its circuit; a flow that calls no peer ("-") has its own.
        peer_key = flow.peer if flow.peer not in ("", "-") else f"-{flow.name}"
        self.circuit = circuit or shared_circuit(peer_key, settings.consumer_group, make_circuit)
        self._own_producer = producer is None
        self.producer = producer or make_producer(settings)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=flow.group_id or f"{settings.consumer_group}.{flow.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_interval_ms=settings.max_poll_interval_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
            # Range assignment gives partition p of the topic and of its retry topic to the same member,
            # so one member handles a key's fresh and retried records (they share the key's partition).
            partition_assignment_strategy=(RangePartitionAssignor,),
        )
        self._delayed: dict[TopicPartition, float] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._circuit_paused = False
        self._stop = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.stats: dict[str, int] = {
            "consumed": 0, "delivered": 0, "retried": 0, "dead_lettered": 0, "rejected": 0, "paused": 0,
        }  # fmt: skip

    async def start(self) -> None:
        """Connect producer and consumer, and take start-up objects out of the garbage collector's way."""
        # Measured: full collections walking ~100k start-up objects cost a fifth of a worker's time;
        # freezing them once a long-lived worker is built removes that (bench/bus_throughput.py).
        gc.collect()
        gc.freeze()
        if self._own_producer:
            await self.producer.start()
        await self.consumer.start()
        self.consumer.subscribe([self.flow.topic, self.retry_topic], listener=_Rebalance(self))

    async def wait_idle(self) -> None:
        """Until the batch in progress (if any) is settled and committed, bounded by the poll interval."""
        try:
            async with asyncio.timeout(self.settings.max_poll_interval_ms / 1000):
                await self._idle.wait()
        except TimeoutError:
            log.warning("rebalance went on while a batch was still in progress", flow=self.flow.name)

    def forget(self, tp: TopicPartition) -> None:
        """A partition was revoked: drop its retry pause and lag bookkeeping."""
        self._delayed.pop(tp, None)
        self._committed.pop(tp, None)

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        """Partitions assigned while the circuit is open start paused like the others."""
        if self._circuit_paused and assigned:
            self.consumer.pause(*assigned)

    def request_stop(self) -> None:
        """Ask `run()` to finish its current batch, commit, and close (safe from a signal handler)."""
        self._stop.set()

    async def stop(self) -> None:
        """Same as `request_stop()`, awaitable for symmetry with `start()`; `run()` closes the clients."""
        self.request_stop()

    async def close(self) -> None:
        """Close the clients."""
        await self.consumer.stop()
        if self._own_producer:
            await self.producer.stop()

    async def run(self) -> None:
        """Poll, process and commit until `stop()` is called."""
        try:
            while not self._stop.is_set():
                self._resume_due()
                batch = await self.consumer.getmany(timeout_ms=200, max_records=self.settings.consume_batch_max)
                if batch:
                    self._idle.clear()
                    try:
                        await self.process(batch)
                    finally:
                        self._idle.set()
                self._update_lag()
        finally:
            await self.close()

    # -- pausing: retry not-before times and the circuit ------------------------------------------

    def _resume_due(self) -> None:
        now = time.time()
        for tp, until in list(self._delayed.items()):
            if until <= now and not self._circuit_paused:
                del self._delayed[tp]
                if tp in self.consumer.assignment():
                    self.consumer.resume(tp)
        if self._circuit_paused and self.circuit.remaining_s() == 0:
            self._circuit_paused = False
            parts = [tp for tp in self.consumer.assignment() if tp not in self._delayed]
            self.consumer.resume(*parts)
            metrics.CIRCUIT_OPEN.labels(self.flow.peer).set(0)
            log.info("circuit half-open: probing peer", peer=self.flow.peer)

    def _pause_for_circuit(self) -> None:
        if not self._circuit_paused:
            self._circuit_paused = True
            self.consumer.pause(*self.consumer.assignment())
            metrics.circuit_state(self.flow.peer, open_now=True)
            log.warning("circuit open: consumers paused", peer=self.flow.peer, retry_in_s=self.circuit.remaining_s())

    # -- one batch ---------------------------------------------------------------------------------

    async def process(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """Process one poll batch end to end (steps 1-5 of the module docstring)."""
        now_ms = int(time.time() * 1000)
        ready: list[ConsumerRecord] = []
        stop_at: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for rec in records:
                due_ms = min(not_before_ms(rec.headers), now_ms + int(self.schedule.max_s * 1000))
                if tp.topic == self.retry_topic and due_ms > now_ms:
                    # Not due yet: rewind and pause this retry partition until it is (a skewed clock or
                    # a bad header cannot hold it longer than the longest retry delay).
                    stop_at[tp] = rec.offset
                    self._delayed[tp] = due_ms / 1000
                    self.consumer.pause(tp)
                    break
                ready.append(rec)
        self.stats["consumed"] += len(ready)
        metrics.CONSUMED.labels(self.flow.topic).inc(len(ready))

        inbound, settled = self._decode(ready)
        results = await self._run_handler(inbound)
        publish: list[Outbound] = []
        audit: list[AuditEntry] = []
        for msg, res in zip(inbound, results, strict=True):
            if isinstance(res, _Paused):
                tp = TopicPartition(msg.record.topic, msg.record.partition)
                stop_at[tp] = min(stop_at.get(tp, msg.record.offset), msg.record.offset)
        # A partition rewound to a paused record redelivers everything from there: settle nothing at or
        # after that offset now, or its retry/DLQ/output records would be published twice.
        for msg, res in zip(inbound, results, strict=True):
            rec = msg.record
            if rec.offset >= stop_at.get(TopicPartition(rec.topic, rec.partition), rec.offset + 1):
                self.stats["paused"] += isinstance(res, _Paused)
                continue
            self._settle(rec, msg, res, publish, audit)
        for rec, exc in settled:
            if rec.offset < stop_at.get(TopicPartition(rec.topic, rec.partition), rec.offset + 1):
                self._settle(rec, None, exc, publish, audit)

        await publish_all(self.producer, publish)
        await self.audit.append(audit)
        await self._commit(batch, stop_at)
        if self.circuit.is_open:
            self._pause_for_circuit()
        else:
            metrics.circuit_state(self.flow.peer, open_now=False)

    def _decode(
        self, records: list[ConsumerRecord]
    ) -> tuple[list[Inbound], list[tuple[ConsumerRecord, BaseException]]]:
        good: list[Inbound] = []
        bad: list[tuple[ConsumerRecord, BaseException]] = []
        for rec in records:
            try:
                env = Envelope.from_headers(rec.headers)
            except PermanentError as exc:
                bad.append((rec, exc))
                continue
            good.append(Inbound(rec, env, attempt_of(rec.headers)))
        return good, bad

    async def _run_handler(self, inbound: list[Inbound]) -> list[BatchResult]:
        """The handler over the batch, transient failures retried in process (bounded)."""
        results: list[BatchResult] = [_Paused() for _ in inbound]
        todo = list(range(len(inbound)))
        if not todo:
            return results
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.settings.inprocess_attempts),
                wait=wait_exponential_jitter(multiplier=0.05, max=self.settings.inprocess_backoff_max_s),
                retry=retry_if_exception_type(_StillFailing),
                reraise=True,
            ):
                with attempt:
                    if not self.circuit.allow():
                        raise _Paused
                    if self.circuit.is_open:  # half-open: this call is the single probe
                        todo = todo[:1]
                    todo = await self._attempt(inbound, todo, results)
                    if todo:
                        raise _StillFailing
        except (_StillFailing, _Paused):
            pass
        return results

    async def _attempt(self, inbound: list[Inbound], todo: list[int], results: list[BatchResult]) -> list[int]:
        try:
            out = await self.flow.handler([inbound[i] for i in todo])
        except LienthongError as exc:
            out = [exc] * len(todo)
        except Exception as exc:
            # A handler that crashed as a whole says nothing about each record: retry rounds, then DLQ,
            # rather than dead-lettering a whole batch at once.
            crash = TransientError(f"handler failed: {type(exc).__name__}: {error_text(exc)}", peer=self.flow.peer)
            out = [crash] * len(todo)
        if len(out) != len(todo):
            out = [PermanentError(f"handler returned {len(out)} results for {len(todo)} records")] * len(todo)
        again: list[int] = []
        any_transient = False
        for i, res in zip(todo, out, strict=True):
            results[i] = res
            if isinstance(res, TransientError):
                again.append(i)
                any_transient = True
        if any_transient:
            self.circuit.failure()
        elif any(_reached_peer(r, self.flow.peer) for r in out):
            self.circuit.success()
        else:
            # Nothing in this call reached the peer (all skipped, or refused by our own checks): no news of
            # the peer's health, so a half-open circuit does not close on it.
            self.circuit.inconclusive()
        if self.circuit.is_open:
            # Records tried in this call keep their failure and go round the retry topic (their attempt
            # count grows, so one record that always fails cannot stall the flow behind the circuit);
            # records never tried stay `_Paused` and are rewound.
            return []
        return again

    def _settle(
        self,
        rec: ConsumerRecord,
        msg: Inbound | None,
        res: BatchResult,
        publish: list[Outbound],
        audit: list[AuditEntry],
    ) -> None:
        """The decision ladder for one record: exactly one route, exactly one worker audit entry."""
        env = msg.envelope if msg else None
        source = SourceRef(rec.topic, rec.partition, rec.offset)
        value = bytes(rec.value or b"")
        where = {"topic": rec.topic, "partition": rec.partition, "offset": rec.offset}
        subject = env.subject if env else ""

        def entry(outcome: str, **detail: object) -> AuditEntry:
            return AuditEntry(
                flow=self.flow.name, direction="bus", peer=self.flow.peer, outcome=outcome, dossier_code=subject,
                correlation_id=env.correlation_id if env else "", event_type=env.type if env else "",
                digest=digest(value), detail={**where, **detail},
            )  # fmt: skip

        if isinstance(res, Outcome):
            publish.extend(res.publish)
            audit.extend(res.audit)
            audit.append(entry(res.result))
            self.stats["delivered"] += 1
            return
        failure = classify(res)
        attempt = (msg.attempt if msg else attempt_of(rec.headers)) + 1
        if failure is Failure.TRANSIENT and attempt <= self.schedule.attempts:
            delay = self.schedule.delay_s(attempt)
            nb = int((time.time() + delay) * 1000)
            hdrs = failure_headers(rec.headers, source=source, failure=failure, exc=res, attempt=attempt,
                                   not_before_ms=nb)  # fmt: skip
            publish.append(Outbound(self.retry_topic, value, rec.key, hdrs))
            audit.append(entry("retried", attempt=attempt, error=type(res).__name__))
            self.stats["retried"] += 1
            metrics.RETRIED.labels(self.flow.topic).inc()
            return
        if failure is Failure.REJECTION and env is not None:
            event = RejectionEvent(
                rejected_event_id=env.id, subject=env.subject,
                dossier_code=env.subject if self.flow.subject_is_dossier else "", flow=self.flow.name,
                peer=self.flow.peer, code=getattr(res, "code", ""), reason=error_text(res), at=now_rfc3339(),
            )  # fmt: skip
            out_env = env.caused(
                type=self.flow.rejection_type,
                source=f"/lienthong/{self.flow.name}",
                id=derived_id(env.id, "rejected"),
            )
            publish.append(Outbound(self.flow.rejection_topic, orjson.dumps(event.model_dump()), rec.key,
                                    out_env.to_headers()))  # fmt: skip
            audit.append(entry("rejected", code=event.code))
            self.stats["rejected"] += 1
            metrics.REJECTED.labels(self.flow.topic).inc()
            return
        if failure is Failure.TRANSIENT:
            failure = Failure.RETRIES_EXHAUSTED
        hdrs = failure_headers(rec.headers, source=source, failure=failure, exc=res, attempt=attempt)
        publish.append(Outbound(self.dlq_topic, value, rec.key, hdrs))
        audit.append(entry("dead_lettered", reason=failure.value, error=type(res).__name__))
        self.stats["dead_lettered"] += 1
        metrics.DEAD_LETTERED.labels(self.flow.topic, failure.value).inc()
        with bound_record(env.correlation_id if env else "", env.traceparent if env else "", dossier_code=subject):
            log.warning("dead-lettered", topic=rec.topic, partition=rec.partition, offset=rec.offset,
                        reason=failure.value, error=error_text(res))  # fmt: skip

    async def _commit(
        self, batch: dict[TopicPartition, list[ConsumerRecord]], stop_at: dict[TopicPartition, int]
    ) -> None:
        offsets: dict[TopicPartition, int] = {}
        assigned = self.consumer.assignment()
        for tp, records in batch.items():
            if tp not in assigned:
                continue  # taken away by a rebalance: its new owner resumes from the last commit
            if tp in stop_at:
                self.consumer.seek(tp, stop_at[tp])
                if stop_at[tp] > records[0].offset:
                    offsets[tp] = stop_at[tp]
            elif records:
                offsets[tp] = records[-1].offset + 1
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
            self._committed.update(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance took the partitions away: their new owner re-processes from the last commit;
            # the effects are idempotent, so that repeats nothing outside.
            log.warning("offset commit failed; records will be redelivered", error=str(exc))

    def _update_lag(self) -> None:
        assigned = self.consumer.assignment()
        for tp, committed in list(self._committed.items()):
            if tp not in assigned:
                del self._committed[tp]
                continue
            hw = self.consumer.highwater(tp)
            if hw is not None:
                group = self.flow.group_id or f"{self.settings.consumer_group}.{self.flow.name}"
                metrics.CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, hw - committed))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Keeps rebalances clean: a member gives its partitions up only after its batch in progress is settled
    and committed (so two members never work on one key's records at once); revoked partitions are
    forgotten; newly assigned ones are paused while the circuit is open."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # aiokafka awaits this before the member rejoins, so the new owner cannot start before it returns.
        await self.worker.wait_idle()
        for tp in revoked:
            self.worker.forget(tp)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.worker.on_assigned(assigned)


__all__ = ["BatchHandler", "Flow", "Inbound", "Outcome", "RejectionEvent", "Worker"]
