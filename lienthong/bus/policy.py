"""Delivery policy: how a failure is classified, when a retry is due, what a dead letter carries.

The decision ladder itself (deliver / retry topic / DLQ / rejection / pause) is in
`lienthong.bus.worker.Worker._settle`; this module holds the rules it applies.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from pydantic import ValidationError

from lienthong.audit.redact import mask_text
from lienthong.errors import BusinessRejection, PermanentError, TransientError

LT_PREFIX = "lt_"
"""lienthong's bookkeeping headers start with this; everything else is the original record's."""


class Failure(str, Enum):
    """Reason class of a failure: decides the route."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    REJECTION = "business_rejection"
    RETRIES_EXHAUSTED = "retries_exhausted"
    UNEXPECTED = "unexpected"
    """A bug in a handler: dead-lettered like a permanent failure so nothing is lost or stuck."""


def classify(exc: BaseException) -> Failure:
    """The reason class of an exception raised by a handler."""
    if isinstance(exc, TransientError):
        return Failure.TRANSIENT
    if isinstance(exc, BusinessRejection):
        return Failure.REJECTION
    if isinstance(exc, PermanentError):
        return Failure.PERMANENT
    return Failure.UNEXPECTED


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential retry-topic schedule with full jitter."""

    attempts: int
    """Rounds through the retry topic before the DLQ."""
    base_s: float
    """Delay of the first round, seconds."""
    max_s: float
    """Cap on any delay, seconds."""

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry round `attempt` (1-based): uniform in [cap/2, cap], cap = base*2^(n-1)."""
        cap = min(self.max_s, self.base_s * (2 ** min(attempt - 1, 60)))
        return float(cap / 2 + (rng or random).random() * cap / 2)


def original_headers(headers: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """The record's own headers, without lienthong's bookkeeping."""
    return [(k, v) for k, v in headers if not k.startswith(LT_PREFIX)]


def bookkeeping(headers: Iterable[tuple[str, bytes]]) -> dict[str, str]:
    """lienthong's bookkeeping headers as text."""
    return {k: (v or b"").decode(errors="replace") for k, v in headers if k.startswith(LT_PREFIX)}


def error_text(exc: BaseException, limit: int = 500) -> str:
    """An exception's message, personal data masked, bounded in length.

    Validation errors quote the offending input (a name cannot be found by pattern), so for them only
    the locations and messages are kept.
    """
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False, include_url=False)
        ]
        return mask_text("; ".join(parts))[:limit]
    return mask_text(str(exc))[:limit]


@dataclass(frozen=True)
class SourceRef:
    """Where a record was first consumed from (kept through retry rounds into the DLQ)."""

    topic: str
    partition: int
    offset: int


def failure_headers(
    headers: Sequence[tuple[str, bytes]],
    *,
    source: SourceRef,
    failure: Failure,
    exc: BaseException,
    attempt: int,
    not_before_ms: int | None = None,
) -> list[tuple[str, bytes]]:
    """Headers for a retry or DLQ record: the original headers untouched, then `lt_*` error headers.

    `lt_first_failure` and `lt_source_*` survive from earlier rounds, so a DLQ record names where the
    message first came from and when it first failed.
    """
    prior = bookkeeping(headers)
    now_ms = str(int(time.time() * 1000))
    extra = {
        "lt_error_class": failure.value,
        "lt_error_type": type(exc).__name__,
        "lt_error_message": error_text(exc),
        "lt_attempt": str(attempt),
        "lt_first_failure": prior.get("lt_first_failure", now_ms),
        "lt_last_failure": now_ms,
        "lt_source_topic": prior.get("lt_source_topic", source.topic),
        "lt_source_partition": prior.get("lt_source_partition", str(source.partition)),
        "lt_source_offset": prior.get("lt_source_offset", str(source.offset)),
    }
    if getattr(exc, "peer", ""):
        extra["lt_error_peer"] = str(getattr(exc, "peer", ""))
    if getattr(exc, "code", ""):
        extra["lt_error_code"] = str(getattr(exc, "code", ""))
    if not_before_ms is not None:
        extra["lt_not_before"] = str(not_before_ms)
    return original_headers(headers) + [(k, v.encode()) for k, v in extra.items()]


def attempt_of(headers: Iterable[tuple[str, bytes]]) -> int:
    """How many retry-topic rounds the record has been through (0 for a fresh record)."""
    value = bookkeeping(headers).get("lt_attempt", "0")
    return int(value) if value.isascii() and value.isdecimal() else 0


def not_before_ms(headers: Iterable[tuple[str, bytes]]) -> int:
    """The retry record's not-before time (epoch ms), 0 when none."""
    value = bookkeeping(headers).get("lt_not_before", "0")
    return int(value) if value.isascii() and value.isdecimal() else 0
