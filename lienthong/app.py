"""Composition root: builds the ASGI app and the workers from settings."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lienthong import __version__
from lienthong.audit.writer import AuditWriter
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.topics import asyncapi_document, create_topics
from lienthong.bus.worker import Flow, Worker
from lienthong.logging import configure_logging, get_logger
from lienthong.settings import Settings

log = get_logger("lienthong.app")


def create_app(settings: Settings, *, ready: Callable[[], bool] = lambda: True) -> FastAPI:
    """The one ASGI app: health, metrics, AsyncAPI, and the connectors' inbound routes."""
    api = FastAPI(
        title="lienthong",
        version=__version__,
        description="Integration hub of the province: inbound REST/SOAP for the one-stop system, DVCQG, "
        "the payment platform and ministries. Topics are documented at /asyncapi.json.",
    )

    @api.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        # Refuse oversize bodies before anything parses them (XML bombs, memory exhaustion).
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            return JSONResponse({"detail": f"body larger than {settings.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @api.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @api.get("/readyz", tags=["ops"])
    async def readyz() -> Response:
        """Ready when the bus producer and audit store are up."""
        ok = ready()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @api.get("/metrics", tags=["ops"])
    async def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @api.get("/asyncapi.json", tags=["ops"])
    async def asyncapi() -> dict[str, Any]:
        """AsyncAPI 3.0 document of the Kafka topics."""
        return asyncapi_document(settings.bootstrap_servers)

    return api


async def build_flows(
    settings: Settings, names: list[str], *, selftest_peer: str | None, idempotency: IdempotencyStore
) -> list[Flow]:
    """The flows named, wired to their handlers."""
    from lienthong.bus.selftest import TOPIC, SelfTestHandler

    flows: list[Flow] = []
    for name in names:
        if name == "selftest":
            handler = SelfTestHandler(peer_url=selftest_peer, idempotency=idempotency)
            flows.append(Flow(name="selftest", topic=TOPIC, handler=handler, peer="selftest-peer"))
        else:
            raise ValueError(f"unknown flow {name!r}; known: selftest")
    return flows


async def run_workers(settings: Settings, names: list[str], *, selftest_peer: str | None = None) -> None:
    """Run the named flows until SIGINT/SIGTERM; each worker finishes its batch and commits first."""
    configure_logging(settings.log_format, settings.log_level)
    await create_topics(settings.bootstrap_servers, partitions=settings.partitions,
                        replication_factor=settings.replication_factor)  # fmt: skip
    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn(), batch_max=settings.audit_batch_max,
                                       encryption_key=settings.audit_encryption_key)  # fmt: skip
    idem = IdempotencyStore(settings.resolved_idempotency_dsn())
    await idem.open()
    workers = [Worker(f, settings, audit) for f in await build_flows(settings, names, selftest_peer=selftest_peer,
                                                                      idempotency=idem)]  # fmt: skip
    for w in workers:
        await w.start()
    loop = asyncio.get_running_loop()

    def shutdown() -> None:
        for w in workers:
            w.request_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown)
    log.info("workers running", flows=names)
    try:
        await asyncio.gather(*(w.run() for w in workers))
    finally:
        await audit.close()
        await idem.close()


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
