"""Pure mappings of the payment flow (REFERENCE flow C): references, amounts, the platform's messages,
the confirmation callback's checks, and the dossier's clock after a payment.

- `payment_reference` / `counter_reference`: `MaThamChieu`, deterministic (a retried `INIT` reuses it).
- `parse_amount`: `SoTien` as whole dong; floats, signs, non-digits and more than 18 digits refused.
- `init_message`, `query_message`: the unsigned bodies of `INIT`, `QUERY` and `GET_BILL`.
- `read_callback`: the confirmation callback's fields as received, or a `CallbackRefused` reason.
- `resumed_due_date`: the due date moved back by the working time paused in status 6 (REFERENCE §3).
- `paid_fees`, `fees_for_dvcqg`: the fees with their `HinhThucThu`, and as DVCQG's `DanhSachLePhi`.

No I/O; signatures are in `lienthong.connectors.payment.signature`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lienthong.calendar import WorkingCalendar
from lienthong.mappings.errors import MappingError
from lienthong.mappings.wire import format_dvcqg_time, parse_dvcqg_time
from lienthong.schemas.dossier import Dossier, DossierStatus, ProcessingStep, SupplementRequest
from lienthong.schemas.payment import FeeLine

PROTOCOL_VERSION = "1.0.6"
"""`PhienBan` of the messages."""
PAYMENT_KIND = "PAY"
"""`LoaiHinhThanhToan` of a payment."""
LANGUAGE = "vi-VN"
"""`NgonNgu`."""
CURRENCY = "VND"
"""`MaTienTe`: amounts are whole dong."""
OK = "00"
"""`MaLoi` of success."""
REFUSED = "99"
"""`MaLoi` lienthong answers for any refused callback."""
AMOUNT_DIGITS_MAX = 18
"""Most digits of an amount (below 10^18 dong)."""
TEXT_MAX = 255
"""Longest accepted value of a callback field."""

CALLBACK_FIELDS: tuple[str, ...] = (
    "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich", "MaNganHang",
    "ThoiGianGD", "ThongTinGiaoDich", "MaXacThuc",
)  # fmt: skip
"""Every field of the confirmation callback (REFERENCE flow C); all are required."""

QUERY_PAID = 1
"""`TrangThaiGD` of a paid transaction."""
QUERY_PENDING = 3
"""`TrangThaiGD` of a pending or unknown transaction."""
QUERY_FAILED = 4
"""`TrangThaiGD` of a failed transaction."""


def payment_reference(dossier_code: str, attempt: int) -> str:
    """`MaThamChieu` of the `attempt`-th online payment of a dossier, e.g. `000.00.12.H52-250703-0042-TT01`.

    Deterministic, so a retried `INIT` of the same attempt carries the same reference; unique per attempt.
    """
    if attempt < 1 or attempt > 99:
        raise MappingError(f"payment attempt must be 1..99, got {attempt}")
    return f"{dossier_code}-TT{attempt:02d}"


def counter_reference(dossier_code: str, transaction_id: str) -> str:
    """The reference of a counter payment: the dossier code and a digest of the bank's transaction id
    (the same desk payment reported twice gets the same reference)."""
    tag = hashlib.sha256(transaction_id.encode()).hexdigest()[:8].upper()
    return f"{dossier_code}-TQ{tag}"


def parse_amount(value: object) -> int:
    """`SoTien` in whole dong: a JSON integer or a string of 1..18 ASCII digits, not negative.

    Raises `MappingError` for floats, booleans, signs, decimals, blanks and anything longer.
    """
    if isinstance(value, bool):
        raise MappingError("SoTien must be whole dong written as digits, not a boolean")
    if isinstance(value, int):
        if value < 0:
            raise MappingError("SoTien must not be negative")
        if value >= 10**AMOUNT_DIGITS_MAX:
            raise MappingError(f"SoTien has more than {AMOUNT_DIGITS_MAX} digits")
        return value
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise MappingError("SoTien must be whole dong written as digits (no sign, separator or decimals)")
        if len(value) > AMOUNT_DIGITS_MAX:
            raise MappingError(f"SoTien has more than {AMOUNT_DIGITS_MAX} digits")
        return int(value)
    raise MappingError("SoTien must be whole dong written as digits")


def _as_wire_text(value: object) -> str:
    """A callback value as its text on the wire (integers as digits; anything else is refused)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise MappingError("must be a string")


