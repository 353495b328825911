"""Composition root: builds the ASGI app and the workers from settings."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lienthong import __version__
from lienthong.audit.writer import AuditWriter
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.topics import asyncapi_document, create_topics, payload_schemas
from lienthong.bus.worker import Flow, Worker
from lienthong.connectors.base import FlowContext, FlowSpec
from lienthong.connectors.registry import connector_flows, connectors
from lienthong.errors import ConfigurationError
from lienthong.logging import ObserveRequests, configure_logging, get_logger
from lienthong.settings import Settings

log = get_logger("lienthong.app")

Close = Callable[[], Awaitable[None]]


async def _build_kpi(settings: Settings, ctx: FlowContext) -> tuple[Flow, Close]:
    from lienthong.kpi.worker import build_kpi_flow

    del ctx
    return await build_kpi_flow(settings)


CORE_FLOWS: dict[str, FlowSpec] = {
    "kpi": FlowSpec(
        name="kpi",
        topic="dossier.events",
        peer="-",
        description="dossier.events -> the KPI projection (reports, overdue list)",
        build=_build_kpi,
        default=True,
    ),
}
"""Flows of the core itself; connectors add theirs through the registry. (`selftest` is wired apart: it
needs the URL of its recording peer.)"""


def all_flows() -> dict[str, FlowSpec]:
    """Every flow `lienthong run --flows` knows: the core's and each registered connector's."""
    flows = dict(CORE_FLOWS)
    for name, spec in connector_flows().items():
        if name in flows:
            raise ConfigurationError(f"connector flow {name!r} shadows a core flow")
        flows[name] = spec
    return flows


def default_flows() -> list[str]:
    """The flows `lienthong run` starts when `--flows` is not given."""
    return [name for name, spec in all_flows().items() if spec.default]


class BodySizeLimit:
    """Every route's body cap, before anything parses it (XML bombs, memory exhaustion).

    A declared Content-Length over the cap is a JSON 413 at once. Without one (chunked), the bytes actually
    received are counted and the read that crosses the cap raises `HTTPException(413)`: the inbound kit and
    the SOAP endpoint render it in their own formats, any other route answers FastAPI's JSON 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer or wrap `receive`; pass everything else through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                reply = JSONResponse({"detail": f"body larger than {self.max_bytes} bytes"}, status_code=413)
                await reply(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, f"body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)


def create_app(settings: Settings, *, publisher: BusPublisher | None = None, routes: bool = True) -> FastAPI:
    """The one ASGI app: health, metrics, AsyncAPI and, with `routes`, the connectors' inbound routes.

    Inbound routes publish through a `BusPublisher`: the given one (its owner starts and closes it) or
    one this app opens at start-up and closes at shutdown.
    """
    own = publisher is None and routes
    bus = publisher or (BusPublisher(settings) if routes else None)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if own and bus is not None:
            await bus.start()
        try:
            yield
        finally:
            if own and bus is not None:
                await bus.close()

    api = FastAPI(
        title="lienthong",
        version=__version__,
        description="Integration hub of the province: inbound REST for the one-stop system and DVCQG, "
        "health and metrics. Kafka topics are documented at /asyncapi.json.",
        lifespan=lifespan,
    )

    api.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost: per-route counters and latency, request-scoped log context (correlation and trace ids),
    # and a client that hangs up mid-body is a log line, not an unhandled traceback.
    api.add_middleware(ObserveRequests)

    @api.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["ops"])
    async def readyz() -> Response:
        """Ready when the bus producer and audit store are up (always, without inbound routes)."""
        ok = bus is None or bus.started
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @api.get(
        "/metrics",
        tags=["ops"],
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                         "description": "Prometheus text exposition format"}},
    )  # fmt: skip
    async def metrics_endpoint() -> Response:
        """Prometheus metrics (text exposition format)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @api.get("/schemas", tags=["ops"])
    async def schema_index() -> dict[str, str]:
        """JSON Schemas of the topics' payloads, by name (what records' `ce_dataschema` points at)."""
        return {name: f"/schemas/{name}.json" for name in payload_schemas()}

    @api.get("/schemas/{name}.json", tags=["ops"], responses={404: {"description": "No such payload schema"}})
    async def schema(name: str) -> JSONResponse:
        """The JSON Schema of one payload model (draft 2020-12, as pydantic writes it)."""
        found = payload_schemas().get(name)
        if found is None:
            return JSONResponse({"detail": "no such schema; GET /schemas lists them"}, status_code=404)
        return JSONResponse(found, media_type="application/schema+json")

    @api.get("/asyncapi.json", tags=["ops"])
    async def asyncapi() -> dict[str, Any]:
        """AsyncAPI 3.0 document of the Kafka topics."""
        return asyncapi_document(settings.bootstrap_servers)

    if bus is not None:
        for c in connectors():
            for r in c.routers(bus):
                api.include_router(r)
    return api


async def build_flow(
    settings: Settings, name: str, *, ctx: FlowContext, selftest_peer: str | None = None
) -> tuple[Flow, Close]:
    """One named flow wired to its handler, and the function that closes what it opened."""
    if name == "selftest":
        from lienthong.bus.selftest import TOPIC, SelfTestHandler

        handler = SelfTestHandler(peer_url=selftest_peer, idempotency=ctx.idempotency)
        return Flow(name="selftest", topic=TOPIC, handler=handler, peer="selftest-peer"), handler.close
    flows = all_flows()
    spec = flows.get(name)
    if spec is None:
        raise ConfigurationError(f"unknown flow {name!r}; known: {', '.join([*flows, 'selftest'])}")
    return await spec.build(settings, ctx)


async def run_workers(
    settings: Settings, names: list[str], *, selftest_peer: str | None = None, sla_watch: bool = False
) -> None:
    """Run the named flows (and the SLA watch) until SIGINT/SIGTERM; each worker finishes its batch first."""
    configure_logging(settings.log_format, settings.log_level)
    await create_topics(settings.bootstrap_servers, partitions=settings.partitions,
                        replication_factor=settings.replication_factor)  # fmt: skip
    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn(), batch_max=settings.audit_batch_max,
                                       encryption_key=settings.audit_encryption_key)  # fmt: skip
    idem = IdempotencyStore(settings.resolved_idempotency_dsn())
    await idem.open()
    ctx = FlowContext(idempotency=idem, audit=audit)
    closers: list[Close] = []
    workers: list[Worker] = []
    for name in names:
        flow, close = await build_flow(settings, name, ctx=ctx, selftest_peer=selftest_peer)
        closers.append(close)
        workers.append(Worker(flow, settings, audit))
    extra: list[Awaitable[None]] = []
    watch = None
    if sla_watch:
        from lienthong.kpi.sla import build_sla_watch

        watch, close_watch = await build_sla_watch(settings)
        closers.append(close_watch)
        extra.append(watch.run(60))
    for w in workers:
        await w.start()
    tasks: list[asyncio.Future[None]] = []
    closers.extend(await _observe_workers(settings, workers, ready=lambda: bool(tasks) and not any(
        t.done() for t in tasks)))  # fmt: skip
    loop = asyncio.get_running_loop()

    def shutdown() -> None:
        for w in workers:
            w.request_stop()
        if watch is not None:
            watch.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown)
    log.info("workers running", flows=names, sla_watch=sla_watch)
    tasks.extend(asyncio.ensure_future(t) for t in (*(w.run() for w in workers), *extra))
    try:
        # One worker failing stops the others cleanly (batch finished, committed) before anything they
        # use is closed; the process then exits non-zero for its supervisor to restart it.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        if any(t.exception() for t in done if not t.cancelled()):
            shutdown()
        await asyncio.gather(*tasks)
    finally:
        shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in closers:
            await close()
        await audit.close()
        await idem.close()


async def _observe_workers(settings: Settings, workers: list[Worker], *, ready: Callable[[], bool]) -> list[Close]:
    """`lienthong run`'s /metrics, /healthz, /readyz on LIENTHONG_METRICS_PORT (0 = none) and the DLQ and
    retry-topic depth gauges; returns what stops them."""
    from lienthong import metrics

    if not settings.metrics_port:
        return []
    try:
        stop_http = await metrics.serve_monitor(settings.http_host, settings.metrics_port, ready)
    except ConfigurationError as exc:
        # Several worker processes on one host (bench, a workstation): the first serves, the others say so.
        log.warning("not serving /metrics from this worker process", reason=str(exc))
        return []
    retry = {w.retry_topic: w.flow.group_id or f"{settings.consumer_group}.{w.flow.name}" for w in workers}
    depth = asyncio.ensure_future(metrics.watch_topic_depths(
        settings.bootstrap_servers, sorted({w.dlq_topic for w in workers}), retry))  # fmt: skip

    async def stop_depth() -> None:
        depth.cancel()
        await asyncio.gather(depth, return_exceptions=True)

    return [stop_depth, stop_http]


async def run_selftest_worker(settings: Settings, topic: str, peer_url: str) -> None:
    """One self-test worker on `topic` (outputs to `<topic>.out`) until SIGTERM; used by fault tests."""
    from lienthong.bus.selftest import SelfTestHandler

    configure_logging(settings.log_format, settings.log_level)
    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn())
    idem = IdempotencyStore(settings.resolved_idempotency_dsn())
    await idem.open()
    handler = SelfTestHandler(peer_url=peer_url, idempotency=idem, out_topic=f"{topic}.out")
    worker = Worker(Flow("selftest", topic, handler, peer="selftest-peer"), settings, audit)
    await worker.start()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.request_stop)
    try:
        await worker.run()
    finally:
        await handler.close()
        await audit.close()
        await idem.close()


def asgi_app() -> FastAPI:
    """Factory for `uvicorn --factory lienthong.app:asgi_app` (settings from the environment)."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
