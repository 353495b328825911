"""The DVCQG contract as public implementations use it (issue 7): paths are settings, `TraCuuHoSo` sends
`mahoso` and reads a list, any authentication failure re-logs in, a session without expiry is renewed."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest

from lienthong.connectors.dvcqg.client import DvcqgClient, Sent
from lienthong.connectors.dvcqg.sandbox import DvcqgSandboxConfig, create_dvcqg_sandbox, sandbox_state
from lienthong.connectors.dvcqg.settings import DSTCODE, DvcqgSettings
from lienthong.demo.workload import synthetic_dossier
from lienthong.errors import TransientError
from lienthong.mappings.dvcqg import dossier_to_dvcqg
from lienthong.mappings.wire import VN_TZ

CODE = "000.00.12.H52-250703-0001"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def item() -> dict[str, Any]:
    d = synthetic_dossier(random.Random(1), agency_code="000.00.12.H52",
                          received_at=datetime(2025, 7, 3, 9, tzinfo=VN_TZ), seq=1, channel="counter")  # fmt: skip
    return dossier_to_dvcqg(d)


class Recorder:
    """A scripted portal peer: records each request, answers from `answers` (by path) in turn."""

    def __init__(self, answers: dict[str, list[tuple[int, dict[str, Any]]]]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.answers[request.url.path]
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(status, content=orjson.dumps(body))


def login_ok(**extra: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"error_code": 0, "session": "s1", **extra}


async def test_login_and_service_paths_follow_public_code_by_default() -> None:
    peer = Recorder({"/mapi/login": [login_ok(expires_in=600)], "/mapi/g": [(200, {"error_code": 0, "result": []})]})
    client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test"), transport=httpx.MockTransport(peer))
    assert await client.tra_cuu(CODE) is None
    await client.close()
    login, lookup = peer.requests
    assert login.url.path == "/mapi/login" and login.url.params["dstcode"] == DSTCODE
    assert lookup.url.path == "/mapi/g"
    assert all(r.headers["dstcode"] == DSTCODE for r in peer.requests)


async def test_login_and_service_paths_are_settings() -> None:
    peer = Recorder({"/api/session": [login_ok()], "/api/call": [(200, {"error_code": 0, "data": []})]})
    settings = DvcqgSettings(url="http://dvcqg.test", login_path="/api/session", service_path="/api/call")
    client = DvcqgClient(settings, transport=httpx.MockTransport(peer))
    await client.tra_cuu(CODE)
    await client.close()
    assert [r.url.path for r in peer.requests] == ["/api/session", "/api/call"]


async def test_lookup_sends_lower_case_mahoso() -> None:
    peer = Recorder({"/mapi/login": [login_ok()], "/mapi/g": [(200, {"error_code": 0, "result": []})]})
    client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test"), transport=httpx.MockTransport(peer))
    await client.tra_cuu(CODE)
    await client.close()
    body = orjson.loads(peer.requests[1].content)
    assert body["mahoso"] == CODE and "MaHoSo" not in body


@pytest.mark.parametrize(
    ("reply", "exists"),
    [
        ({"error_code": 0, "result": [{"MaHoSo": CODE, "TrangThaiHoSo": "4"}]}, True),
        ({"error_code": 0, "data": [{"MaHoSo": CODE}]}, True),
        ({"error_code": 0, "data": [{"TrangThaiHoSo": "4"}]}, True),  # no code in the item: still an answer
        ({"error_code": 0, "result": []}, False),
        ({"error_code": 0, "data": None}, False),
        ({"error_code": 0, "result": [{"MaHoSo": "000.00.12.H52-250703-0002"}]}, False),
    ],
)
async def test_lookup_reads_the_list_public_implementations_answer(reply: dict[str, Any], exists: bool) -> None:
    peer = Recorder({"/mapi/login": [login_ok()], "/mapi/g": [(200, reply)]})
    client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test"), transport=httpx.MockTransport(peer))
    found = await client.tra_cuu(CODE)
    await client.close()
    assert (found is not None) is exists


async def test_a_lookup_answer_without_result_or_data_is_never_read_as_missing() -> None:
    peer = Recorder({"/mapi/login": [login_ok()], "/mapi/g": [(200, {"error_code": 0, "message": "OK"})]})
    client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test"), transport=httpx.MockTransport(peer))
    with pytest.raises(TransientError, match="cannot tell"):
        await client.tra_cuu(CODE)
    await client.close()


async def test_the_sandbox_and_the_client_agree_on_the_lookup() -> None:
    for key in ("result", "data"):
        app = create_dvcqg_sandbox(DvcqgSandboxConfig(lookup_reply_key=key))  # type: ignore[arg-type]
        client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test"), transport=httpx.ASGITransport(app=app))
        assert await client.tra_cuu(item()["MaHoSo"]) is None
        await client.dong_bo([item()], is_updating=False)
        found = await client.tra_cuu(item()["MaHoSo"])
        await client.close()
        assert found is not None and found["MaHoSo"] == item()["MaHoSo"]


@pytest.mark.parametrize("session_error_code", [-2, -99, 401])
async def test_any_authentication_failure_logs_in_again_and_resends(session_error_code: int) -> None:
    clock = FakeClock()
    config = DvcqgSandboxConfig(session_error_code=session_error_code if session_error_code != 401 else -2)
    app = create_dvcqg_sandbox(config, clock=clock)
    state = sandbox_state(app)
    if session_error_code == 401:
        peer_app = app

        async def answer_401_once(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/mapi/g" and not calls:
                calls.append(1)
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"{}"})
                return
            await peer_app(scope, receive, send)

        calls: list[int] = []
        transport = httpx.ASGITransport(app=answer_401_once)
    else:
        transport = httpx.ASGITransport(app=app)
    client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test"), transport=transport, clock=clock)
    await client.tra_cuu(CODE)
    state.expire_sessions()
    [result] = await client.dong_bo([item()], is_updating=False)
    await client.close()
    assert isinstance(result, Sent)
    # 401 variant: the first call met HTTP 401 (one more login), then the expired session.
    assert client.logins == (3 if session_error_code == 401 else 2)


async def test_a_session_without_expiry_is_renewed_after_the_configured_age() -> None:
    clock = FakeClock()
    app = create_dvcqg_sandbox(DvcqgSandboxConfig(login_returns_expiry=False, session_ttl_s=10_000), clock=clock)
    client = DvcqgClient(DvcqgSettings(url="http://dvcqg.test", session_max_age_s=600, session_refresh_margin_s=60),
                         transport=httpx.ASGITransport(app=app), clock=clock)  # fmt: skip
    await client.tra_cuu(CODE)
    clock.now += 500
    await client.tra_cuu(CODE)
    assert client.logins == 1
    clock.now += 200
    await client.tra_cuu(CODE)
    await client.close()
    assert client.logins == 2
