"""uvicorn's HTTP protocol with header and body deadlines: a client that drips its request is cut.

uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) but not a request whose headers or body
arrive one byte at a time (slowloris). `guarded_protocol(header_s, body_s)` returns the httptools protocol
class with two timers: one armed when a connection opens and when a request starts, cancelled once the
headers are complete (when it fires, the connection is closed); one armed then, cancelled once the body is
complete (when it fires, the client gets 408 and the connection is closed). Timers on the event loop cost
far less per request than a deadline around every body read in the application.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lienthong.logging import get_logger

log = get_logger("lienthong.http")


_BODY_408 = b'{"detail": "the body did not arrive in time"}\n'
_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_BODY_408), _BODY_408)
)


def guarded_protocol(header_timeout_s: float, body_timeout_s: float = 10.0) -> type[HttpToolsProtocol]:
    """The httptools protocol class cutting requests whose headers take over `header_timeout_s` (closed) or
    whose body takes over `body_timeout_s` after them (408, closed)."""

    class HeaderDeadlineProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None

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

        def _body_too_slow(self) -> None:
            self._body_timer = None
            log.info("request body too slow: 408, connection closed", timeout_s=body_timeout_s)
            cycle = self.cycle
            if cycle is not None and not cycle.response_started and not self.transport.is_closing():
                cycle.response_started = cycle.response_complete = True
                self.transport.write(_TIMEOUT_408)
            self.transport.close()

        def _stop_body_timer(self) -> None:
            if self._body_timer is not None:
                self._body_timer.cancel()
                self._body_timer = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            self._stop_body_timer()
            self._body_timer = self.loop.call_later(body_timeout_s, self._body_too_slow)

        def on_message_complete(self) -> None:
            self._stop_body_timer()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            self._stop_body_timer()
            super().connection_lost(exc)

    return HeaderDeadlineProtocol


def uvicorn_options(header_timeout_s: float, body_timeout_s: float = 10.0) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config` that every lienthong server uses."""
    return {"http": guarded_protocol(header_timeout_s, body_timeout_s), "timeout_keep_alive": 5}


__all__ = ["guarded_protocol", "uvicorn_options"]
