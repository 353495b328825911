"""Outbound client of the National Public Service Portal (DVCQG): session, dossier services, fallbacks.

Every call is a JSON `POST` with the `dstcode` header; the body is built with
`lienthong.mappings.dvcqg.build_request`, serialised once with orjson and sent as bytes, so the audit
digest is the SHA-256 of exactly what the portal received.

Session: `LayPhienLamViec` at `POST {url}/login` gives `session` and `expires_in`; the session is
cached and renewed `session_refresh_margin_s` before it expires. A call answered `error_code -2`
(unknown or expired session, e.g. after a portal restart) logs in once more and is sent again.

Exists / missing fallback (`dong_bo`): the portal refuses a whole `DongBoHoSoMC` call when one item
breaks its rule, so the client works per chunk:

1. a create (`isUpdating "False"`) answered `error_code` in `exists_error_codes` with "đã tồn tại"
   is sent again whole as an update; an update answered "không tồn tại" beside "hồ sơ" is sent again
   whole as a create. This settles the common cases in two calls: every item exists (a lost sync
   state, or a crash between the portal's answer and the state's write), or none does (a portal reset);
2. when the other direction is refused too, the chunk is mixed: `TraCuuHoSo` for each item (in
   parallel, within `concurrency`) splits it, then one create and one update, with no further
   flipping. N+2 extra calls for an N-item chunk: bounded, and independent of whether the portal's
   message names the offending dossier. An update of a dossier the look-up found, still answered
   "không tồn tại", refers to something else (a code in the item): a content refusal;
3. a content refusal (`error_code -1`, any other code) of a multi-item call is bisected until the
   refused items stand alone; they alone become `BusinessRejection`s, the others are written.

Error taxonomy: transport errors, timeouts, HTTP 5xx/429 and unreadable replies are
`TransientError(peer="dvcqg")`; other HTTP 4xx are `PermanentError`; a refused content is a
`BusinessRejection` keeping the portal's `error_code` and message, personal data masked.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from lienthong import metrics
from lienthong.audit.redact import mask_text
from lienthong.connectors.dvcqg.settings import DvcqgSettings
from lienthong.connectors.http import raise_for_peer, transport_error
from lienthong.errors import BusinessRejection, ConfigurationError, LienthongError, TransientError
from lienthong.logging import get_logger
from lienthong.mappings.dvcqg import (
    SERVICE_LOOKUP,
    SERVICE_SYNC_DOSSIER,
    SERVICE_UPDATE_PROGRESS,
    STEPS_PER_CALL,
    build_request,
    chunk,
)
from lienthong.mappings.errors import InvalidIdentifier
from lienthong.mappings.identifiers import validate_agency_code

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


class _Exists(LienthongError):  # noqa: N818 - a signal, not an error
    """A create was refused because a dossier exists (internal signal of the fallback)."""


class _Missing(LienthongError):  # noqa: N818 - a signal, not an error
    """An update (or steps) was refused because a dossier does not exist (internal signal)."""


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
        """`TraCuuHoSo`: the portal's stored item of dossier `code`, or None when it has none."""
        try:
            reply, _ = await self._call(
                SERVICE_LOOKUP, lambda session: {"service": SERVICE_LOOKUP, "session": session,
                                                 "madonvi": self._agency, "MaHoSo": code},
            )  # fmt: skip
        except _Missing:
            return None
        data = reply.get("data")
        return data if isinstance(data, dict) else None

    async def dong_bo(self, items: Sequence[dict[str, Any]], *, is_updating: bool) -> list[ItemResult]:
        """`DongBoHoSoMC`: create (`is_updating=False`) or update dossier items, `max_items_per_call`
        per call, chunks in parallel; one result per item, in order (fallbacks in the module docstring)."""
        results: list[ItemResult | None] = [None] * len(items)
        await asyncio.gather(*(
            self._sync(items, idx, is_updating, results)
            for idx in chunk(range(len(items)), self.settings.max_items_per_call)
        ))  # fmt: skip
        return _complete(results)

    async def cap_nhat_tien_do(self, steps: Sequence[dict[str, Any]]) -> list[ItemResult]:
        """`CapNhatTienDoHoSoMC`: add steps, `STEPS_PER_CALL` per call, chunks one after another so the
        portal receives them in order. After a transient failure the remaining steps are not sent (they
        get the same error); a refused step is isolated by bisection and the others are still sent."""
        results: list[ItemResult | None] = [None] * len(steps)
        failed: LienthongError | None = None
        for idx in chunk(range(len(steps)), STEPS_PER_CALL):
            if failed is not None:
                for i in idx:
                    results[i] = failed
                continue
            await self._steps(steps, idx, results)
            failed = next((r for i in idx if isinstance(r := results[i], LienthongError)
                           and not isinstance(r, BusinessRejection)), None)  # fmt: skip
        return _complete(results)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- DongBoHoSoMC and its fallbacks -----------------------------------------------------------

    async def _sync(
        self, items: Sequence[dict[str, Any]], idx: list[int], updating: bool, results: list[ItemResult | None],
        *, fallback: bool = True,
    ) -> None:  # fmt: skip
        try:
            sent = await self._write(SERVICE_SYNC_DOSSIER, [items[i] for i in idx], updating)
        except (_Exists, _Missing) as exc:
            if fallback:
                await self._flipped(items, idx, not updating, results)
            elif isinstance(exc, _Missing):
                # The look-up found these dossiers: "không tồn tại" names something else they refer to.
                await self._bisect(items, idx, updating, results, _rejection(exc), fallback=False)
            else:
                _settle(results, idx, _unsettled(exc))
            return
        except BusinessRejection as exc:
            await self._bisect(items, idx, updating, results, exc, fallback=fallback)
            return
        except LienthongError as exc:
            _settle(results, idx, exc)
            return
        _settle(results, idx, sent)

    async def _flipped(
        self, items: Sequence[dict[str, Any]], idx: list[int], updating: bool, results: list[ItemResult | None]
    ) -> None:
        """The chunk sent the other way round; refused that way too, look each item up."""
        log.info("dvcqg: retrying chunk the other way", items=len(idx), is_updating=updating)
        try:
            sent = await self._write(SERVICE_SYNC_DOSSIER, [items[i] for i in idx], updating)
        except (_Exists, _Missing):
            await self._split_by_lookup(items, idx, results)
            return
        except BusinessRejection as exc:
            await self._bisect(items, idx, updating, results, exc, fallback=True)
            return
        except LienthongError as exc:
            _settle(results, idx, exc)
            return
        _settle(results, idx, sent)

    async def _split_by_lookup(
        self, items: Sequence[dict[str, Any]], idx: list[int], results: list[ItemResult | None]
    ) -> None:
        log.info("dvcqg: refused both ways, looking each dossier up", items=len(idx))
        found = await asyncio.gather(*(self.tra_cuu(items[i]["MaHoSo"]) for i in idx), return_exceptions=True)
        existing: list[int] = []
        missing: list[int] = []
        for i, answer in zip(idx, found, strict=True):
            if isinstance(answer, LienthongError):
                results[i] = answer
            elif isinstance(answer, BaseException):
                raise answer
            else:
                (missing if answer is None else existing).append(i)
        await asyncio.gather(*(
            self._sync(items, part, updating, results, fallback=False)
            for part, updating in ((missing, False), (existing, True)) if part
        ))  # fmt: skip

    async def _bisect(
        self, items: Sequence[dict[str, Any]], idx: list[int], updating: bool, results: list[ItemResult | None],
        exc: BusinessRejection, *, fallback: bool,
    ) -> None:  # fmt: skip
        if len(idx) == 1:
            results[idx[0]] = exc
            return
        half = len(idx) // 2
        await asyncio.gather(
            self._sync(items, idx[:half], updating, results, fallback=fallback),
            self._sync(items, idx[half:], updating, results, fallback=fallback),
        )

    # -- CapNhatTienDoHoSoMC ------------------------------------------------------------------------

    async def _steps(self, steps: Sequence[dict[str, Any]], idx: list[int], results: list[ItemResult | None]) -> None:
        try:
            sent = await self._write(SERVICE_UPDATE_PROGRESS, [steps[i] for i in idx], None)
        except (BusinessRejection, _Missing) as exc:
            if len(idx) == 1:
                # A step of a dossier the portal lacks: the retry writes the dossier again first.
                results[idx[0]] = _unsettled(exc) if isinstance(exc, _Missing) else exc
                return
            half = len(idx) // 2
            await self._steps(steps, idx[:half], results)  # one after the other: steps keep their order
            await self._steps(steps, idx[half:], results)
            return
        except LienthongError as exc:
            _settle(results, idx, exc)
            return
        _settle(results, idx, sent)

    # -- one call ---------------------------------------------------------------------------------

    async def _write(self, service: str, data: list[dict[str, Any]], updating: bool | None) -> Sent:
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
        raw, reply = await self._send(service, body)
        if _as_int(reply.get("error_code")) == -2:
            # Unknown or expired session (a portal restart, a clock skew): log in again, send once more.
            raw, reply = await self._send(service, body)
        code = _as_int(reply.get("error_code"))
        if code == 0:
            metrics.PEER_CALLS.labels(PEER, service, "ok").inc()
            return reply, hashlib.sha256(raw).hexdigest()
        if code == -2:
            raise TransientError(f"{PEER} {service}: session refused right after a new login", peer=PEER, code="-2")
        error = self._refusal(service, code, reply.get("message"), updating)
        metrics.PEER_CALLS.labels(PEER, service, _result_label(error)).inc()
        raise error

    async def _send(self, service: str, body: Callable[[str], dict[str, Any]]) -> tuple[bytes, dict[str, Any]]:
        session = await self._current_session()
        raw = orjson.dumps(body(session))
        reply = await self._post("/", raw, service)
        if _as_int(reply.get("error_code")) == -2:
            metrics.PEER_CALLS.labels(PEER, service, "session_refused").inc()
            self._forget(session)
        return raw, reply

    def _refusal(self, service: str, code: int | None, message: Any, updating: bool | None) -> LienthongError:
        text = message if isinstance(message, str) else ""
        plain = _normalised(text)
        if code is None:
            return TransientError(f"{PEER} {service}: reply without a readable error_code", peer=PEER,
                                  code="no_error_code")  # fmt: skip
        said = f"{PEER} {service} refused (error_code {code}): {mask_text(text)[:300]}"
        if updating is False and code in self.settings.exists_error_codes and EXISTS_MARKER in plain:
            return _Exists(said, peer=PEER, code=str(code))
        if updating is not False and MISSING_MARKER in plain and DOSSIER_WORD in plain:
            return _Missing(said, peer=PEER, code=str(code))
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
        reply = await self._post("/login", raw, SERVICE_LOGIN, limited=False)
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
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else math.inf
        self._session = session
        self._renew_at = self._clock() + lifetime - min(s.session_refresh_margin_s, lifetime / 2)
        self.logins += 1


def _result_label(exc: LienthongError) -> str:
    if isinstance(exc, _Exists):
        return "exists"
    if isinstance(exc, _Missing):
        return "missing"
    if isinstance(exc, BusinessRejection):
        return "rejected"
    if isinstance(exc, TransientError):
        return "transient"
    return "permanent"


def _rejection(exc: LienthongError) -> BusinessRejection:
    return BusinessRejection(str(exc), peer=PEER, code=exc.code)


def _unsettled(exc: LienthongError) -> TransientError:
    """An exists/missing answer the fallback could not resolve (the portal changed in between)."""
    return TransientError(f"{exc} (after the exists/update fallback; will try again)", peer=PEER, code=exc.code)


def _settle(results: list[ItemResult | None], idx: list[int], result: ItemResult) -> None:
    for i in idx:
        results[i] = result


def _complete(results: list[ItemResult | None]) -> list[ItemResult]:
    done = [r for r in results if r is not None]
    if len(done) != len(results):
        raise AssertionError("DVCQG client left an item without a result")
    return done


__all__ = ["PEER", "DvcqgClient", "ItemResult", "Sent"]
