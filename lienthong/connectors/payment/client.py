"""Outbound calls to DVCQG's payment platform: `INIT`, `QUERY`, `GET_BILL`.

Every message is a JSON object posted to `{LIENTHONG_PAYMENT_URL}/`, naming its operation in
`LoaiBanTin` and signed with `MaXacThuc` (`lienthong.connectors.payment.signature`). Replies:

- `INIT`: `{MaLoi, MoTaLoi, MaThamChieu, UrlThanhToan}`; `MaLoi` `00` = created (a repeated `INIT` of
  the same reference and amount gets the same URL back), anything else a `BusinessRejection`.
- `QUERY`: `{MaLoi, TrangThaiGD (1 paid, 3 pending/unknown, 4 failed), MaGiaoDich, SoTien, ...}`.
- `GET_BILL`: `{MaLoi, MaBienLai, ...}`: the e-receipt reference (the receipt field names are not in
  the public material; lienthong reads `MaBienLai`, else `SoBienLai`).

Connection errors, timeouts, 5xx and 429 are `TransientError`; other 4xx and unreadable replies
`PermanentError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from lienthong.connectors.http import raise_for_peer, transport_error
from lienthong.connectors.payment.settings import PaymentSettings
from lienthong.connectors.payment.signature import MessageKind, sign
from lienthong.errors import BusinessRejection, PermanentError
from lienthong.mappings.payment import OK, InitConfig, parse_amount, query_message

PEER = "payment"
"""Peer name in audit records, metrics and the circuit."""


def init_config(settings: PaymentSettings) -> InitConfig:
    """The constant `INIT` values from the settings."""
    return InitConfig(
        partner_code=settings.partner_code,
        channel_code=settings.channel_code,
        device_code=settings.device_code,
        bank_code=settings.bank_code,
        client_ip=settings.client_ip,
        service_code=settings.service_code,
        beneficiary_account=settings.beneficiary_account,
        beneficiary_bank=settings.beneficiary_bank,
        beneficiary_name=settings.beneficiary_name,
        agency_name=settings.agency_name,
    )


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The platform's answer to `QUERY`."""

    status: int
    """`TrangThaiGD`: 1 paid, 3 pending or unknown, 4 failed."""
    transaction_id: str | None
    """`MaGiaoDich`."""
    amount_vnd: int | None
    """`SoTien` as the platform holds it."""
    bank_code: str | None
    """`MaNganHang`."""
    paid_at: str | None
    """`ThoiGianGD` of the transaction (`yyyyMMddHHmmss`) when given."""


class PaymentClient:
    """An HTTP client of the payment platform."""

    def __init__(self, settings: PaymentSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.url.rstrip("/"), timeout=httpx.Timeout(settings.timeout_s), transport=transport
        )

    def signed(self, kind: MessageKind, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with its `MaXacThuc`."""
        text = {k: v for k, v in body.items() if isinstance(v, str)}
        mac = sign(kind, text, secret=self.settings.secret.get_secret_value(), scheme=self.settings.signature)
        return {**body, "MaXacThuc": mac}

    async def _call(self, kind: MessageKind, body: dict[str, Any]) -> dict[str, Any]:
        operation = kind.value
        raw = orjson.dumps(self.signed(kind, body))
        try:
            response = await self._http.post("/", content=raw, headers={"Content-Type": "application/json"})
        except httpx.TransportError as exc:
            raise transport_error(exc, peer=PEER, operation=operation) from exc
        raise_for_peer(response, peer=PEER, operation=operation)
        try:
            reply = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise PermanentError(f"{PEER} {operation}: reply is not JSON", peer=PEER) from exc
        if not isinstance(reply, dict) or not isinstance(reply.get("MaLoi"), str):
            raise PermanentError(f"{PEER} {operation}: reply lacks MaLoi", peer=PEER)
        return reply

    async def init(self, body: dict[str, Any]) -> str:
        """Send `INIT` (`body` from `lienthong.mappings.payment.init_message`) and return `UrlThanhToan`."""
        reply = await self._call(MessageKind.INIT, body)
        if reply["MaLoi"] != OK:
            reason = str(reply.get("MoTaLoi") or "refused without a reason")[:300]
            raise BusinessRejection(f"{PEER} refused INIT: {reason}", peer=PEER, code=reply["MaLoi"])
        url = reply.get("UrlThanhToan")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2000:
            raise PermanentError(f"{PEER} INIT: reply lacks a usable UrlThanhToan (an http(s) URL)", peer=PEER)
        return url

    async def query(self, reference: str, *, at: datetime) -> QueryResult:
        """Ask the platform where a transaction stands."""
        body = query_message("QUERY", reference=reference, partner_code=self.settings.partner_code, at=at)
        reply = await self._call(MessageKind.QUERY, body)
        if reply["MaLoi"] != OK:
            return QueryResult(3, None, None, None, None)
        try:
            status = int(reply.get("TrangThaiGD", 3))
            amount = None if reply.get("SoTien") in (None, "") else parse_amount(reply["SoTien"])
        except (TypeError, ValueError) as exc:
            raise PermanentError(f"{PEER} QUERY: unreadable TrangThaiGD or SoTien", peer=PEER) from exc

        def text(name: str) -> str | None:
            value = reply.get(name)
            return str(value) if value not in (None, "") else None

        return QueryResult(status, text("MaGiaoDich"), amount, text("MaNganHang"), text("ThoiGianGD"))

    async def get_bill(self, reference: str, *, at: datetime) -> str | None:
        """The e-receipt reference of a paid transaction (None while the platform has none)."""
        body = query_message("GET_BILL", reference=reference, partner_code=self.settings.partner_code, at=at)
        reply = await self._call(MessageKind.GET_BILL, body)
        if reply["MaLoi"] != OK:
            return None
        receipt = reply.get("MaBienLai") or reply.get("SoBienLai")
        return str(receipt)[:255] if receipt else None

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


__all__ = ["PEER", "PaymentClient", "QueryResult", "init_config"]
