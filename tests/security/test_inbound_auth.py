"""Inbound routes refuse callers without the configured bearer token (each test fails if the check is off)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from typer.testing import CliRunner

from lienthong.bus.publisher import BusPublisher
from lienthong.cli import app
from lienthong.connectors.dvcqg.routes import router as dvcqg_router
from lienthong.connectors.onestop.routes import router as onestop_router
from lienthong.connectors.onestop.settings import OnestopSettings
from lienthong.settings import Settings


def client_for(api: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test")


async def test_dvcqg_push_without_the_token_is_refused_before_anything_is_read(tmp_path) -> None:
    api = FastAPI()
    api.include_router(dvcqg_router(BusPublisher(Settings(state_dir=tmp_path)), token="s3cret"))
    async with client_for(api) as client:
        none = await client.post("/dvcqg/push", content=b'{"service": "NhanThongBaoThueDat", "data": []}')
        wrong = await client.post("/dvcqg/push", content=b"{}", headers={"Authorization": "Bearer nope"})
    assert none.status_code == 401
    assert wrong.status_code == 401
    assert none.json()["error_code"] == -1


async def test_onestop_webhook_without_the_token_is_refused(tmp_path) -> None:
    api = FastAPI()
    api.include_router(onestop_router(BusPublisher(Settings(state_dir=tmp_path)), OnestopSettings(webhook_token="t0k")))
    async with client_for(api) as client:
        reply = await client.post("/onestop/dossier-events", content=b"{}")
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"


def test_api_refuses_to_listen_beyond_loopback_without_tokens(monkeypatch) -> None:
    monkeypatch.delenv("LIENTHONG_ONESTOP_WEBHOOK_TOKEN", raising=False)
    monkeypatch.delenv("LIENTHONG_DVCQG_PUSH_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["api", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "LIENTHONG_ONESTOP_WEBHOOK_TOKEN" in " ".join(result.output.split())