class CallbackRefused(MappingError):  # noqa: N818 - reads as what happened to the callback
    """A confirmation callback that lienthong refuses ("99"); the message says why, never echoing values."""


@dataclass(frozen=True, slots=True)
class CallbackFields:
    """A confirmation callback's fields, exactly as received (text), plus the parsed values."""

    wire: Mapping[str, str]
    """Every callback field as text, as received (what the signature covers)."""
    amount_vnd: int
    """`SoTien` parsed."""
    at: datetime
    """`ThoiGianGD` parsed (Asia/Ho_Chi_Minh)."""

    @property
    def reference(self) -> str:
        """`MaThamChieu`."""
        return self.wire["MaThamChieu"]

    @property
    def succeeded(self) -> bool:
        """`MaLoi` is `00`: the platform says the citizen paid."""
        return self.wire["MaLoi"] == OK


def read_callback(body: object) -> CallbackFields:
    """The confirmation callback's fields, or `CallbackRefused` naming the first problem.

    Every field of `CALLBACK_FIELDS` must be present as a string (`SoTien` may be a JSON integer), at
    most `TEXT_MAX` characters; `SoTien` whole dong; `ThoiGianGD` `yyyyMMddHHmmss`. `LoaiBanTin` may
    carry any value (the platform's value for a confirmation is not public).
    """
    if not isinstance(body, dict):
        raise CallbackRefused("the body must be a JSON object")
    wire: dict[str, str] = {}
    for name in CALLBACK_FIELDS:
        if name not in body or body[name] is None:
            raise CallbackRefused(f"field {name} is missing")
        try:
            text = _as_wire_text(body[name])
        except MappingError as exc:
            raise CallbackRefused(f"field {name} {exc}") from None
        if len(text) > TEXT_MAX:
            raise CallbackRefused(f"field {name} is longer than {TEXT_MAX} characters")
        wire[name] = text
    try:
        amount = parse_amount(body["SoTien"])
    except MappingError as exc:
        raise CallbackRefused(str(exc)) from None
    try:
        at = parse_dvcqg_time(wire["ThoiGianGD"])
    except MappingError:
        raise CallbackRefused("ThoiGianGD must be yyyyMMddHHmmss (Asia/Ho_Chi_Minh)") from None
    return CallbackFields(wire=wire, amount_vnd=amount, at=at)


def check_callback_time(at: datetime, now: datetime, *, max_age_s: int, future_skew_s: int) -> None:
    """Refuse a `ThoiGianGD` older than `max_age_s` or more than `future_skew_s` ahead of `now`."""
    if at < now - timedelta(seconds=max_age_s):
        raise CallbackRefused(f"ThoiGianGD is older than {max_age_s} s (a replayed or stale callback)")
    if at > now + timedelta(seconds=future_skew_s):
        raise CallbackRefused("ThoiGianGD lies in the future")


@dataclass(frozen=True, slots=True)
class InitConfig:
    """The province's constant `INIT` values (from the payment settings)."""

    partner_code: str
    """`MaDoiTac`."""
    channel_code: str
    """`MaKenhThanhToan`."""
    device_code: str
    """`MaThietBi`."""
    bank_code: str
    """`MaNganHang` (empty: the citizen chooses)."""
    client_ip: str
    """`Ip`."""
    service_code: str
    """`ThongTinBienLai.MaDichVu`: 2 fee, 1 fine."""
    beneficiary_account: str
    """`TKThuHuong`."""
    beneficiary_bank: str
    """`MaNHThuHuong`."""
    beneficiary_name: str
    """`TenTKThuHuong`."""
    agency_name: str
    """`TenDonVi`."""


