"""Replay: re-run a time window of a topic through a flow's handler, outside the live consumer group.

Every peer fault ends in a replay. The live group's offsets are never touched: the window is read by a
group-less consumer (`offsets_for_times` at `since` and `until`), each batch goes through the flow's own
batch handler, the outputs it returns are published (their ids are deterministic, so consumers drop a
repeat) and its audit entries appended. Effects are idempotent (effect keys, version guards), so
replaying a window that was already delivered applies nothing again: the report says so in `skipped`.

Each replay is an operator action in the audit chain: one `replay.started` entry before the first record
(who, why, window) and one `replay.finished` entry with the counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from lienthong.audit.record import AuditEntry
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import Envelope, header
from lienthong.bus.policy import Failure, attempt_of, classify
from lienthong.bus.producer import Outbound, make_producer, publish_all
from lienthong.bus.topics import partitions_of
from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome
from lienthong.errors import PermanentError, TransientError
from lienthong.settings import Settings

SENT = "sent"
"""Audit outcome a handler gives an effect it made now (a call to a peer)."""


@dataclass(frozen=True)
class ReplayWindow:
    """Which records to replay: `since <= record timestamp < until` on every partition of `topic`."""

    topic: str
    """Topic read (a main topic or its `.retry`)."""
    since_ms: int
    """Start of the window, epoch milliseconds (inclusive)."""
    until_ms: int
    """End of the window, epoch milliseconds (exclusive)."""
    dossier_code: str | None = None
    """Only records whose `ce_subject` is this dossier code."""


@dataclass
class ReplayReport:
    """What a replay did, record by record."""

    read: int = 0
    """Records of the window (after the dossier filter)."""
    applied: int = 0
    """Records whose effect was made now (the handler audited a `sent`, or reported another result)."""
    skipped: int = 0
    """Records whose effect was already applied (`skipped_*` results, or nothing sent)."""
    rejected: int = 0
    """Records the peer refused (business rejection); not re-reported on `dossier.outcomes`."""
    failed: int = 0
    """Records that still failed after the in-process attempts (nothing lost: they stay in the topic)."""
    published: int = 0
    """Output records the handler asked to publish (deterministic ids)."""

    def as_dict(self) -> dict[str, int]:
        """JSON view (`--json`)."""
        return asdict(self)


def classify_outcome(outcome: Outcome) -> str:
    """`applied` or `skipped` for one delivered record."""
    if any(e.outcome == SENT for e in outcome.audit):
        return "applied"
    if outcome.result.startswith("skipped") or outcome.result == "delivered":
        return "skipped"
    return "applied"  # a flow-specific result (e.g. `projected`): the handler did its work again


async def read_window(  # noqa: PLR0912 - one bounded read: open, locate the window, read, close
    bootstrap: str, window: ReplayWindow
) -> AsyncIterator[list[ConsumerRecord]]:
    """The window's records in poll batches, partition order kept (no consumer group, nothing committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    try:
        parts = await partitions_of(consumer, window.topic)
        if not parts:
            raise LookupError(f"topic {window.topic!r} does not exist (see `lienthong topics list`)")
        tps = [TopicPartition(window.topic, p) for p in parts]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times(dict.fromkeys(tps, window.since_ms))
        stops = await consumer.offsets_for_times(dict.fromkeys(tps, window.until_ms))
        begin: dict[TopicPartition, int] = {}
        stop_at: dict[TopicPartition, int] = {}
        for tp in tps:
            first = starts[tp].offset if starts.get(tp) is not None else ends[tp]
            last = stops[tp].offset if stops.get(tp) is not None else ends[tp]
            if first < last:
                begin[tp], stop_at[tp] = first, last
        active = set(stop_at)
        if not active:
            return
        consumer.assign(list(active))
        for tp, offset in begin.items():
            consumer.seek(tp, offset)
        while active:
            batch = await consumer.getmany(*active, timeout_ms=500, max_records=500)
            out: list[ConsumerRecord] = []
            for tp, records in batch.items():
                for rec in records:
                    if rec.offset >= stop_at[tp]:
                        break
                    if window.since_ms <= rec.timestamp < window.until_ms and (
                        window.dossier_code is None or header(rec.headers, "ce_subject") == window.dossier_code
                    ):
                        out.append(rec)
            for tp in list(active):
                if await consumer.position(tp) >= stop_at[tp]:
                    active.discard(tp)
            if out:
                yield out
    finally:
        await consumer.stop()


