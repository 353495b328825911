"""Prometheus metrics (served at /metrics by `lienthong api` and, on LIENTHONG_METRICS_PORT, by `lienthong run`).

Labels never carry personal data: topics, partitions, consumer groups, peers, route templates, reasons.
Names follow the Prometheus conventions (promtool `check metrics` clean): `_total` counters, base units.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("lienthong_consumed_total", "Records consumed by workers", ["topic"])
PRODUCED = Counter("lienthong_produced_total", "Records published", ["topic"])
RETRIED = Counter("lienthong_retried_total", "Records sent to the retry topic", ["topic"])
DEAD_LETTERED = Counter("lienthong_dead_lettered_total", "Records sent to the DLQ", ["topic", "reason"])
REJECTED = Counter("lienthong_rejected_total", "Business rejections reported back", ["topic"])
AUDIT_APPENDED = Counter("lienthong_audit_appended_total", "Audit records made durable")
AUDIT_LAG = Gauge("lienthong_audit_pending", "Audit entries waiting for their group commit")
CONSUMER_LAG = Gauge(
    "lienthong_consumer_lag", "Highwater minus committed offset, per consumer group and partition",
    ["group", "topic", "partition"],
)  # fmt: skip
CIRCUIT_OPEN = Gauge("lienthong_circuit_open", "1 while a peer's circuit keeps consumers paused", ["peer"])
CIRCUIT_OPEN_SINCE = Gauge(
    "lienthong_circuit_open_since_seconds",
    "Unix time the peer's circuit opened (kept through half-open probes); 0 while closed",
    ["peer"],
)
DLQ_DEPTH = Gauge("lienthong_dlq_depth", "Dead letters kept in a DLQ topic (end minus start offsets)", ["topic"])
RETRY_DEPTH = Gauge(
    "lienthong_retry_depth", "Records waiting in a retry topic (end minus the group's committed offsets)",
    ["group", "topic"],
)  # fmt: skip
PEER_CALLS = Counter("lienthong_peer_calls_total", "Calls to external systems", ["peer", "operation", "result"])
PEER_LATENCY = Histogram("lienthong_peer_call_seconds", "Latency of calls to external systems", ["peer", "operation"])
HTTP_INBOUND = Counter("lienthong_http_inbound_total", "Inbound HTTP requests", ["route", "status"])
HTTP_LATENCY = Histogram(
    "lienthong_http_request_duration_seconds", "Latency of inbound HTTP requests per route", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)  # fmt: skip


_open_since: dict[str, float] = {}


def circuit_state(peer: str, *, open_now: bool) -> None:
    """Record a peer's circuit: `open_since` is set once when it opens and cleared only when it closes."""
    if open_now:
        CIRCUIT_OPEN.labels(peer).set(1)
        if peer not in _open_since:  # the first opening of this outage
            _open_since[peer] = time.time()
            CIRCUIT_OPEN_SINCE.labels(peer).set(_open_since[peer])
    elif peer in _open_since:
        del _open_since[peer]
        CIRCUIT_OPEN.labels(peer).set(0)
        CIRCUIT_OPEN_SINCE.labels(peer).set(0)


async def watch_topic_depths(
    bootstrap: str, dlq_topics: Iterable[str], retry: dict[str, str], *, every_s: float = 15.0
) -> None:
    """Update DLQ depth per DLQ topic and retry depth per (group, retry topic) until cancelled.

    `retry` maps a retry topic to the consumer group that consumes it. Errors (a broker restart) are
    skipped until the next round: these gauges are observations, never a reason to stop workers.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    dlqs = list(dlq_topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        while True:
            # Observation only: a failed round (broker restarting) is simply tried again next time.
            with contextlib.suppress(Exception):
                await _depth_round(consumer, admin, dlqs, retry, TopicPartition)
            await asyncio.sleep(every_s)
    finally:
        await consumer.stop()
        await admin.close()


async def _depth_round(consumer: Any, admin: Any, dlqs: list[str], retry: dict[str, str], tp_of: Any) -> None:
    for topic in dlqs + list(retry):
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic)
        if not parts:
            continue
        tps = [tp_of(topic, p) for p in parts]
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        if topic in retry:
            group = retry[topic]
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            done = {tp: max(starts[tp], committed[tp].offset if tp in committed else 0) for tp in tps}
            RETRY_DEPTH.labels(group, topic).set(sum(max(0, ends[tp] - done[tp]) for tp in tps))
        else:
            DLQ_DEPTH.labels(topic).set(sum(ends[tp] - starts[tp] for tp in tps))


__all__ = [
    "AUDIT_APPENDED", "AUDIT_LAG", "CIRCUIT_OPEN", "CIRCUIT_OPEN_SINCE", "CONSUMED", "CONSUMER_LAG",
    "DEAD_LETTERED", "DLQ_DEPTH", "HTTP_INBOUND", "HTTP_LATENCY", "PEER_CALLS", "PEER_LATENCY", "PRODUCED",
    "REJECTED", "RETRIED", "RETRY_DEPTH", "circuit_state", "monitor_app", "serve_monitor", "watch_topic_depths",
]  # fmt: skip


def monitor_app(ready: Callable[[], bool]) -> Any:
    """The worker process's own small HTTP app: /metrics, /healthz (alive) and /readyz (`ready()`)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ok = ready()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    return Starlette(routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)])


async def serve_monitor(host: str, port: int, ready: Callable[[], bool]) -> Callable[[], Awaitable[None]]:
    """Serve `monitor_app` under uvicorn until the returned function is awaited."""
    import socket

    import uvicorn

    from lienthong.errors import ConfigurationError

    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"LIENTHONG_METRICS_PORT {port} on {host} is not free ({exc.strerror}): set another port, or 0 "
                "to serve no /metrics from this worker process"
            ) from None
    server = uvicorn.Server(uvicorn.Config(monitor_app(ready), host=host, port=port, log_config=None,
                                           access_log=False, lifespan="off"))  # fmt: skip
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no start event
        await asyncio.sleep(0.05)
    if task.done():
        task.result()  # raises: the port is taken, say so at start-up rather than run unobservable

    async def stop() -> None:
        server.should_exit = True
        await task

    return stop
