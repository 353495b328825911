"""uvicorn's HTTP protocol with a header deadline: a client that drips its request headers is cut.

uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) but not a request whose headers arrive
one byte at a time (slowloris). `guarded_protocol(seconds)` returns the httptools protocol class with a
timer armed when a connection opens and when a request starts, cancelled once the headers are complete;
when it fires first, the connection is closed. Body reads are bounded by the inbound kit
(`lienthong.connectors.inbound`, 408).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lienthong.logging import get_logger

log = get_logger("lienthong.http")


def guarded_protocol(header_timeout_s: float) -> type[HttpToolsProtocol]:
    """The httptools protocol class closing connections whose request headers take over `header_timeout_s`."""

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            log.info("request headers too slow: connection closed", timeout_s=header_timeout_s)
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


def uvicorn_options(header_timeout_s: float) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` that every lienthong server uses."""
    return {"http": guarded_protocol(header_timeout_s), "timeout_keep_alive": 5}


__all__ = ["guarded_protocol", "uvicorn_options"]
