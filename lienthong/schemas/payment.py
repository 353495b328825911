"""Canonical payment models: what `payment.events` carries (keyed by `MaThamChieu`).

English names inside; the payment platform's Vietnamese field names live in
`lienthong.mappings.payment`. No personal data: the payer's name and ID number go to the platform in
`INIT` and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EVENT_TYPE_PREFIX = "vn.gov.lienthong.payment."
"""Prefix of the payment event types; the state (`requested`, `confirmed`, `failed`) and `.v1` follow."""


class PaymentState(StrEnum):
    """Where a payment stands in lienthong's records."""

    PENDING = "pending"
    """Initiated (or being initiated); no confirmation yet."""
    PAID = "paid"
    """Confirmed by the platform's callback, by `QUERY` (`TrangThaiGD` 1), or paid at the counter."""
    FAILED = "failed"
    """The platform says it failed or was abandoned (`TrangThaiGD` 4, or a callback with `MaLoi` not `00`)."""


class PaymentChannel(StrEnum):
    """How the fee is paid."""

    ONLINE = "online"
    """Through DVCQG's payment platform (INIT, pay URL, callback)."""
    COUNTER = "counter"
    """At the one-stop desk without cash (bank POS or transfer), reported by the one-stop system."""


class ConfirmedBy(StrEnum):
    """What settled a payment."""

    CALLBACK = "callback"
    """The platform's signed confirmation callback."""
    QUERY = "query"
    """Reconciliation: `QUERY` answered `TrangThaiGD` 1 (paid) or 4 (failed)."""
    COUNTER = "counter"
    """The one-stop system reported a non-cash payment at the desk."""


class PaymentEventKind(StrEnum):
    """The event types on `payment.events`."""

    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    FAILED = "failed"

    @property
    def event_type(self) -> str:
        """The versioned CloudEvents type, e.g. `vn.gov.lienthong.payment.confirmed.v1`."""
        return f"{EVENT_TYPE_PREFIX}{self.value}.v1"


class _Canonical(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True)


class FeeLine(_Canonical):
    """One fee of the payment (`PhiLePhi` item of `ThongTinBienLai`, `DanhSachLePhi` item for DVCQG)."""

    name: str = Field(min_length=1, max_length=1000)
    """`TenPhiLePhi`."""
    amount_vnd: int = Field(ge=0, lt=10**18)
    """`SoTien` / `Gia`: whole dong."""
    code: str | None = None
    """`MaPhiLePhi`."""
    fee_type: int | None = None
    """`LoaiPhiLePhi`, passed through."""
    collection_method: int | None = None
    """`HinhThucThu`: how it was collected (set once paid)."""


class PaymentEvent(_Canonical):
    """Payload of `payment.events`: the payment's state after the event."""

    kind: PaymentEventKind
    """What happened: requested, confirmed or failed."""
    reference: str = Field(min_length=1, max_length=64)
    """`MaThamChieu`: unique per attempt; the record key."""
    dossier_code: str = Field(min_length=1, max_length=64)
    """`MaHoSo` of the dossier the fees belong to."""
    channel: PaymentChannel
    """Online (platform) or counter."""
    state: PaymentState
    """State after the event."""
    amount_vnd: int = Field(ge=0, lt=10**18)
    """`SoTien`: whole dong."""
    currency: str = "VND"
    """`MaTienTe`."""
    attempt: int = Field(ge=1)
    """Attempt number for the dossier (1 for the first request)."""
    fees: tuple[FeeLine, ...] = ()
    """The fees paid, with `collection_method` (`HinhThucThu`) set once confirmed."""
    pay_url: str | None = None
    """`UrlThanhToan`: where the citizen pays (requested events)."""
    transaction_id: str | None = None
    """`MaGiaoDich`: the platform's (or the bank's, at the counter) transaction id."""
    bank_code: str | None = None
    """`MaNganHang`."""
    paid_at: AwareDatetime | None = None
    """`ThoiGianGD` of the payment."""
    confirmed_by: ConfirmedBy | None = None
    """What settled it (confirmed and failed events)."""
    reason: str | None = None
    """Why it failed (no personal data)."""
    paused_at: AwareDatetime | None = None
    """When the dossier entered status 6 (payment requested): its clock stood still from then."""
    previous_due_at: AwareDatetime | None = None
    """The dossier's due date (`NgayHenTraTruoc`) while the payment was pending."""
    new_due_at: AwareDatetime | None = None
    """Confirmed events: the due date moved back by the paused working time (`NgayHenTraMoi`)."""

    @property
    def event_type(self) -> str:
        """The CloudEvents type of the event."""
        return self.kind.event_type


__all__ = [
    "EVENT_TYPE_PREFIX",
    "ConfirmedBy",
    "FeeLine",
    "PaymentChannel",
    "PaymentEvent",
    "PaymentEventKind",
    "PaymentState",
]
