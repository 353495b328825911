"""An audit record and its place in the hash chain.

`hash = SHA-256(prev_hash || canonical(record))`, where canonical() is the record's fields as JSON with
sorted keys, no whitespace. Changing, removing, reordering or cutting off records breaks the chain at
the first affected sequence number.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64
"""`prev_hash` of record 1."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What a caller appends; the writer gives it a sequence number, time and chain hash."""

    flow: str
    """Business flow: `dossier_sync`, `inbound`, `payment`, `registry`, `ops`, `selftest`..."""
    direction: str
    """`in` (received from a peer), `out` (sent to a peer), `bus` (internal hop), `ops` (operator)."""
    peer: str
    """External system or component: `onestop`, `dvcqg`, `kafka`, `operator`..."""
    outcome: str
    """`received`, `delivered`, `sent`, `skipped_stale`, `retried`, `dead_lettered`, `rejected`,
    `redriven`, `replayed`, `operator_action`..."""
    dossier_code: str = ""
    """The dossier (or payment reference) concerned; empty when none."""
    correlation_id: str = ""
    """Correlation id of the exchange."""
    event_type: str = ""
    """CloudEvents type or peer operation name."""
    digest: str = ""
    """SHA-256 hex of the exact wire bytes that crossed the boundary."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Small non-personal context: error class, topic/partition/offset, operator and reason."""
    body: bytes | None = None
    """Optional wire bytes; stored only encrypted (see `AuditCipher`), never in clear."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored record: an entry with its position in the chain."""

    seq: int
    """1-based position in the chain; contiguous."""
    at: str
    """UTC time appended, RFC 3339 with microseconds."""
    flow: str
    direction: str
    peer: str
    outcome: str
    dossier_code: str
    correlation_id: str
    event_type: str
    digest: str
    detail: str
    """The entry's detail as canonical JSON text."""
    body_enc: str
    """Base64 of nonce||ciphertext of the body, or empty."""
    prev_hash: str
    """`hash` of record seq-1 (GENESIS for seq 1)."""
    hash: str
    """SHA-256 hex over prev_hash and the canonical record."""

    def canonical(self) -> bytes:
        """The bytes the chain hash covers: every field but the two hashes."""
        return _canonical(
            self.seq, self.at, self.flow, self.direction, self.peer, self.outcome, self.dossier_code,
            self.correlation_id, self.event_type, self.digest, self.detail, self.body_enc,
        )  # fmt: skip

    def expected_hash(self) -> str:
        """What `hash` must be given `prev_hash` and the fields."""
        return chain_hash(self.prev_hash, self.canonical())


def _canonical(
    seq: int, at: str, flow: str, direction: str, peer: str, outcome: str, dossier_code: str,
    correlation_id: str, event_type: str, digest: str, detail: str, body_enc: str,
) -> bytes:  # fmt: skip
    # Keys in sorted order by construction (OPT_SORT_KEYS would cost more on the hot path).
    return orjson.dumps({
        "at": at, "body_enc": body_enc, "correlation_id": correlation_id, "detail": detail,
        "digest": digest, "direction": direction, "dossier_code": dossier_code,
        "event_type": event_type, "flow": flow, "outcome": outcome, "peer": peer, "seq": seq,
    })  # fmt: skip


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """SHA-256 hex of prev_hash (ASCII hex) followed by the canonical record bytes."""
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


def digest(data: bytes) -> str:
    """SHA-256 hex of wire bytes."""
    return hashlib.sha256(data).hexdigest()


def seal(entry: AuditEntry, *, seq: int, at: str, prev_hash: str, body_enc: str = "") -> AuditRecord:
    """Turn an entry into the next record of the chain."""
    detail = orjson.dumps(entry.detail, option=orjson.OPT_SORT_KEYS).decode() if entry.detail else ""
    e = entry
    canonical = _canonical(
        seq, at, e.flow, e.direction, e.peer, e.outcome, e.dossier_code, e.correlation_id,
        e.event_type, e.digest, detail, body_enc,
    )  # fmt: skip
    return AuditRecord(
        seq, at, e.flow, e.direction, e.peer, e.outcome, e.dossier_code, e.correlation_id,
        e.event_type, e.digest, detail, body_enc, prev_hash, chain_hash(prev_hash, canonical),
    )  # fmt: skip


COLUMNS = tuple(AuditRecord.__dataclass_fields__)
"""Column order of the audit table."""


def utc_now_text() -> str:
    """Current UTC time, RFC 3339 with microseconds (the `at` of a record)."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
