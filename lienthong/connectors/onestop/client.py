"""Outbound calls to the provincial one-stop system's REST API.

Contract (what the one-stop sandbox simulates): `POST {url}/api/notices` with the JSON of
`lienthong.mappings.onestop.notice_to_onestop` and an `Idempotency-Key` header. The system applies a
key once and answers a repeated key with its first answer.

- 2xx with `{"accepted": true, ...}`: delivered; the reply text is kept as the effect's result.
- 2xx with `{"accepted": false, "reason": ...}`: the system understood and refused the content
  (`BusinessRejection`, reported on `dossier.outcomes`), the same "error in the body" style as the
  province's other JSON APIs.
- 408, 425, 429, 5xx, timeouts, refused connections: `TransientError` (retried).
- any other 4xx: `PermanentError` (dead-lettered with the original record).
"""

from __future__ import annotations

import asyncio

import httpx
import orjson

from lienthong.connectors.http import raise_for_peer, transport_error
from lienthong.connectors.onestop.settings import OnestopSettings
from lienthong.errors import BusinessRejection, PermanentError

PEER = "onestop"
"""Peer name in audit records, metrics and the circuit."""
NOTICES_PATH = "/api/notices"
"""Path of the notice delivery endpoint under the one-stop base URL."""
OPERATION = f"POST {NOTICES_PATH}"


class OnestopClient:
    """An HTTP client of the one-stop REST API, bounded to `settings.concurrency` calls in flight."""

    def __init__(self, settings: OnestopSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        """`transport` replaces the network (e.g. `httpx.ASGITransport` of the sandbox) in tests."""
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.url.rstrip("/"), timeout=httpx.Timeout(settings.timeout_s), transport=transport
        )
        self._slots = asyncio.Semaphore(settings.concurrency)

    async def deliver_notice(self, body: bytes, *, idempotency_key: str) -> str:
        """Post one notice (`body`: the exact JSON bytes) and return the system's reply text.

        Raises `TransientError`, `PermanentError` or `BusinessRejection` as the module docstring says.
        """
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        async with self._slots:
            try:
                response = await self._http.post(NOTICES_PATH, content=body, headers=headers)
            except httpx.TransportError as exc:
                raise transport_error(exc, peer=PEER, operation=OPERATION) from exc
        raise_for_peer(response, peer=PEER, operation=OPERATION)
        try:
            reply = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise PermanentError(f"{PEER} {OPERATION}: reply is not JSON", peer=PEER) from exc
        if not isinstance(reply, dict) or not isinstance(reply.get("accepted"), bool):
            raise PermanentError(f"{PEER} {OPERATION}: reply lacks a boolean 'accepted'", peer=PEER)
        if not reply["accepted"]:
            reason = str(reply.get("reason") or "refused without a reason")[:500]
            raise BusinessRejection(f"{PEER} refused the notice: {reason}", peer=PEER, code=str(reply.get("code", "")))
        return response.text

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
