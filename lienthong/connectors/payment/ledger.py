"""Recording a payment's outcome once and putting its event on the bus: the one place that does both.

`settle_and_publish` is what the callback route, the counter route and reconciliation call. It moves a
pending payment to paid or failed with the store's conditional UPDATE (only one caller can win), then
publishes the settling event durably (acks=all, audited) and only then marks it published. A caller
that lost the race, or finds a settled record whose event is not marked published (a crash between
the two steps), publishes it again with the same deterministic `ce_id` before it answers anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lienthong.audit.record import AuditEntry
from lienthong.connectors.payment.events import event_of, publish_durably, settled_kind
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.store import PaymentRecord, PaymentStore
from lienthong.schemas.payment import PaymentEvent, PaymentEventKind, PaymentState

if TYPE_CHECKING:
    from lienthong.bus.publisher import BusPublisher


@dataclass(frozen=True, slots=True)
class Settled:
    """What `settle_and_publish` found and did."""

    record: PaymentRecord
    """The record after the call."""
    recorded_now: bool
    """This call moved it out of pending."""


class PaymentLedger:
    """The payment store plus the rule "recorded, then published, then marked"."""

    def __init__(self, store: PaymentStore, settings: PaymentSettings) -> None:
        self.store = store
        self.settings = settings

    def event(self, record: PaymentRecord, kind: PaymentEventKind) -> PaymentEvent:
        """The event of `kind` for `record` (collection methods from the settings)."""
        return event_of(
            record,
            kind,
            online_method=self.settings.online_collection_method,
            counter_method=self.settings.counter_collection_method,
        )

    async def publish_settled(
        self, publisher: BusPublisher, record: PaymentRecord, *, flow: str, also: Sequence[AuditEntry] = ()
    ) -> PaymentRecord:
        """Publish a settled record's event (same `ce_id` every time; audited with the entries `also`) and
        mark it published."""
        await publish_durably(publisher, self.event(record, settled_kind(record)), flow=flow, also=also)
        await self.store.mark_published(record.reference)
        return record

    async def settle_and_publish(
        self,
        publisher: BusPublisher,
        reference: str,
        state: PaymentState,
        *,
        flow: str,
        confirmed_by: str,
        transaction_id: str | None = None,
        bank_code: str | None = None,
        paid_at: str | None = None,
        reason: str | None = None,
        answer: str | None = None,
        callback_digest: str | None = None,
        also: Sequence[AuditEntry] = (),
    ) -> Settled:
        """Record the outcome once, then make sure its event is on the bus; see the module docstring.
        `also` are audit entries appended with the event's when this call recorded the outcome."""
        won = await self.store.settle(
            reference, state, confirmed_by=confirmed_by, transaction_id=transaction_id, bank_code=bank_code,
            paid_at=paid_at, reason=reason, answer=answer, callback_digest=callback_digest,
        )  # fmt: skip
        if won is not None:
            await self.publish_settled(publisher, won, flow=flow, also=also)
            return Settled(won, True)
        record = await self.store.get(reference)
        if record is None:
            raise LookupError(f"no payment {reference}")
        if record.state is not PaymentState.PENDING and not record.published:
            await self.publish_settled(publisher, record, flow=flow)
        return Settled(record, False)


__all__ = ["PaymentLedger", "Settled"]
