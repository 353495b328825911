"""The one producer configuration lienthong uses: acks=all, idempotence on, batched."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from lienthong.metrics import PRODUCED
from lienthong.settings import Settings


@dataclass(frozen=True, slots=True)
class Outbound:
    """A record to publish."""

    topic: str
    """Destination topic."""
    value: bytes
    """Exact payload bytes."""
    key: bytes | None
    """Record key (dossier code, payment reference): decides the partition and so the order."""
    headers: Sequence[tuple[str, bytes]]
    """Kafka headers (the envelope plus any lienthong bookkeeping)."""


MAX_RECORD_BYTES = 4 * 1024 * 1024
"""Largest record lienthong produces; topics and the embedded broker accept it (`max.message.bytes`)."""


def make_producer(settings: Settings, *, bootstrap: str | None = None) -> AIOKafkaProducer:
    """A producer that never loses an acknowledged record: acks from all in-sync replicas, idempotent."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap or settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.producer_linger_ms,
        max_batch_size=settings.producer_batch_bytes,
        request_timeout_ms=30000,
        # Room for a body at LIENTHONG_MAX_BODY_BYTES plus envelope and retry/DLQ headers.
        max_request_size=MAX_RECORD_BYTES,
    )


async def publish_all(producer: AIOKafkaProducer, records: Sequence[Outbound]) -> None:
    """Publish records and return once every one is acknowledged (raises if any failed)."""
    if not records:
        return
    futures: list[Any] = [await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers)) for r in records]
    await asyncio.gather(*futures)
    for topic, n in Counter(r.topic for r in records).items():
        PRODUCED.labels(topic).inc(n)
