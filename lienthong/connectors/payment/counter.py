"""`POST /payments/counter`: a non-cash payment at the one-stop desk (bank POS or transfer), on the inbound kit.

The one-stop system reports it (`CounterPaymentIn`); lienthong records it once under the reference
`<MaHoSo>-TQ<digest of MaGiaoDich>` and answers 202 once `payment.confirmed` is durable on the bus and
audited; the same `MaGiaoDich` again is 200 `duplicate` (and publishes only what a crash left unpublished).
Authentication, JSON reading, body cap, 64-bit integer and NFC sanity and the 4xx answers are the kit's
(`lienthong.connectors.inbound`); refusals name fields and rules, never values.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lienthong.audit.record import AuditEntry, digest
from lienthong.connectors.inbound import InboundRefusal, InboundRoute, bearer_auth
from lienthong.connectors.payment.ledger import LazyLedger
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.store import PaymentRecord, now_ms
from lienthong.mappings.identifiers import validate_dossier_code
from lienthong.mappings.payment import CURRENCY, counter_reference, parse_amount
from lienthong.mappings.wire import VN_TZ, parse_dvcqg_time
from lienthong.schemas.payment import ConfirmedBy, FeeLine, PaymentChannel, PaymentState

if TYPE_CHECKING:
    from lienthong.bus.publisher import BusPublisher

COUNTER_PATH = "/payments/counter"
"""Counter payments reported by the one-stop system."""
COUNTER_FLOW = "payment_counter"
"""Audit flow of counter payments."""
PUBLISH_TIMEOUT_S = 10.0
"""Longest wait for the bus and the audit store before answering 503."""


class CounterFeeIn(BaseModel):
    """One fee paid (`DanhSachLePhi` item)."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, populate_by_name=True)

    name: str = Field("Phí, lệ phí", alias="TenPhiLePhi", min_length=1, max_length=1000)
    """`TenPhiLePhi`."""
    code: str | None = Field(None, alias="MaPhiLePhi", max_length=255)
    """`MaPhiLePhi`."""
    amount_vnd: int = Field(alias="Gia")
    """`Gia`: whole dong, as digits or a JSON integer."""

    @field_validator("amount_vnd", mode="before")
    @classmethod
    def _whole_dong(cls, value: Any) -> int:
        return parse_amount(value)


class CounterPaymentIn(BaseModel):
    """A non-cash counter payment reported by the one-stop system (lienthong's contract, in the platform's
    field names)."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True, populate_by_name=True)

    dossier_code: str = Field(alias="MaHoSo", min_length=1, max_length=64)
    """`MaHoSo`."""
    amount_vnd: int = Field(alias="SoTien")
    """`SoTien`: whole dong, as digits or a JSON integer (no float, sign or more than 18 digits)."""
    currency: str = Field(CURRENCY, alias="MaTienTe", pattern="^VND$")
    """`MaTienTe`: VND only."""
    transaction_id: str = Field(alias="MaGiaoDich", min_length=1, max_length=255)
    """The bank's transaction id (POS slip or transfer reference)."""
    bank_code: str = Field("", alias="MaNganHang", max_length=255)
    """`MaNganHang`."""
    paid_at: datetime = Field(alias="ThoiGianGD")
    """`ThoiGianGD`, `yyyyMMddHHmmss` in Asia/Ho_Chi_Minh."""
    fees: list[CounterFeeIn] = Field(default_factory=list, alias="DanhSachLePhi", max_length=100)
    """The fees paid; default one line of the whole amount."""

    @field_validator("dossier_code")
    @classmethod
    def _dossier_code(cls, value: str) -> str:
        validate_dossier_code(value)
        return value

    @field_validator("amount_vnd", mode="before")
    @classmethod
    def _whole_dong(cls, value: Any) -> int:
        return parse_amount(value)

    @field_validator("paid_at", mode="before")
    @classmethod
    def _wire_time(cls, value: Any) -> datetime:
        if not isinstance(value, str):
            raise ValueError("ThoiGianGD must be yyyyMMddHHmmss")  # noqa: TRY004 - pydantic turns only ValueError into a 422
        return parse_dvcqg_time(value)


