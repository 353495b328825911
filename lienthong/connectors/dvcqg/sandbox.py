"""A faithful in-memory simulator of the DVCQG dossier-sync API, for tests, the demo and benchmarks.

Contract as simulated (JSON over HTTP POST, every call names its operation in ``service``; header
``dstcode: VN:GOV:000.00.00.G22:vpcpdvcprovider`` on every call, else HTTP 400 ``{error_code: -1}``):

- ``POST /mapi/login?dstcode=...`` (also ``/login``) ``{service: "LayPhienLamViec", username, password,
  madonvi}`` -> ``{error_code: 0, session, expires_in}`` (``expires_in`` left out with
  ``login_returns_expiry=False``). *Assumption*: the login contract is not public; this shape is ours.
  Wrong credentials -> HTTP 200 ``{error_code: -1, message: "Sai tài khoản hoặc mật khẩu"}``.
- ``POST /mapi/g`` (also ``/``) ``{service, session, madonvi, ...}``; an unknown or expired session ->
  ``error_code`` ``session_error_code`` (-2). ``TraCuuHoSo {mahoso}`` -> ``{error_code: 0, result:
  [<last stored item>]}``, ``[]`` when absent (``lookup_reply_key`` ``data`` for the other public shape).
  ``DongBoHoSoMC {isUpdating: "True"|"False", data: [dossier...]}`` and
  ``CapNhatTienDoHoSoMC {data: [step...]}`` validate every item first (rules in ``sandbox_rules``) and
  either apply the whole call or store nothing. Business errors come back with HTTP 200 in the body.

The portal stores what it receives: per dossier the last item, the history of accepted writes with
their receipt time, a write count (to detect duplicate effects) and the de-duplicated steps.
Monotonic versions are lienthong's duty, not the portal's. Fault controls and inspection live under
``/_sandbox/`` (loopback only): ``POST /_sandbox/<control>`` calls the :class:`DvcqgSandboxState`
method of that name (``down``, ``slow``, ``fail_next``, ``reject_next``, ``duplicate``,
``expire_sessions``, ``reset``) with the JSON body as keyword arguments; ``GET /_sandbox/dossiers``,
``/_sandbox/dossiers/{MaHoSo}`` and ``/_sandbox/stats`` inspect.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from lienthong.connectors.dvcqg import sandbox_rules as rules
from lienthong.connectors.dvcqg.sandbox_rules import DossierRecord, DossierStore, Reply, error
from lienthong.connectors.sandbox_controls import control_router

DSTCODE = "VN:GOV:000.00.00.G22:vpcpdvcprovider"
LOGIN_SERVICE = "LayPhienLamViec"
WRITE_SERVICES = frozenset({"DongBoHoSoMC", "CapNhatTienDoHoSoMC"})


class DvcqgSandboxConfig(BaseModel):
    """Settings of the simulated portal; defaults match the reference and the demo."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True, extra="forbid")

    username: str = "lienthong"
    """Account accepted by ``LayPhienLamViec``."""
    password: str = Field(default="sandbox-secret", repr=False)
    """Password of that account (compared in constant time)."""
    dstcode: str = DSTCODE
    """Exact value required in the ``dstcode`` header (X-Road style address of the portal)."""
    session_ttl_s: float = Field(default=1800.0, gt=0)
    """Seconds a session stays valid after login; then calls answer ``session_error_code``."""
    login_returns_expiry: bool = True
    """Whether the login answer carries ``expires_in`` (some portals do not)."""
    session_error_code: int = -2
    """``error_code`` of the "unknown or expired session" answer (the real one is not public)."""
    lookup_reply_key: Literal["result", "data"] = "result"
    """Key of the ``TraCuuHoSo`` answer's list."""
    exists_error_code: Literal[3, -3] = 3
    """Code answered when creating a dossier that exists (public implementations use 3 or -3)."""
    max_steps_per_call: int = Field(default=10, ge=1)
    """Most steps one ``CapNhatTienDoHoSoMC`` call may carry."""
    max_items_per_call: int = Field(default=500, ge=1)
    """Most dossiers one ``DongBoHoSoMC`` call may carry."""
    latency_ms: int = Field(default=0, ge=0)
    """Added delay per service call, in milliseconds, at start and after ``reset``."""
    check_madonvi: bool = True
    """Refuse calls whose ``madonvi`` differs from the one the session logged in with."""
    agency_code_pattern: str = rules.DEFAULT_AGENCY_CODE_PATTERN
    """Regex of the agency-code part of ``MaHoSo`` (QCVN 102)."""
    required_dossier_fields: tuple[str, ...] = rules.DOSSIER_REQUIRED_FIELDS
    """Dossier fields that must be present and non-empty."""
    required_step_fields: tuple[str, ...] = rules.STEP_REQUIRED_FIELDS
    """Step fields that must be present and non-empty."""
    controls_loopback_only: bool = True
    """Serve ``/_sandbox/*`` only to loopback clients."""


