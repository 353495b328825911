"""The `payment.events` records: one builder, one durable publish.

Each event is keyed by `MaThamChieu`; `ce_subject` and the extension attribute `ce_dossiercode` carry
the dossier code. Ids are deterministic (`derived_id(reference, kind)`), so an event published again
(after a crash between recording and publishing, or by reconciliation) has the same `ce_id` and its
consumers drop the repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from lienthong.audit.record import AuditEntry, digest
from lienthong.bus.envelope import Envelope, derived_id, now_rfc3339
from lienthong.bus.producer import Outbound, publish_all
from lienthong.bus.topics import TopicSpec
from lienthong.calendar import WorkingCalendar
from lienthong.connectors.payment.store import PaymentRecord
from lienthong.mappings import MAPPING_VERSION
from lienthong.mappings.payment import paid_fees, resumed_due_date
from lienthong.schemas.payment import ConfirmedBy, PaymentEvent, PaymentEventKind, PaymentState

if TYPE_CHECKING:
    from lienthong.bus.publisher import BusPublisher

TOPIC = "payment.events"
"""The payment topic."""
SOURCE = "/lienthong/payment"
"""`ce_source` of payment events."""
DOSSIER_ATTRIBUTE = "ce_dossiercode"
"""CloudEvents extension attribute (Kafka header) carrying the dossier code."""
PEER = "payment"
"""Peer name of the payment platform in audit records, metrics and circuits."""

TOPIC_SPEC = TopicSpec(
    TOPIC,
    key="payment reference (MaThamChieu)",
    description="Payments of dossier fees: `payment.requested` (with the pay URL for the citizen), "
    "`payment.confirmed` (callback, QUERY or counter) and `payment.failed`. Produced by the payment "
    "connector; consumed by the one-stop delivery and receipt flows. Header `ce_dossiercode` = MaHoSo.",
    payload="lienthong.schemas.payment.PaymentEvent",
    event_types=tuple(k.event_type for k in PaymentEventKind),
)
"""`payment.events` with its `.retry` and `.dlq` companions."""

_CALENDAR = WorkingCalendar()


def _dt(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)


def event_of(record: PaymentRecord, kind: PaymentEventKind, *, online_method: int, counter_method: int) -> PaymentEvent:
    """The event of `kind` for a stored payment. A confirmed event carries the fees with their
    `HinhThucThu` and, when the dossier's pause is known, the due date moved back by it."""
    fees = record.fees
    new_due = None
    paused_at, previous_due, paid_at = _dt(record.paused_at), _dt(record.previous_due_at), _dt(record.paid_at)
    if kind is PaymentEventKind.CONFIRMED:
        method = counter_method if record.confirmed_by == ConfirmedBy.COUNTER.value else online_method
        fees = paid_fees(fees, method)
        if paused_at is not None and previous_due is not None and paid_at is not None:
            new_due = resumed_due_date(_CALENDAR, previous_due=previous_due, paused_at=paused_at, resumed_at=paid_at)
    return PaymentEvent(
        kind=kind,
        reference=record.reference,
        dossier_code=record.dossier_code,
        channel=record.channel,
        state=record.state if kind is not PaymentEventKind.REQUESTED else PaymentState.PENDING,
        amount_vnd=record.amount_vnd,
        currency=record.currency,
        attempt=record.attempt,
        fees=fees,
        pay_url=record.pay_url,
        transaction_id=record.transaction_id,
        bank_code=record.bank_code,
        paid_at=paid_at,
        confirmed_by=ConfirmedBy(record.confirmed_by) if record.confirmed_by else None,
        reason=record.reason,
        paused_at=paused_at,
        previous_due_at=previous_due,
        new_due_at=new_due,
    )


def settled_kind(record: PaymentRecord) -> PaymentEventKind:
    """The settling event's kind of a settled record."""
    return PaymentEventKind.CONFIRMED if record.state is PaymentState.PAID else PaymentEventKind.FAILED


def event_record(event: PaymentEvent, *, correlation_id: str = "", causation_id: str = "") -> Outbound:
    """The Kafka record of an event: key `MaThamChieu`, deterministic `ce_id`, dossier code attribute."""
    ce_id = derived_id(event.reference, event.kind.value)
    env = Envelope(
        id=ce_id,
        source=SOURCE,
        type=event.event_type,
        subject=event.dossier_code,
        time=now_rfc3339(),
        correlation_id=correlation_id or derived_id(event.reference, "payment"),
        causation_id=causation_id,
        mapping_version=MAPPING_VERSION,
    )
    headers = [*env.to_headers(), (DOSSIER_ATTRIBUTE, event.dossier_code.encode())]
    return Outbound(TOPIC, event.model_dump_json().encode(), event.reference.encode(), headers)


def audit_of(out: Outbound, event: PaymentEvent, *, flow: str, outcome: str = "published") -> AuditEntry:
    """The audit entry of a payment event put on the bus."""
    return AuditEntry(
        flow=flow,
        direction="bus",
        peer=PEER,
        outcome=outcome,
        dossier_code=event.dossier_code,
        correlation_id=derived_id(event.reference, "payment"),
        event_type=event.event_type,
        digest=digest(out.value),
        detail={"reference": event.reference, "state": event.state.value},
    )


async def publish_durably(
    publisher: BusPublisher, event: PaymentEvent, *, flow: str, also: Sequence[AuditEntry] = ()
) -> None:
    """Put `event` on the bus (acks=all) and audit it (with the entries `also`, in one append); returns
    once both are durable."""
    out = event_record(event)
    await publish_all(publisher.producer, [out])
    await publisher.audit.append([*also, audit_of(out, event, flow=flow)])


__all__ = [
    "DOSSIER_ATTRIBUTE",
    "PEER",
    "SOURCE",
    "TOPIC",
    "TOPIC_SPEC",
    "audit_of",
    "event_of",
    "event_record",
    "publish_durably",
    "settled_kind",
]
