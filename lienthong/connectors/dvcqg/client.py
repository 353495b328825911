"""Outbound client of the National Public Service Portal (DVCQG): transport, session and one service call.

Every call is a JSON `POST` with the `dstcode` header; the body is built with
`lienthong.mappings.dvcqg.build_request`, serialised once with orjson and sent as bytes, so the audit
digest is the SHA-256 of exactly what the portal received. Paths are settings: logins go to
`login_path` (public code: `/mapi/login?dstcode=...`), services to `service_path` (`/mapi/g`).

Session: `LayPhienLamViec` gives `session` and, on some portals, `expires_in`; the session is renewed
`session_refresh_margin_s` before it expires, or after `session_max_age_s` when the answer carries no
expiry. Any authentication failure (an `error_code` in `session_error_codes`, a message naming the
session or login, HTTP 401/403) forgets the session, logs in once more and sends the call again.

`TraCuuHoSo` sends `mahoso` (the `lookup_field` setting) and reads the list public implementations
answer (`result` or `data`); only an empty list, `null` or a "không tồn tại" refusal means "missing".

The create/update fallback and the bisection of refused calls are in `lienthong.connectors.dvcqg.writes`
(`dong_bo`, `cap_nhat_tien_do`, also reachable as methods here).

Error taxonomy: transport errors, timeouts, HTTP 5xx/429 and unreadable replies are
`TransientError(peer="dvcqg")` (a timeout after the request left is `code="ambiguous"`: the portal may
have applied it); other HTTP 4xx are `PermanentError`; a refused content is a `BusinessRejection`
keeping the portal's `error_code` and message, personal data masked.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from lienthong import metrics
from lienthong.audit.redact import mask_text
from lienthong.connectors.dvcqg.settings import DvcqgSettings
from lienthong.connectors.http import raise_for_peer, transport_error
from lienthong.errors import BusinessRejection, ConfigurationError, LienthongError, PermanentError, TransientError
from lienthong.logging import get_logger
from lienthong.mappings.dvcqg import SERVICE_LOOKUP, build_request
from lienthong.schemas.validators import InvalidIdentifier, validate_agency_code

PEER = "dvcqg"
"""Peer name in errors, metrics, audit records and the circuit."""
SERVICE_LOGIN = "LayPhienLamViec"
"""Session login service (its contract is not public; modelled like the other services)."""
EXISTS_MARKER = "đã tồn tại"
"""Message fragment of "this dossier already exists"."""
MISSING_MARKER = "không tồn tại"
"""Message fragment of "does not exist"; read as "no such dossier" only beside `DOSSIER_WORD`."""
DOSSIER_WORD = "hồ sơ"
"""Message fragment naming a dossier (so "Mã TTHC không tồn tại" stays a content refusal)."""
AMBIGUOUS = "ambiguous"
"""`TransientError.code` of a call that may have reached the portal (a timeout after the request left)."""
_AUTH_STATUS = frozenset({"401", "403"})

log = get_logger("lienthong.dvcqg")


@dataclass(frozen=True, slots=True)
class Sent:
    """The accepted call that carried an item to the portal."""

    service: str
    """`DongBoHoSoMC` or `CapNhatTienDoHoSoMC`."""
    is_updating: bool | None
    """`isUpdating` of that call (None for services without it)."""
    digest: str
    """SHA-256 hex of the exact request body bytes the portal accepted."""
    items: int
    """Items the call carried."""


ItemResult = Sent | LienthongError
"""Per-item outcome of a write: where it went, or why it did not (transient, permanent, rejected)."""


class DossierExists(LienthongError):  # noqa: N818 - a signal, not an error
    """A create was refused because a dossier exists (signal of the fallback in `writes`)."""


class DossierMissing(LienthongError):  # noqa: N818 - a signal, not an error
    """An update (or steps) was refused because a dossier does not exist (signal of the fallback)."""


class _AuthFailed(Exception):  # noqa: N818 - a signal, not an error
    """The portal refused the session or the login (internal signal: log in again once)."""


def _normalised(message: str) -> str:
    return unicodedata.normalize("NFC", message).lower()


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


class DvcqgClient:
    """One connection pool and one session to DVCQG; safe to share between concurrent tasks."""

    def __init__(
        self,
        settings: DvcqgSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`transport` replaces the network (tests); `clock` (seconds) drives session renewal."""
        self.settings = s = settings or DvcqgSettings()
        try:
            self._agency = validate_agency_code(s.agency_code)
        except InvalidIdentifier as exc:
            raise ConfigurationError(f"LIENTHONG_DVCQG_AGENCY_CODE: {exc}") from exc
        self._http = httpx.AsyncClient(
            base_url=s.url,
            timeout=httpx.Timeout(s.timeout_s),
            headers={"dstcode": s.dstcode, "content-type": "application/json"},
            limits=httpx.Limits(max_connections=s.concurrency + 2, max_keepalive_connections=s.concurrency + 2),
            transport=transport,
        )
        self._sem = asyncio.Semaphore(s.concurrency)
        self._login_lock = asyncio.Lock()
        self._clock = clock
        self._session = ""
        self._renew_at = 0.0
        self.logins = 0
        """Successful logins so far (first one and renewals)."""

    # -- services ---------------------------------------------------------------------------------

    async def tra_cuu(self, code: str) -> dict[str, Any] | None:
        """`TraCuuHoSo`: the portal's stored item of dossier `code`, or None when it has none.

        Reads `result` or `data` (a list, an object or null). An empty list or null is "missing"; a
        non-empty list is "exists" unless every item names another dossier. An answer with neither key
        cannot tell: a `TransientError`, never "missing".
        """
        field = self.settings.lookup_field
        try:
            reply, _ = await self._call(
                SERVICE_LOOKUP, lambda session: {"service": SERVICE_LOOKUP, "session": session,
                                                 "madonvi": self._agency, field: code},
            )  # fmt: skip
        except DossierMissing:
            return None
        return _lookup_answer(reply, code)

    async def dong_bo(self, items: Sequence[dict[str, Any]], *, is_updating: bool) -> list[ItemResult]:
        """`DongBoHoSoMC` with the exists/missing fallback and bisection (`writes.dong_bo`)."""
        from lienthong.connectors.dvcqg.writes import dong_bo

        return await dong_bo(self, items, is_updating=is_updating)

    async def cap_nhat_tien_do(self, steps: Sequence[dict[str, Any]]) -> list[ItemResult]:
        """`CapNhatTienDoHoSoMC`, 10 steps per call, in order (`writes.cap_nhat_tien_do`)."""
        from lienthong.connectors.dvcqg.writes import cap_nhat_tien_do

        return await cap_nhat_tien_do(self, steps)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- one call ---------------------------------------------------------------------------------

    async def write(self, service: str, data: list[dict[str, Any]], updating: bool | None) -> Sent:
        """One write call (`DongBoHoSoMC` with `isUpdating`, or `CapNhatTienDoHoSoMC` with None).

        Returns where the items went; raises `DossierExists` / `DossierMissing` (the fallback's signals),
        `BusinessRejection`, `TransientError` or `PermanentError`.
        """

        def body(session: str) -> dict[str, Any]:
            return build_request(service, data, session=session, agency_code=self._agency, is_updating=updating)

        _, digest = await self._call(service, body, updating=updating)
        return Sent(service, updating, digest, len(data))

    async def _call(
        self, service: str, body: Callable[[str], dict[str, Any]], *, updating: bool | None = None
    ) -> tuple[dict[str, Any], str]:
        """Send one service call; returns the reply and the digest of the accepted body bytes.

        `updating` says how to read a refusal: only a create can meet "exists", only an update, a
        step or a look-up can meet "missing"; any other refusal is about the content.
        """
        try:
            raw, reply = await self._send(service, body)
        except _AuthFailed:
            # Unknown or expired session (a portal restart, a clock skew): log in again, send once more.
            try:
                raw, reply = await self._send(service, body)
            except _AuthFailed as exc:
                raise TransientError(
                    f"{PEER} {service}: session refused right after a new login ({exc})", peer=PEER, code="auth"
                ) from exc
        code = _as_int(reply.get("error_code"))
        if code == 0:
            metrics.PEER_CALLS.labels(PEER, service, "ok").inc()
            return reply, hashlib.sha256(raw).hexdigest()
        error = self._refusal(service, code, reply.get("message"), updating)
        metrics.PEER_CALLS.labels(PEER, service, _result_label(error)).inc()
        raise error

    async def _send(self, service: str, body: Callable[[str], dict[str, Any]]) -> tuple[bytes, dict[str, Any]]:
        session = await self._current_session()
        raw = orjson.dumps(body(session))
        try:
            reply = await self._post(self.settings.service_path, raw, service)
        except PermanentError as exc:
            if exc.code in _AUTH_STATUS:
                metrics.PEER_CALLS.labels(PEER, service, "session_refused").inc()
                self._forget(session)
                raise _AuthFailed(f"HTTP {exc.code}") from exc
            raise
        if self._auth_failure(reply):
            metrics.PEER_CALLS.labels(PEER, service, "session_refused").inc()
            self._forget(session)
            raise _AuthFailed(f"error_code {reply.get('error_code')}")
        return raw, reply

    def _auth_failure(self, reply: dict[str, Any]) -> bool:
        """Whether a reply refuses the session or login (the portal's code is not public, so: any of
        `session_error_codes`, or a message naming the session or login)."""
        code = _as_int(reply.get("error_code"))
        if code == 0:
            return False
        if code in self.settings.session_error_codes:
            return True
        message = reply.get("message")
        plain = _normalised(message) if isinstance(message, str) else ""
        return any(marker in plain for marker in self.settings.session_error_markers)

    def _refusal(self, service: str, code: int | None, message: Any, updating: bool | None) -> LienthongError:
        text = message if isinstance(message, str) else ""
        plain = _normalised(text)
        if code is None:
            return TransientError(f"{PEER} {service}: reply without a readable error_code", peer=PEER,
                                  code="no_error_code")  # fmt: skip
        said = f"{PEER} {service} refused (error_code {code}): {mask_text(text)[:300]}"
        if updating is False and code in self.settings.exists_error_codes and EXISTS_MARKER in plain:
            return DossierExists(said, peer=PEER, code=str(code))
        if updating is not False and MISSING_MARKER in plain and DOSSIER_WORD in plain:
            return DossierMissing(said, peer=PEER, code=str(code))
        return BusinessRejection(said, peer=PEER, code=str(code))

    async def _post(self, path: str, raw: bytes, operation: str, *, limited: bool = True) -> dict[str, Any]:
        """POST bytes; the reply's JSON object, or the taxonomy's error for a failed exchange."""
        start = time.perf_counter()
        try:
            if limited:
                async with self._sem:
                    response = await self._http.post(path, content=raw)
            else:
                response = await self._http.post(path, content=raw)
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # The request may have reached the portal and may still be applied: the sync must not let an
            # older version overtake this one (see `lienthong.mappings.dvcqg_sync`).
            metrics.PEER_CALLS.labels(PEER, operation, "transient").inc()
            raise TransientError(f"{PEER} {operation}: {type(exc).__name__} (may have been applied)", peer=PEER,
                                 code=AMBIGUOUS) from exc  # fmt: skip
        except httpx.TransportError as exc:
            metrics.PEER_CALLS.labels(PEER, operation, "transient").inc()
            raise transport_error(exc, peer=PEER, operation=operation) from exc
        finally:
            metrics.PEER_LATENCY.labels(PEER, operation).observe(time.perf_counter() - start)
        try:
            raise_for_peer(response, peer=PEER, operation=operation)
        except LienthongError as exc:
            metrics.PEER_CALLS.labels(PEER, operation, _result_label(exc)).inc()
            raise
        try:
            reply = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            reply = None
        if not isinstance(reply, dict):
            metrics.PEER_CALLS.labels(PEER, operation, "transient").inc()
            raise TransientError(f"{PEER} {operation}: reply is not a JSON object", peer=PEER, code="bad_reply")
        return reply

    # -- session ------------------------------------------------------------------------------------

    async def _current_session(self) -> str:
        if self._session and self._clock() < self._renew_at:
            return self._session
        async with self._login_lock:
            if not (self._session and self._clock() < self._renew_at):
                await self._login()
            return self._session

    def _forget(self, session: str) -> None:
        # Only the session that was refused: a concurrent call may already have logged in again.
        if self._session == session:
            self._session = ""

    async def _login(self) -> None:
        s = self.settings
        raw = orjson.dumps({"service": SERVICE_LOGIN, "username": s.username,
                            "password": s.password.get_secret_value(), "madonvi": self._agency})  # fmt: skip
        path = s.login_path.replace("{dstcode}", quote(s.dstcode, safe=":"))
        reply = await self._post(path, raw, SERVICE_LOGIN, limited=False)
        session = reply.get("session")
        if _as_int(reply.get("error_code")) != 0 or not isinstance(session, str) or not session:
            metrics.PEER_CALLS.labels(PEER, SERVICE_LOGIN, "refused").inc()
            # Transient on purpose: the circuit opens and consumers pause until an operator fixes the
            # account, instead of dead-lettering every dossier meanwhile.
            log.error("dvcqg login refused: check LIENTHONG_DVCQG_USERNAME, _PASSWORD and _AGENCY_CODE",
                      error_code=reply.get("error_code"))  # fmt: skip
            raise TransientError(f"{PEER} {SERVICE_LOGIN}: login refused (error_code {reply.get('error_code')}); "
                                 "check LIENTHONG_DVCQG_USERNAME, _PASSWORD and _AGENCY_CODE",
                                 peer=PEER, code=str(reply.get("error_code")))  # fmt: skip
        metrics.PEER_CALLS.labels(PEER, SERVICE_LOGIN, "ok").inc()
        expires_in = reply.get("expires_in")
        # No expiry in the answer: never trust a session forever, renew it after a configured age.
        lifetime = (
            float(expires_in)
            if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0
            else s.session_max_age_s
        )
        self._session = session
        self._renew_at = self._clock() + lifetime - min(s.session_refresh_margin_s, lifetime / 2)
        self.logins += 1


