"""Bus handlers of the payment connector.

- `payment_requests` (`dossier.events` -> platform `INIT` -> `payment.requested`): a dossier in status 6
  with fees gets one payment per pause. `MaThamChieu` derives from the dossier code and the attempt (the
  number of times the dossier entered status 6), so a redelivered or repeated event finds the stored
  payment and makes no second `INIT`; the record is stored before `INIT`, its pay URL after, and the
  `payment.requested` output has a deterministic `ce_id`.
- `payment_notices` (`payment.events` -> one-stop REST `POST /api/notices`): the pay link for the citizen,
  then the confirmation (with the paid fees' `HinhThucThu` and the due date moved back by the pause) or
  the failure; each event once (`Idempotency-Key` from its `ce_id`, result in the idempotency store).
- `payment_reconcile`: `GET_BILL` for each confirmed online payment (the e-receipt reference is kept), and
  a reconciliation round (`Reconciler`) every `reconcile_interval_s` in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import httpx
import orjson
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from lienthong.audit.record import AuditEntry, digest
from lienthong.audit.writer import AuditWriter
from lienthong.bus.effects import Effect, Effects, store_unavailable
from lienthong.bus.idempotency import IdempotencyStore, effect_key
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome
from lienthong.connectors.http import raise_for_peer, transport_error
from lienthong.connectors.payment.client import PEER, PaymentClient, init_config
from lienthong.connectors.payment.events import TOPIC, event_record
from lienthong.connectors.payment.ledger import PaymentLedger
from lienthong.connectors.payment.reconcile import FLOW as RECONCILE_FLOW
from lienthong.connectors.payment.reconcile import Reconciler
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.store import PaymentRecord, PaymentStore, now_ms
from lienthong.errors import LienthongError, PermanentError
from lienthong.logging import get_logger
from lienthong.mappings.payment import (
    AMOUNT_DIGITS_MAX,
    CURRENCY,
    fee_lines,
    fees_for_dvcqg,
    init_message,
    payment_reference,
)
from lienthong.mappings.records import describe
from lienthong.mappings.wire import VN_TZ, format_dvcqg_time
from lienthong.schemas.dossier import DossierEvent, DossierStatus
from lienthong.schemas.payment import PaymentChannel, PaymentEvent, PaymentEventKind, PaymentState
from lienthong.settings import Settings

log = get_logger("lienthong.payment")

Close = Callable[[], Awaitable[None]]

REQUEST_FLOW = "payment_requests"
NOTICE_FLOW = "payment_notices"
NOTICE_SCOPE = "payment.notice"
"""Idempotency scope of payment notices to the one-stop system."""
NOTICE_SERVICE = "ThongBaoThanhToan"
"""`service` of payment notices posted to the one-stop system."""
DOSSIER_TOPIC = "dossier.events"


def default_store_dsn(settings: Settings, payment: PaymentSettings) -> str:
    """The payment store's DSN: `LIENTHONG_PAYMENT_STATE_DSN`, else `payments.db` under the state dir."""
    return payment.state_dsn or f"sqlite:///{settings.state_dir / 'payments.db'}"


