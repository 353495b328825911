"""The message envelope: CloudEvents 1.0 in Kafka binary mode, plus lienthong's tracing headers.

A record's value is the JSON of a canonical pydantic model; its headers carry the CloudEvents
attributes (`ce_id`, `ce_source`, `ce_type`, `ce_subject`, `ce_time`, `content-type`) and
`correlation_id`, `causation_id`, `mapping_version`, `traceparent`. Any CloudEvents Kafka binding
can read a lienthong record.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from lienthong.errors import PermanentError

Headers = Sequence[tuple[str, bytes]]
"""Kafka record headers as aiokafka gives and takes them."""

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
_REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_specversion")


@dataclass(frozen=True, slots=True)
class Envelope:
    """CloudEvents attributes and lienthong's tracing fields of one record."""

    id: str
    """`ce_id`: unique per event; a re-published (retried, redriven) event gets a new one."""
    source: str
    """`ce_source`: URI-reference of the producing system, e.g. `/lienthong/onestop`."""
    type: str
    """`ce_type`: versioned event type, e.g. `vn.gov.lienthong.dossier.status_changed.v1`."""
    subject: str = ""
    """`ce_subject`: the dossier code (or payment reference) the event is about."""
    time: str = ""
    """`ce_time`: RFC 3339 time the event happened."""
    correlation_id: str = ""
    """Same for every message of one business exchange (a dossier's journey through the flows)."""
    causation_id: str = ""
    """`ce_id` of the message that caused this one (empty for an original event)."""
    mapping_version: str = ""
    """Version of the mapping that produced the payload (to replay with the right code)."""
    traceparent: str = ""
    """W3C trace context, carried through unchanged."""
    content_type: str = CONTENT_TYPE
    """Payload media type; lienthong payloads are JSON."""

    def to_headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers in CloudEvents binary mode (empty optional fields are left out)."""
        pairs = [
            ("ce_specversion", SPEC_VERSION),
            ("ce_id", self.id),
            ("ce_source", self.source),
            ("ce_type", self.type),
            ("ce_subject", self.subject),
            ("ce_time", self.time),
            ("content-type", self.content_type),
            ("correlation_id", self.correlation_id),
            ("causation_id", self.causation_id),
            ("mapping_version", self.mapping_version),
            ("traceparent", self.traceparent),
        ]
        return [(k, v.encode()) for k, v in pairs if v]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]]) -> Envelope:
        """Parse the envelope of a record; a record without the CloudEvents core is a PermanentError."""
        h = dict(headers)
        nulls = [k for k, v in h.items() if v is None and k in _FIELD_OF]
        if nulls:
            raise PermanentError(f"envelope header(s) with a null value: {', '.join(nulls)}")
        missing = [k for k in _REQUIRED if k not in h]
        if missing:
            raise PermanentError(f"not a CloudEvents record: missing header(s) {', '.join(missing)}")
        try:
            get = {k: v.decode() for k, v in h.items() if k in _FIELD_OF}
        except UnicodeDecodeError as exc:
            raise PermanentError(f"envelope header is not UTF-8: {exc}") from exc
        if get["ce_specversion"] != SPEC_VERSION:
            raise PermanentError(f"unsupported CloudEvents specversion {get['ce_specversion']!r}")
        return cls(**{_FIELD_OF[k]: v for k, v in get.items() if k != "ce_specversion"})

    def caused(self, *, type: str, source: str, subject: str | None = None, id: str = "") -> Envelope:
        """A new event caused by this one: a new (or the given) id and time, same correlation and trace."""
        return Envelope(
            id or new_id(),
            source,
            type,
            self.subject if subject is None else subject,
            now_rfc3339(),
            self.correlation_id,
            self.id,
            self.mapping_version,
            self.traceparent,
            self.content_type,
        )

    def redriven(self) -> Envelope:
        """The same event published again by an operator: new id, linked to the original by causation."""
        return replace(self, id=new_id(), causation_id=self.id)


_FIELD_OF = {
    "ce_specversion": "specversion",
    "ce_id": "id",
    "ce_source": "source",
    "ce_type": "type",
    "ce_subject": "subject",
    "ce_time": "time",
    "content-type": "content_type",
    "correlation_id": "correlation_id",
    "causation_id": "causation_id",
    "mapping_version": "mapping_version",
    "traceparent": "traceparent",
}


def new_id() -> str:
    """A new event id (UUID4 text), formatted directly: one is made for every record on the hot path."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now_rfc3339() -> str:
    """Current UTC time as RFC 3339 with microseconds."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def new_envelope(
    *,
    type: str,
    source: str,
    subject: str = "",
    correlation_id: str = "",
    mapping_version: str = "",
    traceparent: str = "",
) -> Envelope:
    """An envelope for an original event; its id doubles as correlation id unless one is given."""
    eid = new_id()
    return Envelope(
        id=eid,
        source=source,
        type=type,
        subject=subject,
        time=now_rfc3339(),
        correlation_id=correlation_id or eid,
        mapping_version=mapping_version,
        traceparent=traceparent,
    )


def header(headers: Iterable[tuple[str, bytes]], name: str) -> str | None:
    """The last value of header `name` as text, or None."""
    found: str | None = None
    for k, v in headers:
        if k == name:
            found = v.decode(errors="replace")
    return found


def with_headers(headers: Iterable[tuple[str, bytes]], **updates: str) -> list[tuple[str, bytes]]:
    """`headers` with each `updates` key set (replacing earlier values), order otherwise kept."""
    out = [(k, v) for k, v in headers if k not in updates]
    out.extend((k, v.encode()) for k, v in updates.items())
    return out


_NS = uuid.UUID("6f1c2f55-8d8e-4a5c-9a53-6c69656e7468")


def derived_id(parent_id: str, salt: str) -> str:
    """A deterministic id for an event caused by `parent_id`: redelivery re-publishes the same id,
    so consumers can drop the duplicate."""
    return str(uuid.uuid5(_NS, f"{parent_id}/{salt}"))