@dataclass(slots=True)
class SandboxStats:
    """Counters of what the portal was asked and answered."""

    calls_by_service: Counter[str] = field(default_factory=Counter)
    """Requests per ``service`` name (``"?"`` when unreadable), faults included."""
    replies_by_error_code: Counter[int] = field(default_factory=Counter)
    """Business replies (HTTP 200) per ``error_code``."""
    replies_by_http_status: Counter[int] = field(default_factory=Counter)
    """All replies per HTTP status."""
    logins: int = 0
    """Successful logins."""
    served_5xx: int = 0
    """Injected server errors served (``down`` and ``fail_next``)."""

    def as_json(self) -> dict[str, Any]:
        """JSON view for ``GET /_sandbox/stats``."""
        return {
            "calls_by_service": dict(self.calls_by_service),
            "replies_by_error_code": {str(k): v for k, v in self.replies_by_error_code.items()},
            "replies_by_http_status": {str(k): v for k, v in self.replies_by_http_status.items()},
            "logins": self.logins,
            "served_5xx": self.served_5xx,
        }


_INVALID_SESSION_MESSAGE = "Phiên làm việc không hợp lệ hoặc đã hết hạn"


class DvcqgSandboxState:
    """The simulated portal: sessions, fault switches and counters around a :class:`DossierStore`.

    ``serve`` never awaits, so a call is atomic on the event loop; a lock also makes the control
    methods safe to call from a test thread while uvicorn serves from another.
    """

    def __init__(self, config: DvcqgSandboxConfig | None = None, *, clock: Callable[[], float] | None = None) -> None:
        """Create an empty portal; ``clock`` returns epoch seconds (inject a fake one in tests)."""
        self.config = config or DvcqgSandboxConfig()
        self.clock = clock or time.time
        self._lock = threading.Lock()
        self._init_state()

    def _init_state(self) -> None:
        config = self.config
        codes = rules.DossierCodeRule(config.agency_code_pattern)
        self.store = DossierStore(
            codes=codes,
            dossier=rules.dossier_rule(codes, config.required_dossier_fields),
            step=rules.step_rule(codes, config.required_step_fields),
            clock=self.clock,
            exists_error_code=config.exists_error_code,
            max_items=config.max_items_per_call,
            max_steps=config.max_steps_per_call,
            lookup_reply_key=config.lookup_reply_key,
        )
        self._services: dict[str, Callable[[dict[str, Any]], Reply]] = {
            "TraCuuHoSo": self.store.lookup,
            "DongBoHoSoMC": self.store.sync_dossiers,
            "CapNhatTienDoHoSoMC": self.store.sync_steps,
        }
        self._sessions: dict[str, tuple[float, str]] = {}
        self.stats = SandboxStats()
        self.down = False
        self.latency_ms = config.latency_ms
        self._fail = (0, 500)
        self._reject: tuple[int, int, str, str | None] = (0, -1, "", None)

    # Fault controls (also POST /_sandbox/<name> with these keyword arguments as JSON) --------------

    def set_down(self, down: bool = True) -> None:
        """While down, every service call (login included) answers HTTP 503."""
        with self._lock:
            self.down = bool(down)

    def set_latency(self, latency_ms: int) -> None:
        """Delay every service call by ``latency_ms`` milliseconds (0 turns it off)."""
        if not isinstance(latency_ms, int) or latency_ms < 0:
            raise ValueError("latency_ms must be an integer >= 0")
        with self._lock:
            self.latency_ms = latency_ms

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` service calls with HTTP ``status`` (5xx or 429), doing nothing else."""
        if (
            not isinstance(n, int)
            or n < 0
            or not isinstance(status, int)
            or not (status == 429 or 500 <= status <= 599)
        ):
            raise ValueError("n must be an integer >= 0 and status 429 or 5xx")
        with self._lock:
            self._fail = (n, status)

    def reject_next(
        self,
        n: int,
        error_code: int = -1,
        message: str = "Hồ sơ bị từ chối (mô phỏng)",
        service: str | None = None,
    ) -> None:
        """Refuse the next ``n`` write calls (or calls of ``service``) with a business error, storing nothing.

        Applies after the session check; look-ups (``TraCuuHoSo``) pass unless named in ``service``.
        """
        if not isinstance(n, int) or n < 0 or not isinstance(error_code, int) or error_code == 0:
            raise ValueError("n must be an integer >= 0 and error_code a non-zero integer")
        with self._lock:
            self._reject = (n, error_code, str(message), service)

    def set_duplicate(self, on: bool = True) -> None:
        """Duplicate mode: creating an unknown dossier answers "đã tồn tại" and the portal then holds it.

        The items are kept as ``seeded`` records with no accepted write, as if an earlier attempt had
        created them, so the client's exists -> update fallback (``isUpdating: "True"``) succeeds.
        Each dossier trips this once; a later create meets a really existing dossier.
        """
        with self._lock:
            self.store.duplicate = bool(on)

    def expire_sessions(self) -> None:
        """Forget every session, as a portal restart would; clients must log in again."""
        with self._lock:
            self._sessions.clear()

    def reset(self) -> None:
        """Drop every dossier, session, counter and fault switch; latency returns to the config's."""
        with self._lock:
            self._init_state()

    # Inspection -----------------------------------------------------------------------------------

    @property
    def dossiers(self) -> Mapping[str, DossierRecord]:
        """Read-only live view ``MaHoSo -> DossierRecord``."""
        return MappingProxyType(self.store.records)

    def dossier(self, code: str) -> DossierRecord | None:
        """The record of one dossier, or ``None``."""
        return self.store.records.get(code)

    def faults_json(self) -> dict[str, Any]:
        """Current fault switches (the answer of every ``POST /_sandbox/<control>``)."""
        fail_n, fail_status = self._fail
        reject_n, reject_code, _, reject_service = self._reject
        return {
            "down": self.down,
            "latency_ms": self.latency_ms,
            "duplicate": self.store.duplicate,
            "fail_next": {"n": fail_n, "status": fail_status},
            "reject_next": {"n": reject_n, "error_code": reject_code, "service": reject_service},
        }

    def stats_json(self) -> dict[str, Any]:
        """Counters, dossier count and fault switches, as ``GET /_sandbox/stats`` shows them."""
        counts = {"dossiers": len(self.store.records), "steps_deduplicated": self.store.steps_deduplicated}
        return self.stats.as_json() | counts | {"faults": self.faults_json()}

    # Protocol -------------------------------------------------------------------------------------

    def serve(self, endpoint: Literal["login", "service"], dstcode: str | None, raw: bytes) -> Reply:
        """Answer one request to ``/login`` or ``/`` (added latency is the caller's, it must await)."""
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            body = None
        name = body.get("service") if body is not None else None
        with self._lock:
            self.stats.calls_by_service[name[:64] if isinstance(name, str) else "?"] += 1
            reply = self._fault()
            if reply is None:
                if dstcode != self.config.dstcode:
                    reply = error("Thiếu hoặc sai header dstcode", status=400)
                elif body is None:
                    reply = error("Nội dung yêu cầu phải là đối tượng JSON", status=400)
                else:
                    reply = self._login(body) if endpoint == "login" else self._call(body)
            stats = self.stats
            stats.replies_by_http_status[reply.status] += 1
            if reply.status == 200:
                stats.replies_by_error_code[reply.body["error_code"]] += 1
            elif reply.status >= 500:
                stats.served_5xx += 1
        return reply

    def _fault(self) -> Reply | None:
        if self.down:
            return error("Hệ thống đang bảo trì (sandbox down)", status=503)
        remaining, status = self._fail
        if remaining:
            self._fail = (remaining - 1, status)
            return error(f"Lỗi máy chủ mô phỏng (HTTP {status})", status=status)
        return None

    def _login(self, body: dict[str, Any]) -> Reply:
        if body.get("service") != LOGIN_SERVICE:
            return error(f"Dịch vụ không hỗ trợ: {str(body.get('service'))[:64]}")
        username, password, unit = body.get("username"), body.get("password"), body.get("madonvi")
        if not isinstance(unit, str) or not unit:
            return error(f"madonvi: {rules.MISSING}")
        if not (
            isinstance(username, str)
            and isinstance(password, str)
            and hmac.compare_digest(username.encode(), self.config.username.encode())
            and hmac.compare_digest(password.encode(), self.config.password.encode())
        ):
            return error("Sai tài khoản hoặc mật khẩu")
        token = secrets.token_urlsafe(32)
        self._sessions[token] = (self.clock() + self.config.session_ttl_s, unit)
        self.stats.logins += 1
        answer: dict[str, Any] = {"error_code": 0, "session": token}
        if self.config.login_returns_expiry:
            answer["expires_in"] = int(self.config.session_ttl_s)
        return Reply(200, answer)

    def _call(self, body: dict[str, Any]) -> Reply:
        service = body.get("service")
        if not isinstance(service, str) or not service:
            return error(f"service: {rules.MISSING}")
        refusal = self._session_refusal(body)
        if refusal is not None:
            return refusal
        handler = self._services.get(service)
        if handler is None:
            return error(f"Dịch vụ không hỗ trợ: {service[:64]}")
        remaining, error_code, message, only = self._reject
        if remaining and (service == only or (only is None and service in WRITE_SERVICES)):
            self._reject = (remaining - 1, error_code, message, only)
            return error(message, error_code)
        return handler(body)

    def _session_refusal(self, body: dict[str, Any]) -> Reply | None:
        token = body.get("session")
        invalid = error(_INVALID_SESSION_MESSAGE, self.config.session_error_code)
        if not isinstance(token, str) or token not in self._sessions:
            return invalid
        expires_at, session_unit = self._sessions[token]
        if self.clock() >= expires_at:
            del self._sessions[token]
            return invalid
        unit = body.get("madonvi")
        if not isinstance(unit, str) or not unit:
            return error(f"madonvi: {rules.MISSING}")
        if self.config.check_madonvi and unit != session_unit:
            return error("madonvi: không khớp với phiên làm việc")
        return None


# HTTP app ---------------------------------------------------------------------------------------


def sandbox_state(app: FastAPI) -> DvcqgSandboxState:
    """The state behind an app made by :func:`create_dvcqg_sandbox`."""
    state: DvcqgSandboxState = app.state.dvcqg_sandbox
    return state


def create_dvcqg_sandbox(
    config: DvcqgSandboxConfig | None = None,
    *,
    state: DvcqgSandboxState | None = None,
    clock: Callable[[], float] | None = None,
) -> FastAPI:
    """Build the simulator's ASGI app; reach its state with :func:`sandbox_state`.

    Pass ``state`` to share one portal between apps (``config`` and ``clock`` are then ignored), or
    ``clock`` (epoch seconds) to drive session expiry without sleeping. Never mount it in the hub.
    """
    portal = state or DvcqgSandboxState(config, clock=clock)
    app = FastAPI(title="DVCQG sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.dvcqg_sandbox = portal

    async def answer(request: Request, endpoint: Literal["login", "service"]) -> Response:
        raw = await request.body()
        if portal.latency_ms:
            await asyncio.sleep(portal.latency_ms / 1000)
        reply = portal.serve(endpoint, request.headers.get("dstcode"), raw)
        return Response(orjson.dumps(reply.body), status_code=reply.status, media_type="application/json")

    async def login(request: Request) -> Response:
        return await answer(request, "login")

    async def service(request: Request) -> Response:
        return await answer(request, "service")

    # Plain Starlette routes: the hot path skips FastAPI's dependency solving and body models.
    for path in ("/mapi/login", "/login"):
        app.add_route(path, login, methods=["POST"], include_in_schema=False)
    for path in ("/mapi/g", "/"):
        app.add_route(path, service, methods=["POST"], include_in_schema=False)

    controls = control_router(
        {
            "down": portal.set_down,
            "slow": portal.set_latency,
            "fail_next": portal.fail_next,
            "reject_next": portal.reject_next,
            "duplicate": portal.set_duplicate,
            "expire_sessions": portal.expire_sessions,
            "reset": portal.reset,
        },
        loopback_only=portal.config.controls_loopback_only,
        answer=portal.faults_json,
    )

    # Inspection runs on the event loop (async), never beside a request mutating the store.
    @controls.get("/dossiers")
    async def dossiers() -> Response:
        view = {code: record.as_json() for code, record in list(portal.dossiers.items())}
        return Response(orjson.dumps(view), media_type="application/json")

    @controls.get("/dossiers/{code}")
    async def dossier(code: str) -> Response:
        record = portal.dossier(code)
        if record is None:
            raise HTTPException(404, "no such dossier in the sandbox")
        return Response(orjson.dumps(record.as_json(with_history=True)), media_type="application/json")

    @controls.get("/stats")
    async def stats() -> dict[str, Any]:
        return portal.stats_json()

    app.include_router(controls)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the simulator under uvicorn: ``python -m lienthong.connectors.dvcqg.sandbox --port 8701``."""
    import uvicorn

    parser = argparse.ArgumentParser(description="DVCQG dossier-sync simulator (sandbox).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--session-ttl-s", type=float, default=1800.0)
    parser.add_argument("--exists-error-code", type=int, choices=(3, -3), default=3)
    args = parser.parse_args(argv)
    config = DvcqgSandboxConfig(
        latency_ms=args.latency_ms, session_ttl_s=args.session_ttl_s, exists_error_code=args.exists_error_code
    )
    uvicorn.run(create_dvcqg_sandbox(config), host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
