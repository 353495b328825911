"""Structured logging: one structlog pipeline for lienthong's own loggers AND every stdlib logger (uvicorn
and its access log, aiokafka, SQLAlchemy...): JSON lines when not on a terminal, the logger name on every
line, the request's or record's correlation and trace ids where one is bound, query strings and personal
data masked as the last steps before rendering.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import structlog

from lienthong.audit.redact import redact

_QUERY_VALUE = re.compile(r"(?<=[?&;])([^=&;\s\"'#?]+)=([^&;\s\"'#]*)")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
STDLIB_CHATTY = {"aiokafka": logging.WARNING, "sqlalchemy": logging.WARNING, "asyncio": logging.WARNING}
"""Third-party loggers kept at WARNING whatever LIENTHONG_LOG_LEVEL says (their INFO is per connection)."""


def mask_query(text: str) -> str:
    """Every `name=value` of a query string in `text` as `name=***` (values can be IDs, phones, tokens)."""
    return _QUERY_VALUE.sub(lambda m: f"{m.group(1)}=***", text)


def mask_query_strings(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: query-string values masked in every text field (URLs, access-log lines)."""
    for key, value in list(event_dict.items()):
        if isinstance(value, str) and "=" in value and ("?" in value or "&" in value):
            event_dict[key] = mask_query(value)
    return event_dict


def mask_personal_data(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: the last step before rendering, so nothing bypasses it."""
    return redact(dict(event_dict))


def _foreign_fields(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """A stdlib record's positional arguments dropped (its message is already formatted), and uvicorn's
    access lines split into fields: client, method, path (query values masked), status."""
    args = event_dict.pop("positional_args", None)
    record = event_dict.get("_record")
    if record is not None and record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        client, method, path, version, status = args
        event_dict["event"] = "http request"
        event_dict.update(client=str(client), method=str(method), path=mask_query(str(path)),
                          http_version=str(version), status=status)  # fmt: skip
    return event_dict


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """Configure logging once for the process. `fmt`: auto (JSON unless stderr is a terminal), json, console.

    Safe to call again (tests, `lienthong api` after uvicorn set up its own handlers): the root handler is
    replaced and uvicorn's loggers are pointed back at it.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _foreign_fields],
        pass_foreign_args=True,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_query_strings,
            mask_personal_data,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.access"):
        log = logging.getLogger(name)
        log.handlers = []
        log.propagate = True
        log.setLevel(logging.NOTSET)
    for name, floor in STDLIB_CHATTY.items():
        logging.getLogger(name).setLevel(max(floor, numeric))


def get_logger(name: str) -> Any:
    """A bound structlog logger; bind `correlation_id` and `dossier_code` per message."""
    return structlog.get_logger(name)


def trace_id_of(traceparent: str) -> str:
    """The trace id of a W3C `traceparent`, or empty when it is not one."""
    m = _TRACEPARENT.fullmatch(traceparent.strip().lower()) if traceparent else None
    return m.group(1) if m else ""


@contextlib.contextmanager
def bound_record(correlation_id: str = "", traceparent: str = "", **extra: str) -> Iterator[None]:
    """Bind a record's correlation id and trace id (and e.g. `dossier_code`) to every log line inside."""
    values = {"correlation_id": correlation_id, "trace_id": trace_id_of(traceparent), **extra}
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in values.items() if v}):
        yield


def request_ids(headers: Mapping[str, str]) -> dict[str, str]:
    """Correlation id (`X-Correlation-Id` when well-formed, else a new one) and trace id of a request."""
    given = headers.get("x-correlation-id", "")
    correlation = given if _SAFE_ID.fullmatch(given) else str(uuid.uuid4())
    ids = {"correlation_id": correlation}
    trace = trace_id_of(headers.get("traceparent", ""))
    if trace:
        ids["trace_id"] = trace
    return ids


_log = structlog.get_logger("lienthong.http")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObserveRequests:
    """ASGI middleware (outermost of the app): per-route request counter and latency histogram,
    request-scoped log context (correlation and trace ids, also on uvicorn's access line), the correlation
    id echoed as `X-Correlation-Id`, and a client that disconnects mid-body logged as such instead of an
    unhandled traceback.

    The route label is the matched route's template (`POST /dvcqg/push`), never the raw path, so labels
    stay bounded and carry no personal data; requests matching no route count as `unmatched`.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """Observe one HTTP request; other ASGI traffic (lifespan) passes through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.requests import ClientDisconnect

        from lienthong import metrics

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        ids = request_ids(headers)
        started = time.perf_counter()
        status = 500

        async def send_observed(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []),
                                      (b"x-correlation-id", ids["correlation_id"].encode())]  # fmt: skip
            await send(message)

        with structlog.contextvars.bound_contextvars(**ids):
            try:
                await self.app(scope, receive, send_observed)
            except ClientDisconnect:
                status = 499  # nginx's "client closed request": nobody is left to answer
                _log.info("client disconnected before sending the whole body", method=scope.get("method", ""))
            finally:
                path = getattr(scope.get("route"), "path", None)
                method = scope.get("method", "")
                method = method if method in _METHODS else "OTHER"  # a client picks the method: keep labels bounded
                label = f"{method} {path}" if path else "unmatched"
                metrics.HTTP_INBOUND.labels(label, str(status)).inc()
                metrics.HTTP_LATENCY.labels(label).observe(time.perf_counter() - started)


__all__ = [
    "ObserveRequests",
    "bound_record",
    "configure_logging",
    "get_logger",
    "mask_personal_data",
    "mask_query",
    "mask_query_strings",
    "request_ids",
    "trace_id_of",
]  # fmt: skip
