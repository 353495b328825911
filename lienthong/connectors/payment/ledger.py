"""Recording a payment's outcome once and putting its event on the bus: the one place that does both.

`settle_and_publish` is what the callback route, the counter route and reconciliation call. It moves a
pending payment to paid or failed with the store's conditional UPDATE (only one caller can win), then
publishes the settling event durably (acks=all, audited) and only then marks it published. A caller
that lost the race, or finds a settled record whose event is not marked published (a crash between
the two steps), publishes it again with the same deterministic `ce_id` before it answers anyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lienthong.audit.record import AuditEntry
from lienthong.connectors.payment.events import event_of, publish_durably, settled_kind
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.store import PaymentRecord, PaymentStore
from lienthong.logging import get_logger
from lienthong.schemas.payment import PaymentEvent, PaymentEventKind, PaymentState

if TYPE_CHECKING:
    from lienthong.bus.publisher import BusPublisher


log = get_logger("lienthong.payment")

MARK_BATCH_S = 0.02
"""How long batched published flags gather before one commit."""


@dataclass(frozen=True, slots=True)
class Settled:
    """What `settle_and_publish` found and did."""

    record: PaymentRecord
    """The record after the call."""
    recorded_now: bool
    """This call moved it out of pending."""


class PaymentLedger:
    """The payment store plus the rule "recorded, then published, then marked"."""

    def __init__(self, store: PaymentStore, settings: PaymentSettings, *, batch_marks: bool = False) -> None:
        """With `batch_marks`, the published flags are written in batches in the background (one commit
        for all callbacks answered in the same few milliseconds) instead of before each answer: the flag
        only spares reconciliation a republish, which is harmless (same `ce_id`) if a crash loses it."""
        self.store = store
        self.settings = settings
        self.batch_marks = batch_marks
        self._marks: set[str] = set()
        self._flushing: set[str] = set()
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self._flusher: asyncio.Task[None] | None = None

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
        if self.batch_marks:
            self._marks.add(record.reference)
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush_marks())
        else:
            await self.store.mark_published(record.reference)
        return record

    async def _flush_marks(self) -> None:
        while self._marks:
            await asyncio.sleep(MARK_BATCH_S)
            self._flushing, self._marks = self._marks, set()
            try:
                await self.store.mark_published_many(sorted(self._flushing))
            except Exception as exc:  # the flags are an optimisation: reconciliation republishes (same ce_id)
                log.warning("payment published flags not written", count=len(self._flushing), error=type(exc).__name__)
            finally:
                self._flushing = set()

    def is_published(self, record: PaymentRecord) -> bool:
        """The record's event is durable on the bus: its flag is written, or waits in this ledger's batch."""
        return record.published or record.reference in self._marks or record.reference in self._flushing

    async def flush(self) -> None:
        """Wait for the background published flags (before closing the store)."""
        if self._flusher is not None:
            await self._flusher

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
            await self.publish_recorded(publisher, won, flow=flow, also=also)
            return Settled(won, True)
        record = await self.store.get(reference)
        if record is None:
            raise LookupError(f"no payment {reference}")
        await self.ensure_published(publisher, record, flow=flow)
        return Settled(record, False)

    async def publish_recorded(
        self, publisher: BusPublisher, record: PaymentRecord, *, flow: str, also: Sequence[AuditEntry] = ()
    ) -> None:
        """Publish the event of a record this caller just settled; a repeat arriving meanwhile waits for it
        (`ensure_published`) instead of publishing it again."""
        done = self._inflight[record.reference] = asyncio.get_running_loop().create_future()
        try:
            await self.publish_settled(publisher, record, flow=flow, also=also)
            done.set_result(None)
        except BaseException as exc:
            done.set_exception(exc)
            done.exception()  # retrieved here: waiters re-raise it, nobody else must
            raise
        finally:
            del self._inflight[record.reference]

    async def ensure_published(self, publisher: BusPublisher, record: PaymentRecord, *, flow: str) -> None:
        """Return once a settled record's event is durable on the bus: wait for this process's publish in
        flight, or publish it (same `ce_id`) when nobody is known to have (a crash between the two steps)."""
        if record.state is PaymentState.PENDING:
            return
        inflight = self._inflight.get(record.reference)
        if inflight is not None:
            await asyncio.shield(inflight)
        elif not self.is_published(record):
            await self.publish_settled(publisher, record, flow=flow)


class LazyLedger:
    """A ledger over a store opened on first use (routers are built before the event loop runs), with
    batched published flags (one per API process)."""

    def __init__(self, dsn: str, settings: PaymentSettings) -> None:
        self._store = PaymentStore(dsn)
        self.ledger = PaymentLedger(self._store, settings, batch_marks=True)
        self._opened = False
        self._lock = asyncio.Lock()

    async def store(self) -> PaymentStore:
        """The store, created and opened once."""
        if not self._opened:
            async with self._lock:
                if not self._opened:
                    await self._store.open()
                    self._opened = True
        return self._store


__all__ = ["LazyLedger", "PaymentLedger", "Settled"]