def _lookup_answer(reply: dict[str, Any], code: str) -> dict[str, Any] | None:
    for key in ("result", "data"):
        if key in reply:
            value = reply[key]
            break
    else:
        raise TransientError(f"{PEER} {SERVICE_LOOKUP}: reply has neither 'result' nor 'data'; cannot tell whether "
                             "the dossier exists", peer=PEER, code="bad_lookup")  # fmt: skip
    if value is None or value in ([], {}):
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        named = [item for item in value if isinstance(item, dict) and _code_in(item) is not None]
        same = [item for item in named if _code_in(item) == code]
        if same:
            return same[-1]
        if len(named) == len(value):
            return None  # every item is another dossier's
        first = value[0]
        return first if isinstance(first, dict) else {"value": first}
    raise TransientError(f"{PEER} {SERVICE_LOOKUP}: unreadable '{key}' in the reply", peer=PEER, code="bad_lookup")


def _code_in(item: dict[str, Any]) -> str | None:
    for key in ("MaHoSo", "mahoso", "maHoSo"):
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _result_label(exc: LienthongError) -> str:
    if isinstance(exc, DossierExists):
        return "exists"
    if isinstance(exc, DossierMissing):
        return "missing"

    if isinstance(exc, BusinessRejection):
        return "rejected"
    if isinstance(exc, TransientError):
        return "transient"
    return "permanent"


result_label = _result_label
"""The metric label of a failure (`exists`, `missing`, `rejected`, `transient`, `permanent`)."""

__all__ = [
    "AMBIGUOUS",
    "PEER",
    "DossierExists",
    "DossierMissing",
    "DvcqgClient",
    "ItemResult",
    "Sent",
    "result_label",
]
