"""`MaXacThuc`: the payment platform's message signature, in both public variants.

Every message is signed over some of its fields joined by `|`, in a fixed order per message kind.

- `sha256-suffix`: SHA-256 hex of the joined fields with `|` and the secret appended as the last field.
- `hmac-sha256` (default): HMAC-SHA256 hex keyed by the secret over the joined fields (no secret field).
  Its confirmation string differs: no `MaLoi` nor `MaGiaoDich`, `ThongTinGiaoDich` before `ThoiGianGD`,
  and a trailing `|`.

The province's answer to a confirmation (`{MaLoi, MoTaLoi, MaDoiTac, MaThamChieu, ThoiGianGD,
MaXacThuc}`) is signed the same way over `MaLoi|MaDoiTac|MaThamChieu|ThoiGianGD`: the platform's
own field list for it is not public, so lienthong signs the fields the answer carries, in its order.

Verification compares in constant time, case-insensitive on the hex. Pure code, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from enum import StrEnum

from lienthong.connectors.payment.settings import SignatureScheme


class MessageKind(StrEnum):
    """Which field list signs a message."""

    INIT = "INIT"
    QUERY = "QUERY"
    GET_BILL = "GET_BILL"
    CONFIRM = "CONFIRM"
    """The platform's confirmation callback."""
    ANSWER = "ANSWER"
    """The province's answer to a confirmation callback."""


INIT_FIELDS: tuple[str, ...] = (
    "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan", "MaKenhThanhToan",
    "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich", "ThoiGianGD", "Ip",
)  # fmt: skip
"""`INIT` fields in signing order (both schemes)."""
QUERY_FIELDS: tuple[str, ...] = ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD")
"""`QUERY` and `GET_BILL` fields in signing order (both schemes)."""
CONFIRM_FIELDS_SUFFIX: tuple[str, ...] = (
    "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich", "MaNganHang",
    "ThoiGianGD", "ThongTinGiaoDich",
)  # fmt: skip
"""Confirmation fields in signing order, `sha256-suffix`."""
CONFIRM_FIELDS_HMAC: tuple[str, ...] = (
    "LoaiBanTin", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaNganHang", "ThongTinGiaoDich", "ThoiGianGD",
)  # fmt: skip
"""Confirmation fields in signing order, `hmac-sha256` (the string ends with `|`)."""
ANSWER_FIELDS: tuple[str, ...] = ("MaLoi", "MaDoiTac", "MaThamChieu", "ThoiGianGD")
"""Fields of the province's answer to a confirmation, in signing order (both schemes)."""

SCHEMES: tuple[SignatureScheme, ...] = ("hmac-sha256", "sha256-suffix")
"""The supported schemes."""


def fields_of(kind: MessageKind, scheme: SignatureScheme) -> tuple[str, ...]:
    """The signed fields of a message kind under a scheme, in order."""
    if kind is MessageKind.INIT:
        return INIT_FIELDS
    if kind in (MessageKind.QUERY, MessageKind.GET_BILL):
        return QUERY_FIELDS
    if kind is MessageKind.CONFIRM:
        return CONFIRM_FIELDS_HMAC if scheme == "hmac-sha256" else CONFIRM_FIELDS_SUFFIX
    return ANSWER_FIELDS


def signing_string(kind: MessageKind, values: Mapping[str, str], scheme: SignatureScheme) -> str:
    """The joined fields (without the secret); a missing field counts as empty."""
    joined = "|".join(values.get(name, "") for name in fields_of(kind, scheme))
    if kind is MessageKind.CONFIRM and scheme == "hmac-sha256":
        joined += "|"
    return joined


def _digest(text: str, secret: str, scheme: SignatureScheme) -> str:
    if scheme == "hmac-sha256":
        return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    if scheme == "sha256-suffix":
        return hashlib.sha256(f"{text}|{secret}".encode()).hexdigest()
    raise ValueError(f"unknown signature scheme {scheme!r}; one of {', '.join(SCHEMES)}")


def sign(kind: MessageKind, values: Mapping[str, str], *, secret: str, scheme: SignatureScheme) -> str:
    """`MaXacThuc` of a message: lower-case hex."""
    return _digest(signing_string(kind, values, scheme), secret, scheme)


def sign_fields(parts: Sequence[str], *, secret: str, scheme: SignatureScheme) -> str:
    """`MaXacThuc` over already ordered values (joined by `|`), for callers with their own field list."""
    return _digest("|".join(parts), secret, scheme)


def verify(kind: MessageKind, values: Mapping[str, str], given: str, *, secret: str, scheme: SignatureScheme) -> bool:
    """True when `given` is the message's `MaXacThuc` (constant time; upper- or lower-case hex)."""
    expected = sign(kind, values, secret=secret, scheme=scheme)
    candidate = given.lower()
    if not candidate.isascii():
        return False
    return hmac.compare_digest(candidate.encode(), expected.encode())


__all__ = [
    "ANSWER_FIELDS",
    "CONFIRM_FIELDS_HMAC",
    "CONFIRM_FIELDS_SUFFIX",
    "INIT_FIELDS",
    "QUERY_FIELDS",
    "SCHEMES",
    "MessageKind",
    "fields_of",
    "sign",
    "sign_fields",
    "signing_string",
    "verify",
]
