"""Reconciliation: `QUERY` what is still pending, publish what was recorded but not published, fetch receipts.

One round (`Reconciler.run_once`), run by `lienthong payments reconcile` and every
`LIENTHONG_PAYMENT_RECONCILE_INTERVAL_S` by the `payment_reconcile` flow:

1. the outbox: settled payments whose event is not marked published (a crash between recording and
   publishing) are published again, same `ce_id`;
2. online payments still pending `reconcile_after_s` (30 min) after `INIT`, initiated within
   `reconcile_lookback_s` (3 days), are `QUERY`-ed: `TrangThaiGD` 1 = a confirmation that arrived late
   (recorded once: the store's conditional UPDATE decides between it and a racing callback), 4 = failed,
   3 = still pending. A paid amount different from the initiated one is not recorded and is counted;
3. paid online payments without an e-receipt reference get `GET_BILL`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from lienthong.audit.record import AuditEntry
from lienthong.connectors.payment.client import PaymentClient
from lienthong.connectors.payment.events import PEER
from lienthong.connectors.payment.ledger import PaymentLedger
from lienthong.connectors.payment.store import PaymentRecord, now_ms
from lienthong.errors import LienthongError
from lienthong.logging import get_logger
from lienthong.mappings.payment import QUERY_FAILED, QUERY_PAID
from lienthong.mappings.wire import VN_TZ, parse_dvcqg_time
from lienthong.schemas.payment import ConfirmedBy, PaymentState

if TYPE_CHECKING:
    from lienthong.bus.publisher import BusPublisher

log = get_logger("lienthong.payment")

FLOW = "payment_reconcile"
"""Audit flow of reconciliation."""
OUTBOX_GRACE_MS = 5000
"""A record settled this recently may still be publishing in the request that settled it: left alone."""
CONCURRENCY = 8
"""Most platform calls in flight during a round."""


@dataclass(slots=True)
class ReconcileReport:
    """What one round did."""

    queried: int = 0
    """Payments asked about with QUERY."""
    confirmed: int = 0
    """Recorded as paid by this round (late confirmations)."""
    failed: int = 0
    """Recorded as failed by this round."""
    still_pending: int = 0
    """QUERY said 3, or the call failed: asked again next round."""
    amount_mismatches: int = 0
    """QUERY said paid with another amount: not recorded, left for an operator."""
    republished: int = 0
    """Settled events published again from the outbox."""
    receipts: int = 0
    """E-receipt references fetched."""
    errors: int = 0
    """Platform calls that failed (transient or not)."""

    def as_json(self) -> dict[str, int]:
        """The counts as a JSON object."""
        return {k: getattr(self, k) for k in self.__slots__}


class Reconciler:
    """One reconciliation round at a time, over the ledger, the platform client and a bus publisher."""

    def __init__(self, ledger: PaymentLedger, client: PaymentClient, publisher: BusPublisher) -> None:
        self.ledger = ledger
        self.client = client
        self.publisher = publisher
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def run_once(self, *, now: int | None = None) -> ReconcileReport:
        """One round (see the module docstring)."""
        report = ReconcileReport()
        at = now_ms() if now is None else now
        store, s = self.ledger.store, self.ledger.settings
        for record in await store.unpublished():
            if record.settled_ms is not None and record.settled_ms > at - OUTBOX_GRACE_MS:
                continue
            await self.ledger.publish_settled(self.publisher, record, flow=FLOW)
            report.republished += 1
        due = await store.due_for_query(now=at, after_s=s.reconcile_after_s, lookback_s=s.reconcile_lookback_s)
        await asyncio.gather(*(self._query(r, report) for r in due))
        await asyncio.gather(*(self._receipt(r, report) for r in await store.without_receipt()))
        return report

    async def _query(self, record: PaymentRecord, report: ReconcileReport) -> None:
        async with self._slots:
            report.queried += 1
            try:
                answer = await self.client.query(record.reference, at=datetime.now(VN_TZ))
            except LienthongError as exc:
                report.errors += 1
                report.still_pending += 1
                log.warning("payment QUERY failed", reference=record.reference, error=type(exc).__name__)
                return
        await self.publisher.audit.append([
            AuditEntry(
                flow=FLOW, direction="out", peer=PEER, outcome="sent", dossier_code=record.dossier_code,
                event_type="QUERY", detail={"reference": record.reference, "TrangThaiGD": answer.status},
            )
        ])  # fmt: skip
        if answer.status == QUERY_PAID:
            if answer.amount_vnd is not None and answer.amount_vnd != record.amount_vnd:
                report.amount_mismatches += 1
                log.error("payment QUERY amount differs from INIT", reference=record.reference)
                return
            paid_at = None
            if answer.paid_at:
                try:
                    paid_at = parse_dvcqg_time(answer.paid_at).isoformat()
                except ValueError:
                    paid_at = None
            settled = await self.ledger.settle_and_publish(
                self.publisher, record.reference, PaymentState.PAID, flow=FLOW, confirmed_by=ConfirmedBy.QUERY.value,
                transaction_id=answer.transaction_id, bank_code=answer.bank_code,
                paid_at=paid_at or datetime.now(VN_TZ).isoformat(timespec="seconds"),
            )  # fmt: skip
            report.confirmed += settled.recorded_now
        elif answer.status == QUERY_FAILED:
            settled = await self.ledger.settle_and_publish(
                self.publisher, record.reference, PaymentState.FAILED, flow=FLOW,
                confirmed_by=ConfirmedBy.QUERY.value, reason="TrangThaiGD 4",
            )  # fmt: skip
            report.failed += settled.recorded_now
        else:
            report.still_pending += 1

    async def _receipt(self, record: PaymentRecord, report: ReconcileReport) -> None:
        async with self._slots:
            try:
                receipt = await self.client.get_bill(record.reference, at=datetime.now(VN_TZ))
            except LienthongError:
                report.errors += 1
                return
        if receipt:
            await self.ledger.store.set_receipt(record.reference, receipt)
            report.receipts += 1


__all__ = ["FLOW", "ReconcileReport", "Reconciler"]