class PaymentRequestHandler:
    """Batch handler: dossier events in status 6 with fees -> `INIT` -> `payment.requested`."""

    def __init__(self, ledger: PaymentLedger, client: PaymentClient) -> None:
        self.ledger = ledger
        self.client = client

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        """One result per record: dossiers concurrently, one dossier's records in order (so a repeated
        event in the same batch finds the payment its twin initiated and makes no second `INIT`)."""
        results: list[BatchResult] = [Outcome() for _ in batch]
        lanes: dict[bytes, list[int]] = {}
        for i, msg in enumerate(batch):
            lanes.setdefault(bytes(msg.record.key or b""), []).append(i)

        async def lane(indexes: list[int]) -> None:
            for i in indexes:
                results[i] = await self._one(batch[i])

        await asyncio.gather(*(lane(ix) for ix in lanes.values()))
        return results

    async def _one(self, msg: Inbound) -> BatchResult:  # noqa: PLR0911 - one result per step, in order
        try:
            event = DossierEvent.model_validate_json(msg.value)
        except ValidationError as exc:
            return PermanentError(f"invalid dossier event: {describe(exc)}")
        d = event.dossier
        if d.status is not DossierStatus.PAYMENT_REQUESTED:
            return Outcome(result="skipped")
        amount = sum(f.amount_vnd for f in d.fees)
        if amount <= 0:
            return Outcome(result="skipped")
        if amount >= 10**AMOUNT_DIGITS_MAX:
            return PermanentError(f"the fees of {d.code} add up to more than {AMOUNT_DIGITS_MAX} digits of dong")
        fees = fee_lines(d)
        entries = [s for s in d.steps if s.status is DossierStatus.PAYMENT_REQUESTED]
        attempt = max(1, len(entries))
        paused_at = entries[-1].processed_at if entries else event.occurred_at
        try:
            reference = payment_reference(d.code, attempt)
            record, _ = await self.ledger.store.create(
                PaymentRecord(
                    reference=reference, dossier_code=d.code, attempt=attempt, channel=PaymentChannel.ONLINE,
                    state=PaymentState.PENDING, amount_vnd=amount, currency=CURRENCY, fees=fees, created_ms=now_ms(),
                    paused_at=paused_at.isoformat(), previous_due_at=d.due_at.isoformat() if d.due_at else None,
                )
            )  # fmt: skip
        except SQLAlchemyError as exc:
            return store_unavailable(exc)
        except LienthongError as exc:
            return exc
        if record.state is not PaymentState.PENDING:
            return Outcome(result="skipped_settled")
        audit: list[AuditEntry] = []
        if record.pay_url is None:
            body = init_message(
                reference=reference, dossier_code=d.code, fees=record.fees, at=datetime.now(VN_TZ),
                config=init_config(self.client.settings), dossier=d,
            )  # fmt: skip
            try:
                url = await self.client.init(body)
            except LienthongError as exc:
                return exc
            try:
                await self.ledger.store.set_initiated(reference, url)
            except SQLAlchemyError as exc:
                return store_unavailable(exc)
            record = await self.ledger.store.get(reference) or record
            audit.append(
                AuditEntry(
                    flow=REQUEST_FLOW, direction="out", peer=PEER, outcome="sent", dossier_code=d.code,
                    correlation_id=msg.envelope.correlation_id, event_type="INIT",
                    digest=digest(orjson.dumps(body)), detail={"reference": reference},
                )
            )  # fmt: skip
        out = event_record(
            self.ledger.event(record, PaymentEventKind.REQUESTED),
            correlation_id=msg.envelope.correlation_id,
            causation_id=msg.envelope.id,
        )
        return Outcome(publish=[out], audit=audit, result="requested")


def notice_body(event: PaymentEvent) -> bytes:
    """The one-stop notice of a payment event (no personal data: codes, amounts, dates and the link)."""
    item: dict[str, object] = {
        "MaHoSo": event.dossier_code,
        "MaThamChieu": event.reference,
        "TrangThaiThanhToan": event.state.value,
        "SoTien": str(event.amount_vnd),
        "MaTienTe": event.currency,
        "UrlThanhToan": event.pay_url,
        "MaGiaoDich": event.transaction_id,
        "ThoiGianGD": format_dvcqg_time(event.paid_at) if event.paid_at else None,
        "DanhSachLePhi": fees_for_dvcqg(event.fees),
        "NgayHenTraTruoc": format_dvcqg_time(event.previous_due_at) if event.previous_due_at else None,
        "NgayHenTraMoi": format_dvcqg_time(event.new_due_at) if event.new_due_at else None,
    }
    return orjson.dumps({"service": NOTICE_SERVICE, "kind": f"payment_{event.kind.value}", "data": [item]})


