"""Inbound HTTP of the payment connector.

- `POST /payments/dvcqg/confirm`: the payment platform's confirmation callback. The body (read once,
  capped on the bytes actually received) must carry every callback field; `MaXacThuc` is verified over
  the fields as received (constant time, either hex case), `MaDoiTac` must be the province's,
  `ThoiGianGD` inside the replay window, `MaThamChieu` a payment lienthong initiated, `SoTien` and
  `MaTienTe` equal to what it initiated. Then the payment is recorded once, `payment.confirmed` (or
  `payment.failed` when `MaLoi` is not `00`) is durable on the bus and audited, and only then the answer
  `{MaLoi: "00", MoTaLoi, MaDoiTac, MaThamChieu, ThoiGianGD, MaXacThuc}` goes back. An exact repeat of
  the recorded callback gets the same answer, byte for byte. Any refusal answers `"99"` with a reason that
  never echoes submitted values, publishes nothing, and is audited as a security event.
- `POST /payments/counter`: a non-cash payment at the one-stop desk (bank POS or transfer), reported by
  the one-stop system; it ends in the same `payment.confirmed` event.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from lienthong.audit.record import AuditEntry, digest
from lienthong.connectors.payment.counter import COUNTER_PATH, counter_router
from lienthong.connectors.payment.events import PEER
from lienthong.connectors.payment.ledger import LazyLedger, PaymentLedger
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.signature import MessageKind, sign, verify
from lienthong.connectors.payment.store import PaymentRecord
from lienthong.logging import get_logger
from lienthong.mappings.payment import (
    CURRENCY,
    OK,
    REFUSED,
    CallbackFields,
    CallbackRefused,
    check_callback_time,
    read_callback,
)
from lienthong.mappings.wire import VN_TZ, format_dvcqg_time
from lienthong.schemas.payment import ConfirmedBy, PaymentChannel, PaymentState

if TYPE_CHECKING:
    from lienthong.bus.publisher import BusPublisher

log = get_logger("lienthong.payment")

CONFIRM_PATH = "/payments/dvcqg/confirm"
"""The confirmation callback the platform calls."""
CALLBACK_FLOW = "payment_callback"
"""Audit flow of confirmation callbacks."""
PUBLISH_TIMEOUT_S = 10.0
"""Longest wait for the bus and the audit store before a callback is answered "99" (the platform retries)."""


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None once more than `cap` bytes arrived (declared or actually read, chunked or not)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    buf = bytearray()
    try:
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > cap:
                return None
    except Exception as exc:
        if getattr(exc, "status_code", None) == 413:  # the app's own cap (LIENTHONG_MAX_BODY_BYTES) tripped first
            return None
        raise
    return bytes(buf)


def _answer(settings: PaymentSettings, code: str, description: str, reference: str) -> bytes:
    """The signed answer to a callback, as bytes."""
    fields = {
        "MaLoi": code,
        "MoTaLoi": description,
        "MaDoiTac": settings.partner_code,
        "MaThamChieu": reference,
        "ThoiGianGD": format_dvcqg_time(datetime.now(VN_TZ)),
    }
    mac = sign(MessageKind.ANSWER, fields, secret=settings.secret.get_secret_value(), scheme=settings.signature)
    return orjson.dumps({**fields, "MaXacThuc": mac})


def _callback_digest(fields: CallbackFields) -> str:
    return hashlib.sha256(orjson.dumps(dict(fields.wire), option=orjson.OPT_SORT_KEYS)).hexdigest()


def _safe_reference(body: Any) -> str:
    """The reference to name in a refusal: only a well-formed dossier-based reference is echoed."""
    ref = body.get("MaThamChieu") if isinstance(body, dict) else None
    if isinstance(ref, str) and len(ref) <= 64 and ref.isascii() and all(c.isalnum() or c in ".-_" for c in ref):
        return ref
    return ""


def router(publisher: BusPublisher, settings: PaymentSettings, *, store_dsn: str) -> APIRouter:
    """The payment routes, publishing through `publisher`, recording in the store at `store_dsn`."""
    api = APIRouter(tags=["payment"])
    holder = LazyLedger(store_dsn, settings)

    async def refuse(reason: str, reference: str, raw: bytes, status: int = 400) -> Response:
        await publisher.audit.append([
            AuditEntry(
                flow=CALLBACK_FLOW, direction="in", peer=PEER, outcome="refused", dossier_code=reference,
                event_type="confirmation", digest=digest(raw), detail={"security": True, "reason": reason},
            )
        ])  # fmt: skip
        log.warning("payment callback refused", reason=reason, reference=reference)
        return Response(
            _answer(settings, REFUSED, reason, reference), status_code=status, media_type="application/json"
        )

    async def repeat_or_refuse(
        ledger: PaymentLedger, record: PaymentRecord, fields: CallbackFields, raw: bytes
    ) -> Response:
        """A callback for a payment settled already: the stored answer for an exact repeat, "00" for
        the same successful payment (e.g. a late callback after QUERY), "99" otherwise."""
        same = record.callback_digest == _callback_digest(fields) and record.answer is not None
        known_paid = (
            record.state is PaymentState.PAID and fields.succeeded
            and record.transaction_id == fields.wire["MaGiaoDich"]
        )  # fmt: skip
        if not (same or known_paid):
            return await refuse("the payment is already settled differently", record.reference, raw, 409)
        await ledger.ensure_published(publisher, record, flow=CALLBACK_FLOW)
        await publisher.audit.append([
            AuditEntry(
                flow=CALLBACK_FLOW, direction="in", peer=PEER, outcome="duplicate", dossier_code=record.dossier_code,
                event_type="confirmation", digest=digest(raw), detail={"reference": record.reference},
            )
        ])  # fmt: skip
        if same and record.answer is not None:
            return Response(record.answer.encode(), media_type="application/json")
        return Response(_answer(settings, OK, "Đã ghi nhận trước đó", record.reference), media_type="application/json")

    @api.post(
        CONFIRM_PATH,
        summary="Payment platform's confirmation callback",
        responses={
            200: {"description": '`MaLoi` "00": recorded (or an exact repeat of a recorded callback).'},
            400: {"description": '`MaLoi` "99": refused; `MoTaLoi` says why. Nothing was published.'},
        },
    )
    async def confirm(request: Request) -> Response:  # noqa: PLR0911 - one check, one refusal, in order
        """The platform confirms (or reports the failure of) a payment lienthong initiated.

        Answer `{MaLoi, MoTaLoi, MaDoiTac, MaThamChieu, ThoiGianGD, MaXacThuc}`, signed like the callback.
        """
        raw = await read_capped(request, settings.callback_max_bytes)
        if raw is None:
            return await refuse(f"the body is larger than {settings.callback_max_bytes} bytes", "", b"", 413)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return await refuse("the body is not JSON", "", raw)
        reference = _safe_reference(body)
        try:
            fields = read_callback(body)
        except CallbackRefused as exc:
            return await refuse(str(exc), reference, raw)
        secret = settings.secret.get_secret_value()
        mac = fields.wire["MaXacThuc"]
        if not verify(MessageKind.CONFIRM, fields.wire, mac, secret=secret, scheme=settings.signature):
            return await refuse("MaXacThuc does not match the callback's fields", reference, raw, 401)
        if fields.wire["MaDoiTac"] != settings.partner_code:
            return await refuse("MaDoiTac is not this province's partner code", reference, raw, 403)
        if fields.wire["MaTienTe"] != CURRENCY:
            return await refuse("MaTienTe differs from the currency initiated", reference, raw)
        try:
            check_callback_time(
                fields.at, datetime.now(VN_TZ), max_age_s=settings.callback_max_age_s,
                future_skew_s=settings.callback_future_skew_s,
            )  # fmt: skip
        except CallbackRefused as exc:
            return await refuse(str(exc), reference, raw)
        store = await holder.store()
        ledger = holder.ledger
        ref = fields.reference
        state = PaymentState.PAID if fields.succeeded else PaymentState.FAILED
        failure = None if fields.succeeded else f"MaLoi {fields.wire['MaLoi'][:20]}"
        answer = _answer(settings, OK, "Ghi nhận thành công", ref)
        # The happy path is one statement: record it if it is pending, ours, online and of this amount.
        won = await store.settle(
            ref, state, confirmed_by=ConfirmedBy.CALLBACK.value, transaction_id=fields.wire["MaGiaoDich"] or None,
            bank_code=fields.wire["MaNganHang"] or None, paid_at=fields.at.isoformat(), reason=failure,
            answer=answer.decode(), callback_digest=_callback_digest(fields), expect_amount=fields.amount_vnd,
            expect_channel=PaymentChannel.ONLINE,
        )  # fmt: skip
        if won is None:
            record = await store.get(ref)
            if record is None or record.channel is not PaymentChannel.ONLINE:
                return await refuse("MaThamChieu is not a payment this province initiated", "", raw, 404)
            if fields.amount_vnd != record.amount_vnd:
                return await refuse("SoTien differs from the amount initiated", reference, raw, 409)
            if record.state is PaymentState.PENDING:  # not reachable: the statement above would have matched
                return await refuse("the payment could not be recorded; send it again", reference, raw, 409)
            return await repeat_or_refuse(ledger, record, fields, raw)
        received = AuditEntry(
            flow=CALLBACK_FLOW, direction="in", peer=PEER, outcome="received", dossier_code=won.dossier_code,
            event_type="confirmation", digest=digest(raw), detail={"reference": ref, "state": state.value},
        )  # fmt: skip
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await ledger.publish_recorded(publisher, won, flow=CALLBACK_FLOW, also=[received])
        except Exception as exc:
            # Recorded but not (yet) durable on the bus: answer "99" so the platform calls again; the repeat
            # (or reconciliation) publishes the same event id and then answers "00".
            log.warning("payment callback not published", reference=ref, error=type(exc).__name__)
            return Response(
                _answer(settings, REFUSED, "temporarily unavailable; send the confirmation again", ref),
                status_code=503, media_type="application/json",
            )  # fmt: skip
        return Response(answer, media_type="application/json")

    api.include_router(counter_router(publisher, settings, holder))
    return api


__all__ = ["CONFIRM_PATH", "COUNTER_PATH", "read_capped", "router"]
