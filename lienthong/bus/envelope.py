"""The message envelope: CloudEvents 1.0 in Kafka binary mode.

A record's value is the JSON of a canonical pydantic model; its headers carry the CloudEvents
attributes (`ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_subject`, `ce_time`, `ce_dataschema`,
`content-type`) and lienthong's extension attributes, named as the spec requires (`[a-z0-9]`, sent as
`ce_<name>`): `ce_correlationid`, `ce_causationid`, `ce_mappingversion`, `ce_traceparent`. Any CloudEvents
Kafka binding (the SDKs) reads them as extensions.

Deprecated for one release: the pre-0.2 header names `correlation_id`, `causation_id`, `mapping_version`,
`traceparent` are still written alongside and still read when the new ones are absent.
"""

from __future__ import annotations

import functools
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
    dataschema: str = ""
    """`ce_dataschema`: URI of the payload's JSON Schema; empty = derived from `type` via the catalogue."""

    def to_headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers in CloudEvents binary mode (empty optional fields are left out)."""
        pairs = [
            ("ce_specversion", SPEC_VERSION),
            ("ce_id", self.id),
            ("ce_source", self.source),
            ("ce_type", self.type),
            ("ce_subject", self.subject),
            ("ce_time", self.time),
            ("ce_dataschema", self.dataschema or dataschema_for(self.type)),
            ("content-type", self.content_type),
            ("ce_correlationid", self.correlation_id),
            ("ce_causationid", self.causation_id),
            ("ce_mappingversion", self.mapping_version),
            ("ce_traceparent", self.traceparent),
            # Deprecated names, written for one more release so existing consumers keep working.
            ("correlation_id", self.correlation_id),
            ("causation_id", self.causation_id),
            ("mapping_version", self.mapping_version),
            ("traceparent", self.traceparent),
        ]
        return [(k, v.encode()) for k, v in pairs if v]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]]) -> Envelope:
        """Parse the envelope of a record; a record without the CloudEvents core is a PermanentError.

        Extension attributes are read under their CloudEvents names first, then under the deprecated ones.
        """
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
        fields: dict[str, str] = {}
        for k, v in get.items():
            name = _FIELD_OF[k]
            if name != "specversion" and (k not in _DEPRECATED or name not in fields):
                fields[name] = v
        for k, v in get.items():  # a new name wins over a deprecated one, whatever the header order
            if k in _EXTENSIONS:
                fields[_FIELD_OF[k]] = v
        if fields.get("dataschema") == dataschema_for(fields["type"]):
            del fields["dataschema"]  # the derived value: kept implicit, as it was built
        return cls(**fields)

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


_EXTENSIONS = {
    "ce_correlationid": "correlation_id",
    "ce_causationid": "causation_id",
    "ce_mappingversion": "mapping_version",
    "ce_traceparent": "traceparent",
}
"""lienthong's CloudEvents extension attributes (Kafka header → field)."""
_DEPRECATED = {
    "correlation_id": "correlation_id",
    "causation_id": "causation_id",
    "mapping_version": "mapping_version",
    "traceparent": "traceparent",
}
"""Pre-0.2 header names of the extensions: still read (and written) for one release."""
_FIELD_OF = {
    "ce_specversion": "specversion",
    "ce_id": "id",
    "ce_source": "source",
    "ce_type": "type",
    "ce_subject": "subject",
    "ce_time": "time",
    "ce_dataschema": "dataschema",
    "content-type": "content_type",
    **_EXTENSIONS,
    **_DEPRECATED,
}
ENVELOPE_HEADERS = frozenset(_FIELD_OF)
"""Every header the envelope reads or writes (a redrive replaces them all)."""


@functools.cache
def _schemas_by_type() -> dict[str, str]:
    from lienthong.bus.topics import catalogue

    found: dict[str, str] = {}
    for spec in catalogue().values():
        name = spec.payload.rsplit(".", 1)[-1]
        for event_type in spec.event_types:
            found.setdefault(event_type, name)
    return found


@functools.cache
def _schema_base() -> str:
    from lienthong.settings import Settings

    return Settings().public_url.rstrip("/") + "/schemas/"


def dataschema_for(event_type: str) -> str:
    """`ce_dataschema` of an event type: `{LIENTHONG_PUBLIC_URL}/schemas/<PayloadModel>.json` (served by the
    API), or empty for a type no catalogue topic declares."""
    try:
        model = _schemas_by_type().get(event_type)
    except Exception:  # a broken connector registry must not stop a record from being published
        return ""
    return f"{_schema_base()}{model}.json" if model else ""


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