class OnestopNotifier:
    """The payment connector's own small client of the one-stop REST API (`POST /api/notices`)."""

    OPERATION = "POST /api/notices"

    def __init__(self, settings: PaymentSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(
            base_url=settings.onestop_url.rstrip("/"), timeout=httpx.Timeout(settings.onestop_timeout_s),
            transport=transport,
        )  # fmt: skip

    async def deliver(self, body: bytes, *, key: str) -> str:
        """Post one notice; the reply text (raises the taxonomy's errors)."""
        try:
            r = await self._http.post(
                "/api/notices", content=body, headers={"Content-Type": "application/json", "Idempotency-Key": key}
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, peer="onestop", operation=self.OPERATION) from exc
        raise_for_peer(r, peer="onestop", operation=self.OPERATION)
        return r.text

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


class PaymentNoticeHandler:
    """Batch handler: each payment event posted once to the one-stop system (on the effects kit)."""

    def __init__(self, notifier: OnestopNotifier, idempotency: IdempotencyStore) -> None:
        self.notifier = notifier
        self.effects = Effects(idempotency, flow=NOTICE_FLOW, peer="onestop", scope=NOTICE_SCOPE)

    def _plan(self, msg: Inbound) -> Effect | BaseException:
        try:
            event = PaymentEvent.model_validate_json(msg.value)
        except ValidationError as exc:
            return PermanentError(f"invalid payment event: {describe(exc)}")
        body = notice_body(event)

        async def deliver(key: str) -> str:
            return await self.notifier.deliver(body, key=key)

        return Effect(key=effect_key(NOTICE_SCOPE, msg.envelope.id), body=body, make=deliver,
                      operation=OnestopNotifier.OPERATION)  # fmt: skip

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        """Plan each event's notice; the effects kit skips what was delivered and makes the rest once."""
        return await self.effects.run(batch, [self._plan(msg) for msg in batch])


class ReceiptHandler:
    """Batch handler: `GET_BILL` for confirmed online payments; the e-receipt reference is stored."""

    def __init__(self, ledger: PaymentLedger, client: PaymentClient) -> None:
        self.ledger = ledger
        self.client = client

    async def __call__(self, batch: Sequence[Inbound]) -> Sequence[BatchResult]:
        """One result per record."""
        return await asyncio.gather(*(self._one(msg) for msg in batch))

    async def _one(self, msg: Inbound) -> BatchResult:  # noqa: PLR0911 - one result per step, in order
        if msg.envelope.type != PaymentEventKind.CONFIRMED.event_type:
            return Outcome(result="skipped")
        try:
            event = PaymentEvent.model_validate_json(msg.value)
        except ValidationError as exc:
            return PermanentError(f"invalid payment event: {describe(exc)}")
        if event.channel is not PaymentChannel.ONLINE:
            return Outcome(result="skipped")
        try:
            record = await self.ledger.store.get(event.reference)
            if record is not None and record.receipt_ref:
                return Outcome(result="skipped_duplicate")
            receipt = await self.client.get_bill(event.reference, at=datetime.now(VN_TZ))
            if receipt is None:
                return Outcome(result="receipt_pending")  # reconciliation asks again
            await self.ledger.store.set_receipt(event.reference, receipt)
        except SQLAlchemyError as exc:
            return store_unavailable(exc)
        except LienthongError as exc:
            return exc
        return Outcome(audit=[AuditEntry(
            flow=RECONCILE_FLOW, direction="out", peer=PEER, outcome="sent", dossier_code=event.dossier_code,
            correlation_id=msg.envelope.correlation_id, event_type="GET_BILL", detail={"reference": event.reference},
        )])  # fmt: skip


async def _open_ledger(settings: Settings, payment: PaymentSettings) -> PaymentLedger:
    store = PaymentStore(default_store_dsn(settings, payment))
    await store.open()
    return PaymentLedger(store, payment)


async def build_payment_request_flow(
    settings: Settings, *, payment: PaymentSettings | None = None, topic: str = DOSSIER_TOPIC
) -> tuple[Flow, Close]:
    """The flow `dossier.events` -> `INIT` -> `payment.requested`, and its close function."""
    p = payment or PaymentSettings()
    ledger = await _open_ledger(settings, p)
    client = PaymentClient(p)

    async def close() -> None:
        await client.close()
        await ledger.store.close()

    handler = PaymentRequestHandler(ledger, client)
    return Flow(name=REQUEST_FLOW, topic=topic, handler=handler, peer=PEER), close


async def build_payment_notice_flow(
    settings: Settings, *, idempotency: IdempotencyStore, payment: PaymentSettings | None = None
) -> tuple[Flow, Close]:
    """The flow `payment.events` -> one-stop `POST /api/notices`, and its close function."""
    del settings
    notifier = OnestopNotifier(payment or PaymentSettings())
    handler = PaymentNoticeHandler(notifier, idempotency)
    return Flow(name=NOTICE_FLOW, topic=TOPIC, handler=handler, peer="onestop"), notifier.close


async def build_payment_reconcile_flow(
    settings: Settings, *, audit: AuditWriter, payment: PaymentSettings | None = None, interval_s: float | None = None
) -> tuple[Flow, Close]:
    """The receipt flow on `payment.events` plus a reconciliation round every `interval_s` (default
    `reconcile_interval_s`) in the background; the close function stops both."""
    p = payment or PaymentSettings()
    ledger = await _open_ledger(settings, p)
    client = PaymentClient(p)
    publisher = BusPublisher(settings, audit)
    await publisher.start()
    reconciler = Reconciler(ledger, client, publisher)
    every = p.reconcile_interval_s if interval_s is None else interval_s

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                report = await reconciler.run_once()
            except Exception as exc:  # a round that fails is tried again next interval
                log.warning("payment reconciliation round failed", error=type(exc).__name__)
                continue
            if report.queried or report.republished:
                log.info("payment reconciliation round", **report.as_json())

    task = asyncio.get_running_loop().create_task(loop())

    async def close() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await publisher.close()
        await client.close()
        await ledger.store.close()

    flow = Flow(name=RECONCILE_FLOW, topic=TOPIC, handler=ReceiptHandler(ledger, client), peer=PEER)
    return flow, close


__all__ = [
    "NOTICE_FLOW",
    "REQUEST_FLOW",
    "OnestopNotifier",
    "PaymentNoticeHandler",
    "PaymentRequestHandler",
    "ReceiptHandler",
    "build_payment_notice_flow",
    "build_payment_reconcile_flow",
    "build_payment_request_flow",
    "default_store_dsn",
    "notice_body",
]