def fee_lines(dossier: Dossier) -> tuple[FeeLine, ...]:
    """The dossier's fees as payment fee lines (amounts in whole dong)."""
    return tuple(FeeLine(name=f.name, amount_vnd=f.amount_vnd, code=f.code, fee_type=f.fee_type) for f in dossier.fees)


def _address(dossier: Dossier | None) -> str:
    addr = dossier.applicant.address if dossier is not None else None
    if addr is None:
        return ""
    return ", ".join(p for p in (addr.detail, addr.commune_code, addr.province_code) if p)


def init_message(
    *,
    reference: str,
    dossier_code: str,
    fees: Sequence[FeeLine],
    at: datetime,
    config: InitConfig,
    dossier: Dossier | None = None,
) -> dict[str, Any]:
    """The unsigned `INIT` body (every `INIT` and `ThongTinBienLai` field; `MaXacThuc` is added by the
    client). `SoTien` is the sum of `fees`, as digits. Without `dossier` (an operator's request) the
    procedure and payer fields are sent empty: the citizen fills the payer on the platform."""
    amount = sum(f.amount_vnd for f in fees)
    agency = dossier_code.rsplit("-", 2)[0]
    return {
        "LoaiBanTin": "INIT",
        "PhienBan": PROTOCOL_VERSION,
        "MaDoiTac": config.partner_code,
        "MaThamChieu": reference,
        "SoTien": str(amount),
        "LoaiHinhThanhToan": PAYMENT_KIND,
        "MaKenhThanhToan": config.channel_code,
        "MaThietBi": config.device_code,
        "NgonNgu": LANGUAGE,
        "MaTienTe": CURRENCY,
        "MaNganHang": config.bank_code,
        "ThongTinGiaoDich": f"Thanh toan phi, le phi ho so {dossier_code}",
        "ThoiGianGD": format_dvcqg_time(at),
        "Ip": config.client_ip,
        "ThongTinBienLai": {
            "MaDichVu": config.service_code,
            "MaDVC": dossier.procedure_code if dossier else "",
            "MaTTHC": dossier.procedure_code if dossier else "",
            "TenTTHC": dossier.procedure_name if dossier else "",
            "MaDonVi": agency,
            "TenDonVi": config.agency_name,
            "MaHoSo": dossier_code,
            "TKThuHuong": config.beneficiary_account,
            "MaNHThuHuong": config.beneficiary_bank,
            "TenTKThuHuong": config.beneficiary_name,
            "PhiLePhi": [
                {
                    "LoaiPhiLePhi": "" if f.fee_type is None else str(f.fee_type),
                    "MaPhiLePhi": f.code or "",
                    "TenPhiLePhi": f.name,
                    "SoTien": str(f.amount_vnd),
                }
                for f in fees
            ],
            "HoTenNguoiNop": dossier.applicant.name if dossier else "",
            "SoCMNDNguoiNop": (dossier.applicant.id_number or "") if dossier else "",
            "DiaChiNguoiNop": _address(dossier),
        },
    }


def query_message(kind: str, *, reference: str, partner_code: str, at: datetime) -> dict[str, str]:
    """The unsigned `QUERY` or `GET_BILL` body."""
    if kind not in ("QUERY", "GET_BILL"):
        raise ValueError(f"kind must be QUERY or GET_BILL, got {kind!r}")
    return {
        "LoaiBanTin": kind,
        "PhienBan": PROTOCOL_VERSION,
        "MaDoiTac": partner_code,
        "MaThamChieu": reference,
        "ThoiGianGD": format_dvcqg_time(at),
    }


def resumed_due_date(
    calendar: WorkingCalendar, *, previous_due: datetime, paused_at: datetime, resumed_at: datetime
) -> datetime:
    """The due date after a payment pause: `previous_due` moved later by the working time between
    `paused_at` (status 6 began) and `resumed_at` (the payment was confirmed), REFERENCE §3."""
    paused = calendar.working_time_between(paused_at, resumed_at)
    if paused <= timedelta():
        return previous_due
    return calendar.add_working_time(previous_due, paused)