def _decode(records: list[ConsumerRecord]) -> tuple[list[Inbound], int]:
    good: list[Inbound] = []
    bad = 0
    for rec in records:
        try:
            good.append(Inbound(rec, Envelope.from_headers(rec.headers), attempt_of(rec.headers)))
        except PermanentError:
            bad += 1  # not a CloudEvent: the live worker dead-lettered it; replay cannot run it either
    return good, bad


async def run_handler(flow: Flow, inbound: list[Inbound], attempts: int = 3) -> list[BatchResult]:
    """The handler over `inbound`; records failing transiently are tried again (bounded, with backoff)."""
    results: list[BatchResult] = [TransientError("not tried")] * len(inbound)
    todo = list(range(len(inbound)))
    for attempt in range(attempts):
        try:
            out = await flow.handler([inbound[i] for i in todo])
        except Exception as exc:  # a crashing handler fails its whole call; tried again like a transient
            out = [TransientError(f"handler failed: {type(exc).__name__}")] * len(todo)
        again = []
        for i, res in zip(todo, out, strict=True):
            results[i] = res
            if isinstance(res, TransientError):
                again.append(i)
        todo = again
        if not todo:
            break
        await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
    return results


async def replay(
    settings: Settings,
    window: ReplayWindow,
    flow: Flow,
    *,
    operator: str,
    reason: str,
    audit: AuditWriter,
    rate_per_s: float = 0.0,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay `window` through `flow`'s handler, at most `rate_per_s` records a second (0 = no limit)."""
    report = ReplayReport()
    scope = {
        "operator": operator, "reason": reason, "topic": window.topic, "flow": flow.name,
        "since_ms": window.since_ms, "until_ms": window.until_ms, "dossier": window.dossier_code or "",
    }  # fmt: skip
    await audit.append([AuditEntry(flow="ops", direction="ops", peer="operator", outcome="operator_action",
                                   event_type="replay.started", dossier_code=window.dossier_code or "",
                                   detail=scope)])  # fmt: skip
    producer = make_producer(settings)
    await producer.start()
    try:
        async for batch in read_window(settings.bootstrap_servers, window):
            chunk = max(1, int(rate_per_s // 5)) if rate_per_s > 0 else len(batch)
            for i in range(0, len(batch), chunk):
                started = time.monotonic()
                part = batch[i : i + chunk]
                await _replay_part(flow, part, report, producer, audit)
                if progress is not None:
                    progress(len(part))
                if rate_per_s > 0:
                    await asyncio.sleep(max(0.0, len(part) / rate_per_s - (time.monotonic() - started)))
    finally:
        await producer.stop()
        await audit.append([AuditEntry(flow="ops", direction="ops", peer="operator", outcome="operator_action",
                                       event_type="replay.finished", dossier_code=window.dossier_code or "",
                                       detail={**scope, **report.as_dict()})])  # fmt: skip
    return report


async def _replay_part(
    flow: Flow, part: list[ConsumerRecord], report: ReplayReport, producer: AIOKafkaProducer, audit: AuditWriter
) -> None:
    inbound, undecodable = _decode(part)
    report.read += len(part)
    report.failed += undecodable
    results = await run_handler(flow, inbound) if inbound else []
    publish: list[Outbound] = []
    entries: list[AuditEntry] = []
    for res in results:
        if isinstance(res, Outcome):
            publish.extend(res.publish)
            entries.extend(res.audit)
            if classify_outcome(res) == "applied":
                report.applied += 1
            else:
                report.skipped += 1
        elif classify(res) is Failure.REJECTION:
            report.rejected += 1
        else:
            report.failed += 1
    await publish_all(producer, publish)
    report.published += len(publish)
    await audit.append(entries)


async def list_window(bootstrap: str, window: ReplayWindow, limit: int = 10_000) -> list[dict[str, object]]:
    """What `--dry-run` prints: each record's position, dossier, type, id and time (no payload)."""
    rows: list[dict[str, object]] = []
    async for batch in read_window(bootstrap, window):
        for rec in batch:
            rows.append({
                "position": f"{rec.topic}/{rec.partition}/{rec.offset}",
                "timestamp_ms": rec.timestamp,
                "dossier_code": header(rec.headers, "ce_subject") or "",
                "ce_type": header(rec.headers, "ce_type") or "",
                "ce_id": header(rec.headers, "ce_id") or "",
            })  # fmt: skip
            if len(rows) >= limit:
                return rows
    return rows


__all__ = ["ReplayReport", "ReplayWindow", "classify_outcome", "list_window", "read_window", "replay", "run_handler"]
