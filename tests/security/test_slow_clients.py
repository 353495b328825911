"""Clients that drip bytes are cut by the server's deadlines: headers (connection closed), body (408)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from lienthong.connectors.inbound import InboundRefusal, InboundRoute
from lienthong.testing import ServedApp


class Ping(BaseModel):
    n: int


def app() -> FastAPI:
    def render(refusal: InboundRefusal) -> JSONResponse:
        return JSONResponse({"detail": refusal.detail}, status_code=refusal.status)

    router = APIRouter(route_class=InboundRoute.for_renderer(render))

    @router.post("/ping")
    async def ping(body: Ping) -> dict[str, int]:
        return {"n": body.n}

    api = FastAPI()
    api.include_router(router)
    return api


async def test_a_client_dripping_its_headers_is_disconnected() -> None:
    async with ServedApp(app(), header_timeout_s=0.5) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(b"POST /ping HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        await writer.drain()
        # The server closes the connection: reading reaches EOF well before this test's own limit.
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""
        writer.close()


async def test_a_client_dripping_its_body_gets_408() -> None:
    async with ServedApp(app(), header_timeout_s=5.0, body_timeout_s=0.5) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{")
        await writer.drain()  # 1 of 9 body bytes, then nothing
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        assert status_line.split(b" ")[1] == b"408"
        rest = await asyncio.wait_for(reader.read(), timeout=5)  # then the server closes the connection
        assert rest.endswith(b'{"detail": "the body did not arrive in time"}\n')
        writer.close()


async def test_a_prompt_client_is_served() -> None:
    async with ServedApp(app(), header_timeout_s=0.5, body_timeout_s=0.5) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        body = b'{"n": 7}'
        writer.write(b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        assert status_line.split(b" ")[1] == b"200"
        writer.close()
