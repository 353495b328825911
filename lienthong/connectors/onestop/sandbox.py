"""A simulator of the provincial one-stop system's REST API, the one lienthong delivers DVCQG notices to.

`POST /api/notices` with an `Idempotency-Key` header and the JSON of `notice_to_onestop`. A new key is
stored and answered `{"accepted": true, "id": ...}`; a repeated key gets its first answer again and
changes nothing. Missing key or a malformed body: HTTP 400. Fault controls and inspection under
`/_sandbox/` (loopback only), as in the DVCQG sandbox: `POST /_sandbox/<control>` calls the
`OnestopSandboxState` method of that name (`down`, `slow`, `fail_next`, `reject_next`, `reset`) with the
JSON body as keyword arguments; `GET /_sandbox/notices` and `/_sandbox/stats` inspect.

The system of record that emits dossier events (the workload driver) is `lienthong.demo.lifecycle`.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from lienthong.connectors.sandbox_controls import control_router

# The REST API -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedNotice:
    """A notice the simulated system accepted."""

    key: str
    """The `Idempotency-Key` it came with."""
    body: dict[str, Any]
    """The JSON body as received."""
    received_at: float
    """Epoch seconds of its first arrival."""


class OnestopSandboxState:
    """The simulated API: accepted notices by key, fault switches and counters.

    `serve` never awaits, so a call is atomic on the event loop; a lock also makes the controls safe
    from a test thread while uvicorn serves from another.
    """

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        """An empty system; `clock` returns epoch seconds."""
        self.clock = clock or time.time
        self._lock = threading.Lock()
        self._init_state()

    def _init_state(self) -> None:
        self.notices: dict[str, ReceivedNotice] = {}
        self._replies: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.duplicates = 0
        self.refused = 0
        self.served_5xx = 0
        self.down = False
        self.latency_ms = 0
        self._fail = (0, 500)
        self._reject = (0, "")

    # Fault controls (also POST /_sandbox/<name> with these keyword arguments as JSON) --------------

    def set_down(self, down: bool = True) -> None:
        """While down, every call answers HTTP 503."""
        with self._lock:
            self.down = bool(down)

    def set_latency(self, latency_ms: int) -> None:
        """Delay every call by `latency_ms` milliseconds (0 turns it off)."""
        if not isinstance(latency_ms, int) or latency_ms < 0:
            raise ValueError("latency_ms must be an integer >= 0")
        with self._lock:
            self.latency_ms = latency_ms

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next `n` calls with HTTP `status` (5xx or 429), storing nothing."""
        if (
            not isinstance(n, int)
            or n < 0
            or not isinstance(status, int)
            or not (status == 429 or 500 <= status <= 599)
        ):
            raise ValueError("n must be an integer >= 0 and status 429 or 5xx")
        with self._lock:
            self._fail = (n, status)

    def reject_next(self, n: int, reason: str = "Thông báo không hợp lệ (mô phỏng)") -> None:
        """Refuse the next `n` new notices: HTTP 200 `{"accepted": false, "reason"}`; the refusal is
        the key's answer from then on, like any first answer."""
        if not isinstance(n, int) or n < 0:
            raise ValueError("n must be an integer >= 0")
        with self._lock:
            self._reject = (n, str(reason))

    def reset(self) -> None:
        """Drop every notice, counter and fault switch."""
        with self._lock:
            self._init_state()

    # Protocol -------------------------------------------------------------------------------------

    def serve(self, key: str | None, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one `POST /api/notices` (HTTP status, JSON body); added latency is the caller's."""
        with self._lock:
            self.calls += 1
            if self.down:
                self.served_5xx += 1
                return 503, {"accepted": False, "reason": "Hệ thống đang bảo trì (sandbox down)"}
            remaining, status = self._fail
            if remaining:
                self._fail = (remaining - 1, status)
                self.served_5xx += status >= 500
                return status, {"accepted": False, "reason": f"Lỗi máy chủ mô phỏng (HTTP {status})"}
            if not key:
                return 400, {"accepted": False, "reason": "Idempotency-Key header is required"}
            if key in self._replies:
                self.duplicates += 1
                return 200, self._replies[key]
            problem, body = _read_notice(raw)
            if body is None:
                return 400, {"accepted": False, "reason": problem}
            reject_n, reason = self._reject
            if reject_n:
                self._reject = (reject_n - 1, reason)
                self.refused += 1
                reply: dict[str, Any] = {"accepted": False, "reason": reason, "code": "REFUSED"}
            else:
                self.notices[key] = ReceivedNotice(key, body, self.clock())
                reply = {"accepted": True, "id": f"TB-{len(self.notices):06d}"}
            self._replies[key] = reply
            return 200, reply

    def stats_json(self) -> dict[str, Any]:
        """Counters and fault switches, as `GET /_sandbox/stats` shows them."""
        return {
            "notices": len(self.notices),
            "calls": self.calls,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "served_5xx": self.served_5xx,
            "down": self.down,
            "latency_ms": self.latency_ms,
            "fail_next": {"n": self._fail[0], "status": self._fail[1]},
            "reject_next": self._reject[0],
        }


def _read_notice(raw: bytes) -> tuple[str, dict[str, Any] | None]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "the body is not JSON", None
    if not isinstance(body, dict):
        return "the body must be a JSON object", None
    if not isinstance(body.get("service"), str) or not isinstance(body.get("kind"), str):
        return "service and kind must be strings", None
    data = body.get("data")
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        return "data must be a list of objects", None
    return "", body


def sandbox_state(app: FastAPI) -> OnestopSandboxState:
    """The state behind an app made by `create_onestop_sandbox`."""
    state: OnestopSandboxState = app.state.onestop_sandbox
    return state


def create_onestop_sandbox(state: OnestopSandboxState | None = None, *, controls_loopback_only: bool = True) -> FastAPI:
    """The simulated one-stop REST API as an ASGI app; reach its state with `sandbox_state`.

    Never mount it in the hub.
    """
    system = state or OnestopSandboxState()
    app = FastAPI(title="One-stop system sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.onestop_sandbox = system

    async def notices(request: Request) -> Response:
        raw = await request.body()
        if system.latency_ms:
            await asyncio.sleep(system.latency_ms / 1000)
        status, body = system.serve(request.headers.get("idempotency-key"), raw)
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    app.add_route("/api/notices", notices, methods=["POST"], include_in_schema=False)

    controls = control_router(
        {
            "down": system.set_down,
            "slow": system.set_latency,
            "fail_next": system.fail_next,
            "reject_next": system.reject_next,
            "reset": system.reset,
        },
        loopback_only=controls_loopback_only,
        answer=system.stats_json,
    )

    @controls.get("/notices")
    async def received() -> Response:
        view = {n.key: {"body": n.body, "received_at": n.received_at} for n in list(system.notices.values())}
        return Response(orjson.dumps(view), media_type="application/json")

    @controls.get("/stats")
    async def stats() -> dict[str, Any]:
        return system.stats_json()

    app.include_router(controls)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the simulated REST API under uvicorn: `python -m lienthong.connectors.onestop.sandbox --port 8092`."""
    import uvicorn

    parser = argparse.ArgumentParser(description="One-stop system REST API simulator (sandbox).")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=8092)
    args = parser.parse_args(argv)
    uvicorn.run(create_onestop_sandbox(), host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
