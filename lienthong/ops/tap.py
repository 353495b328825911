"""`lienthong tap`: print a topic's records with their headers, like kcat."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from lienthong.audit.redact import redact
from lienthong.bus.topics import partitions_of


def record_view(rec: ConsumerRecord, *, reveal: bool = False) -> dict[str, Any]:
    """A JSON-ready view of a record: position, key, headers, payload (personal data masked)."""
    raw = bytes(rec.value or b"")
    try:
        payload: Any = orjson.loads(raw)
        if not reveal:
            payload = redact(payload)
    except orjson.JSONDecodeError:
        # Not JSON: raw bytes may hold personal data, so show only its size and digest unless revealed.
        payload = (
            {"_undecodable_base64": base64.b64encode(raw[:4096]).decode()}
            if reveal
            else {"_undecodable_bytes": len(raw), "_sha256": hashlib.sha256(raw).hexdigest()}
        )
    return {
        "topic": rec.topic,
        "partition": rec.partition,
        "offset": rec.offset,
        "timestamp_ms": rec.timestamp,
        "key": (rec.key or b"").decode(errors="replace"),
        "headers": {k: (v or b"").decode(errors="replace") for k, v in rec.headers},
        "value": payload,
    }


async def read_topic(
    bootstrap: str, topic: str, *, from_beginning: bool = True, limit: int | None = None,
    follow: bool = False,
) -> AsyncIterator[ConsumerRecord]:  # fmt: skip
    """Records of `topic` (no consumer group, nothing committed); stops at the end unless `follow`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    try:
        parts = await partitions_of(consumer, topic)
        if not parts:
            raise LookupError(f"topic {topic!r} does not exist (create it with `lienthong topics create`)")
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        end = await consumer.end_offsets(tps)
        seen = 0
        while True:
            if not follow and all([await consumer.position(tp) >= end[tp] for tp in tps]):
                return
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batch.values():
                for rec in records:
                    if not follow and rec.offset >= end[TopicPartition(rec.topic, rec.partition)]:
                        continue
                    yield rec
                    seen += 1
                    if limit is not None and seen >= limit:
                        return
    finally:
        await consumer.stop()
