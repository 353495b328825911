"""CloudEvents attributes for FastStream handlers, the idempotent-consumer helper and the ordering rule."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar

from faststream import Context, Depends
from faststream.kafka import KafkaBroker

from lienthong.bus.envelope import Envelope, dataschema_for

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """A lienthong record's CloudEvents attributes."""

    id: str
    """`ce_id`: the key of idempotent consumption."""
    source: str
    """`ce_source`: the producing system."""
    type: str
    """`ce_type`, versioned (`vn.gov.lienthong.dossier.status_changed.v1`)."""
    subject: str
    """`ce_subject`: the dossier code (or payment reference); also the record key."""
    time: datetime | None
    """`ce_time` parsed (timezone-aware), None when absent."""
    correlation_id: str
    """`ce_correlationid`: shared by every message of one business exchange."""
    causation_id: str
    """`ce_causationid`: the event that caused this one (a redriven record: the dead letter's id)."""
    mapping_version: str
    """`ce_mappingversion`."""
    traceparent: str
    """`ce_traceparent` (W3C trace context)."""
    dataschema: str
    """`ce_dataschema`: URI of the payload's JSON Schema."""


def cloudevent_of(headers: Mapping[str, str | bytes] | list[tuple[str, bytes]]) -> CloudEvent:
    """Parse a record's headers (raises `lienthong.errors.PermanentError` for a non-CloudEvent)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    raw = [(k, v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs]
    env = Envelope.from_headers(raw)
    when = datetime.fromisoformat(env.time.replace("Z", "+00:00")) if env.time else None
    return CloudEvent(env.id, env.source, env.type, env.subject, when, env.correlation_id, env.causation_id,
                      env.mapping_version, env.traceparent, env.dataschema or dataschema_for(env.type))  # fmt: skip


def standard_event(value: bytes, headers: list[tuple[str, bytes]], key: bytes | None = None) -> Any:
    """The record as the CloudEvents SDK's own event object (`cloudevents.core`), for code that already
    speaks CloudEvents: `get_extension("correlationid")`, `get_data()` (the JSON payload), ..."""
    from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

    return from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value))


def _from_message(message: Annotated[Any, Context("message")]) -> CloudEvent:
    raw = getattr(message, "raw_message", None)
    headers = getattr(raw, "headers", None)
    if headers is None:  # batch or test message: the decoded header dict
        return cloudevent_of(message.headers)
    return cloudevent_of(list(headers))


Attributes = Annotated[CloudEvent, Depends(_from_message)]
"""Handler parameter type: `async def handle(event: DossierEvent, ce: Attributes)`."""


class SeenIds(Protocol):
    """Where an idempotent consumer remembers the `ce_id`s it has processed."""

    async def seen(self, event_id: str) -> bool:
        """Was this id processed already?"""
        ...

    async def remember(self, event_id: str) -> None:
        """Record this id as processed."""
        ...


class MemorySeenIds:
    """The last `capacity` ids in memory: enough against redeliveries after a rebalance, not across a
    restart (use `StoreSeenIds` for that)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    async def seen(self, event_id: str) -> bool:
        """Was this id processed already (within the window)?"""
        return event_id in self._ids

    async def remember(self, event_id: str) -> None:
        """Record this id, forgetting the oldest beyond `capacity`."""
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


class StoreSeenIds:
    """Ids kept in a database (`sqlite:///path.db` or `postgresql://...`): survives restarts, shared by the
    members of a consumer group. Uses lienthong's idempotency table."""

    def __init__(self, dsn: str, scope: str = "sdk") -> None:
        from lienthong.bus.idempotency import IdempotencyStore

        self.scope = scope
        self.store = IdempotencyStore(dsn)
        self._opened = False

    async def _open(self) -> None:
        if not self._opened:
            await self.store.open()
            self._opened = True

    async def seen(self, event_id: str) -> bool:
        """Was this id processed already?"""
        await self._open()
        return bool(await self.store.get_many([f"{self.scope}:{event_id}"]))

    async def remember(self, event_id: str) -> None:
        """Record this id."""
        await self._open()
        await self.store.put_many(self.scope, {f"{self.scope}:{event_id}": "done"})

    async def close(self) -> None:
        """Release the connection pool."""
        await self.store.close()


class IdempotentConsumer:
    """Runs an effect once per `ce_id`. The id is remembered after the effect succeeds, so a crash between
    the two repeats the effect once: make the effect itself idempotent when that matters (e.g. an upsert)."""

    def __init__(self, seen: SeenIds | None = None) -> None:
        self.seen = seen or MemorySeenIds()
        self._locks: dict[str, asyncio.Lock] = {}
        self.applied = 0
        """Effects made."""
        self.skipped = 0
        """Deliveries skipped as already processed."""

    async def run(self, ce: CloudEvent, effect: Callable[[], Awaitable[T] | T]) -> bool:
        """Make the effect unless `ce.id` was processed; True when it ran now. Concurrent deliveries of one
        id (two partitions after a re-publish) are serialised, so the effect never runs twice at once."""
        lock = self._locks.setdefault(ce.id, asyncio.Lock())
        async with lock:
            try:
                if await self.seen.seen(ce.id):
                    self.skipped += 1
                    return False
                result = effect()
                if isinstance(result, Awaitable):
                    await result
                await self.seen.remember(ce.id)
                self.applied += 1
                return True
            finally:
                self._locks.pop(ce.id, None)


class OrderGuard:
    """The `ce_time` ordering rule. Per subject (dossier), records arrive in partition order, but a
    redelivery, a replay or a redrive can bring an older event after a newer one. An event whose `ce_time`
    is older than the newest one applied for its subject is stale and should not overwrite it; equal times
    are not stale (the id rule decides duplicates). Across subjects `ce_time` is only informative."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._newest: OrderedDict[str, datetime] = OrderedDict()

    def is_stale(self, ce: CloudEvent) -> bool:
        """True for an event older than the newest seen for its subject; otherwise records it as newest."""
        if ce.time is None or not ce.subject:
            return False
        newest = self._newest.get(ce.subject)
        if newest is not None and ce.time < newest:
            return True
        self._newest[ce.subject] = ce.time
        self._newest.move_to_end(ce.subject)
        while len(self._newest) > self.capacity:
            self._newest.popitem(last=False)
        return False


def lienthong_broker(bootstrap: str, **options: Any) -> KafkaBroker:
    """A FastStream Kafka broker for lienthong's topics (bootstrap `host:port[,host:port...]`)."""
    servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
    return KafkaBroker(servers, **options)


__all__ = [
    "Attributes", "CloudEvent", "IdempotentConsumer", "MemorySeenIds", "OrderGuard", "SeenIds", "StoreSeenIds",
    "cloudevent_of", "lienthong_broker", "standard_event",
]  # fmt: skip