def pause_record(
    dossier_code: str, *, paused_at: datetime, previous_due: datetime, new_due: datetime, number: int
) -> SupplementRequest:
    """The due-date change reported as a supplement item (`NgayHenTraTruoc` / `NgayHenTraMoi`)."""
    return SupplementRequest(
        id=f"BS-{dossier_code}-{number}",
        content="Tạm dừng chờ thực hiện nghĩa vụ tài chính; điều chỉnh ngày hẹn trả",
        requested_at=paused_at,
        fulfilled=True,
        previous_due_at=previous_due,
        new_due_at=new_due,
    )


def resumed_dossier(
    dossier: Dossier,
    *,
    collection_method: int,
    paid_online: bool,
    new_due: datetime | None,
    at: datetime,
    handler_name: str,
) -> Dossier:
    """The one-stop system's next state of a dossier in status 6 once its payment is confirmed: status 4
    (processing resumes), one version more, the fees with their `HinhThucThu`, the due date moved back
    (`new_due`, from the confirmation) with the change recorded as a supplement item (`NgayHenTraTruoc` /
    `NgayHenTraMoi`), and a processing step at `at`. This is what DVCQG receives on the next sync."""
    fees = tuple(f.model_copy(update={"collection_method": collection_method}) for f in dossier.fees)
    update: dict[str, Any] = {
        "status": DossierStatus.PROCESSING,
        "version": dossier.version + 1,
        "fees": fees,
        "paid_online": dossier.paid_online or paid_online,
    }
    paused_at = next(
        (s.processed_at for s in reversed(dossier.steps) if s.status is DossierStatus.PAYMENT_REQUESTED), None
    )
    if new_due is not None and dossier.due_at is not None and new_due != dossier.due_at:
        update["due_at"] = new_due
        record = pause_record(
            dossier.code, paused_at=paused_at or at, previous_due=dossier.due_at, new_due=new_due,
            number=len(dossier.supplements) + 1,
        )  # fmt: skip
        update["supplements"] = (*dossier.supplements, record)
    step = ProcessingStep(
        handler_name=handler_name, processed_at=at, status=DossierStatus.PROCESSING,
        content="Đã thực hiện nghĩa vụ tài chính; tiếp tục xử lý",
    )  # fmt: skip
    update["steps"] = (*dossier.steps, step)
    return dossier.model_copy(update=update)


def paid_fees(fees: Sequence[FeeLine], collection_method: int) -> tuple[FeeLine, ...]:
    """The fees with `HinhThucThu` set to how they were collected."""
    return tuple(f.model_copy(update={"collection_method": collection_method}) for f in fees)


def fees_for_dvcqg(fees: Sequence[FeeLine]) -> list[dict[str, str | None]]:
    """DVCQG `DanhSachLePhi` items of paid fees (values as the portal's wire strings)."""
    return [
        {
            "TenPhiLePhi": f.name,
            "MaPhiLePhi": f.code,
            "HinhThucThu": None if f.collection_method is None else str(f.collection_method),
            "Gia": str(f.amount_vnd),
            "LoaiPhiLePhi": None if f.fee_type is None else str(f.fee_type),
        }
        for f in fees
    ]


__all__ = [
    "CALLBACK_FIELDS",
    "CURRENCY",
    "OK",
    "QUERY_FAILED",
    "QUERY_PAID",
    "QUERY_PENDING",
    "REFUSED",
    "CallbackFields",
    "CallbackRefused",
    "InitConfig",
    "check_callback_time",
    "counter_reference",
    "fee_lines",
    "fees_for_dvcqg",
    "init_message",
    "paid_fees",
    "parse_amount",
    "pause_record",
    "payment_reference",
    "query_message",
    "read_callback",
    "resumed_dossier",
    "resumed_due_date",
]
