"""Dead letters: list by topic and reason, show one decoded, redrive a filtered set."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiokafka import ConsumerRecord
from jsonpatch import JsonPatch, JsonPatchException
from jsonpointer import JsonPointerException

from lienthong.audit.record import AuditEntry, digest
from lienthong.audit.redact import mask_text
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import ENVELOPE_HEADERS, Envelope, header
from lienthong.bus.policy import bookkeeping, original_headers
from lienthong.bus.producer import Outbound, make_producer, publish_all
from lienthong.bus.topics import catalogue
from lienthong.errors import PermanentError
from lienthong.ops.tap import read_topic
from lienthong.settings import Settings


def dlq_topics(topic: str | None = None) -> list[str]:
    """The DLQ topics to look at: one main topic's, or every catalogue topic's."""
    if topic:
        return [topic if topic.endswith(".dlq") else f"{topic}.dlq"]
    return [s.dlq for s in catalogue().values() if s.companions]


@dataclass(frozen=True)
class DlqFilter:
    """Which dead letters to act on; every field that is set must match."""

    dossier_code: str | None = None
    """`ce_subject` equals this."""
    reason: str | None = None
    """`lt_error_class` equals this (transient, permanent, retries_exhausted, unexpected...)."""
    since_ms: int | None = None
    """Last failure at or after this time (epoch ms)."""
    until_ms: int | None = None
    """Last failure before this time (epoch ms)."""
    position: str | None = None
    """Only the dead letter at `TOPIC/PARTITION/OFFSET`."""

    def matches(self, rec: ConsumerRecord) -> bool:
        """Does the dead letter pass the filter?"""
        meta = bookkeeping(rec.headers)
        subject = next((v.decode(errors="replace") for k, v in rec.headers if k == "ce_subject"), "")
        last = int(meta.get("lt_last_failure", "0") or 0)
        return (
            (self.dossier_code is None or subject == self.dossier_code)
            and (self.reason is None or meta.get("lt_error_class") == self.reason)
            and (self.since_ms is None or last >= self.since_ms)
            and (self.until_ms is None or last < self.until_ms)
            and (self.position is None or f"{rec.topic}/{rec.partition}/{rec.offset}" == self.position)
        )


async def collect(settings: Settings, topic: str | None, flt: DlqFilter) -> list[ConsumerRecord]:
    """Every dead letter matching the filter, oldest first per partition."""
    out: list[ConsumerRecord] = []
    for t in dlq_topics(topic):
        try:
            out.extend([rec async for rec in read_topic(settings.bootstrap_servers, t) if flt.matches(rec)])
        except LookupError:
            continue
    return out


def summarise(records: list[ConsumerRecord]) -> Counter[tuple[str, str]]:
    """Counts by (source topic, reason)."""
    c: Counter[tuple[str, str]] = Counter()
    for rec in records:
        meta = bookkeeping(rec.headers)
        c[(meta.get("lt_source_topic", rec.topic.removesuffix(".dlq")), meta.get("lt_error_class", "?"))] += 1
    return c


def dead_letter_view(rec: ConsumerRecord) -> dict[str, object]:
    """One dead letter for `dlq list --json`: its position (what `dlq show` takes) and error headers;
    no payload (`dlq show` prints it masked)."""
    meta = bookkeeping(rec.headers)
    return {
        "position": f"{rec.topic}/{rec.partition}/{rec.offset}",
        "source_topic": meta.get("lt_source_topic", rec.topic.removesuffix(".dlq")),
        "dossier_code": next((v.decode(errors="replace") for k, v in rec.headers if k == "ce_subject" and v), ""),
        "ce_id": next((v.decode(errors="replace") for k, v in rec.headers if k == "ce_id" and v), ""),
        "reason": meta.get("lt_error_class", ""),
        "error_type": meta.get("lt_error_type", ""),
        "error_message": meta.get("lt_error_message", ""),
        "attempt": int(meta.get("lt_attempt", "0") or 0) if meta.get("lt_attempt", "0").isdecimal() else 0,
        "first_failure_ms": int(meta["lt_first_failure"]) if meta.get("lt_first_failure", "").isdecimal() else None,
        "last_failure_ms": int(meta["lt_last_failure"]) if meta.get("lt_last_failure", "").isdecimal() else None,
    }


def redrive_record(rec: ConsumerRecord, patch: JsonPatch | None = None) -> Outbound:
    """The dead letter as a fresh record on its source topic: original bytes (or, with `patch`, the
    RFC 6902 patch applied to its JSON payload), original headers, a new `ce_id` with `ce_causationid`
    pointing at the dead one. A patch that does not apply raises `PatchError` (nothing is published)."""
    meta = bookkeeping(rec.headers)
    target = meta.get("lt_source_topic") or rec.topic.removesuffix(".dlq")
    target = target.removesuffix(".retry")
    headers = original_headers(rec.headers)
    value = bytes(rec.value or b"")
    if patch is not None:
        value = apply_patch(value, patch, where=f"{rec.topic}/{rec.partition}/{rec.offset}")
    try:
        env = Envelope.from_headers(headers).redriven()
        headers = [(k, v) for k, v in headers if k not in ENVELOPE_HEADERS] + env.to_headers()
    except PermanentError:
        if patch is not None:
            raise PatchError(f"{rec.topic}/{rec.partition}/{rec.offset} is not a CloudEvent: an edited copy could "
                             "not be linked to it; redrive it without --patch") from None  # fmt: skip
        # not a CloudEvent (a poison record): re-published exactly as it was
    return Outbound(target, value, rec.key, headers)


class PatchError(ValueError):
    """A JSON Patch does not apply to a dead letter (or the payload is not JSON)."""


def load_patch(text: str) -> JsonPatch:
    """An RFC 6902 JSON Patch document (a JSON array of operations); `PatchError` when it is not one."""
    try:
        ops = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise PatchError(f"the patch is not JSON ({exc})") from None
    if not isinstance(ops, list) or not all(isinstance(op, dict) and "op" in op and "path" in op for op in ops):
        raise PatchError('the patch must be a JSON array of RFC 6902 operations, e.g. [{"op": "replace", '
                         '"path": "/dossier/status", "value": 4}]')  # fmt: skip
    try:
        return JsonPatch(ops)
    except (JsonPatchException, JsonPointerException, TypeError) as exc:
        raise PatchError(f"invalid JSON Patch: {exc}") from None


def apply_patch(value: bytes, patch: JsonPatch, *, where: str) -> bytes:
    """The payload with the patch applied, as compact JSON."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise PatchError(f"{where}: the payload is not JSON, a JSON Patch cannot apply") from None
    try:
        patched = patch.apply(doc, in_place=False)
    except (JsonPatchException, JsonPointerException) as exc:
        raise PatchError(f"{where}: the patch does not apply ({mask_text(str(exc))[:200]})") from None
    return orjson.dumps(patched)