def _render(refusal: InboundRefusal) -> Response:
    body = {"accepted": False, "detail": refusal.detail,
            "errors": [{"loc": e.loc, "msg": e.msg, "type": e.type} for e in refusal.errors]}  # fmt: skip
    return JSONResponse(body, status_code=refusal.status, headers=refusal.headers)


def counter_router(publisher: BusPublisher, settings: PaymentSettings, ledger: LazyLedger) -> APIRouter:
    """The counter-payment route, publishing through `publisher`, recording through `ledger`."""
    auth = bearer_auth(
        lambda: settings.counter_token,
        scheme_name="PaymentCounterToken",
        description="`LIENTHONG_PAYMENT_COUNTER_TOKEN`, sent as `Authorization: Bearer <token>`.",
    )
    api = APIRouter(tags=["payment"], route_class=InboundRoute.for_renderer(_render, auth=auth))

    @api.post(
        COUNTER_PATH,
        status_code=202,
        summary="A non-cash payment at the one-stop desk",
        dependencies=[Depends(auth.dependency)],
        responses={
            200: {"description": "Duplicate: this `MaGiaoDich` was recorded already."},
            401: {"description": "Missing or wrong bearer token."},
            409: {"description": "This `MaGiaoDich` was reported with another amount."},
            413: {"description": "The body is larger than accepted."},
            415: {"description": "The Content-Type is not JSON."},
            422: {"description": "A field breaks a rule; `errors` names each. Nothing was published."},
            503: {"description": "The bus is unavailable; send it again later."},
        },
    )
    async def counter(body: CounterPaymentIn, request: Request) -> JSONResponse:
        """The one-stop system reports a bank POS or transfer payment taken at the desk.

        202 once `payment.confirmed` is durable on the bus; 200 `duplicate` for the same `MaGiaoDich` again.
        """
        if body.paid_at > datetime.now(VN_TZ) + timedelta(seconds=settings.callback_future_skew_s):
            raise InboundRefusal(422, "ThoiGianGD lies in the future")
        fees = tuple(FeeLine(name=f.name, amount_vnd=f.amount_vnd, code=f.code) for f in body.fees) or (
            FeeLine(name="Phí, lệ phí", amount_vnd=body.amount_vnd),
        )
        if sum(f.amount_vnd for f in fees) != body.amount_vnd:
            raise InboundRefusal(422, "SoTien differs from the sum of DanhSachLePhi")
        store = await ledger.store()
        ref = counter_reference(body.dossier_code, body.transaction_id)
        record, created = await store.create(
            PaymentRecord(
                reference=ref, dossier_code=body.dossier_code, attempt=1, channel=PaymentChannel.COUNTER,
                state=PaymentState.PENDING, amount_vnd=body.amount_vnd, currency=CURRENCY, fees=fees,
                created_ms=now_ms(),
            )
        )  # fmt: skip
        if record.amount_vnd != body.amount_vnd:
            raise InboundRefusal(409, "this MaGiaoDich was reported with another amount")
        received = AuditEntry(
            flow=COUNTER_FLOW, direction="in", peer="onestop", outcome="received", dossier_code=body.dossier_code,
            event_type="counter_payment", digest=digest(await request.body()),
            detail={"reference": ref},
        )  # fmt: skip
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await ledger.ledger.settle_and_publish(
                    publisher, ref, PaymentState.PAID, flow=COUNTER_FLOW, confirmed_by=ConfirmedBy.COUNTER.value,
                    transaction_id=body.transaction_id, bank_code=body.bank_code or None,
                    paid_at=body.paid_at.isoformat(), also=[received],
                )  # fmt: skip
        except Exception as exc:
            raise InboundRefusal(
                503, "the bus is unavailable; send it again later", headers={"Retry-After": "5"}
            ) from exc
        return JSONResponse({"accepted": True, "MaThamChieu": ref, "duplicate": not created},
                            status_code=202 if created else 200)  # fmt: skip

    return api


__all__ = ["COUNTER_FLOW", "COUNTER_PATH", "CounterFeeIn", "CounterPaymentIn", "counter_router"]