def patch_for_audit(patch: JsonPatch) -> dict[str, object]:
    """What the audit chain keeps of a patch: each operation with its path, and its value only as a
    SHA-256 (a value may be a name or an ID number); plus the SHA-256 of the whole patch's JSON."""
    ops: list[dict[str, object]] = []
    for op in patch.patch:
        kept = {k: v for k, v in op.items() if k != "value"}
        if "value" in op:
            kept["value_sha256"] = hashlib.sha256(orjson.dumps(op["value"], option=orjson.OPT_SORT_KEYS)).hexdigest()
        ops.append(kept)
    whole = hashlib.sha256(orjson.dumps(list(patch.patch), option=orjson.OPT_SORT_KEYS)).hexdigest()
    return {"ops": ops, "sha256": whole}


async def redrive(
    settings: Settings,
    records: list[ConsumerRecord],
    *,
    operator: str,
    reason: str,
    audit: AuditWriter,
    rate_per_s: float = 200.0,
    progress: Callable[[int], None] | None = None,
    patch: JsonPatch | None = None,
) -> int:
    """Republish dead letters to their source topics at most `rate_per_s`, each audited with the operator.

    With `patch`, each payload is edited first (all are checked before anything is published); the
    audit chain keeps the original's digest, the patch, the operator and the reason.
    """
    edits = [redrive_record(r, patch) for r in records]  # a patch that fails on any record stops here
    producer = make_producer(settings)
    await producer.start()
    done = 0
    try:
        await audit.append([AuditEntry(
            flow="ops", direction="ops", peer="operator", outcome="operator_action",
            event_type="dlq.redrive", detail={"operator": operator, "reason": reason, "count": len(records),
                                              **({"patch": patch_for_audit(patch)} if patch is not None else {})},
        )])  # fmt: skip
        chunk = max(1, int(rate_per_s // 5))
        for i in range(0, len(records), chunk):
            started = time.monotonic()
            part = records[i : i + chunk]
            outs = edits[i : i + chunk]
            await publish_all(producer, outs)
            entries = []
            for rec, out in zip(part, outs, strict=True):
                subject = next((v.decode() for k, v in out.headers if k == "ce_subject"), "")
                new_id = next((v.decode() for k, v in out.headers if k == "ce_id"), "")
                detail: dict[str, object] = {
                    "operator": operator, "reason": reason, "from": f"{rec.topic}/{rec.partition}/{rec.offset}",
                    "to": out.topic, "new_id": new_id, "original_id": header(rec.headers, "ce_id") or "",
                }  # fmt: skip
                if patch is not None:
                    detail |= {"original_digest": digest(bytes(rec.value or b"")), "patch": patch_for_audit(patch)}
                entries.append(AuditEntry(
                    flow="ops", direction="ops", peer="operator", outcome="redriven_edited" if patch else "redriven",
                    dossier_code=subject, event_type="dlq.redrive", digest=digest(out.value), detail=detail,
                ))  # fmt: skip
            await audit.append(entries)
            done += len(part)
            if progress:
                progress(len(part))
            # Rate limit: a chunk per 1/5 s at most.
            await asyncio.sleep(max(0.0, len(part) / rate_per_s - (time.monotonic() - started)))
    finally:
        await producer.stop()
    return done


__all__ = [
    "DlqFilter", "PatchError", "apply_patch", "collect", "dead_letter_view", "dlq_topics", "load_patch",
    "patch_for_audit", "redrive", "redrive_record", "summarise",
]  # fmt: skip
