"""The demo's broker and logging: reuse or start the embedded Kafka, keep logs quiet under progress bars."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rich.console import Console

from lienthong.bus.embedded import EmbeddedKafka
from lienthong.logging import configure_logging
from lienthong.settings import Settings


@asynccontextmanager
async def embedded_broker(settings: Settings, *, use_embedded: bool, console: Console) -> AsyncIterator[Settings]:
    """Settings pointing at a broker: the given bootstrap, a running embedded one, or one started here
    (and stopped on exit)."""
    if not use_embedded:
        yield settings
        return
    found = EmbeddedKafka(settings.state_dir, version=settings.kafka_version)
    kafka: EmbeddedKafka | None = None
    if any(alive for _, alive, _ in found.status()):
        bootstrap = found.bootstrap  # someone's `lienthong broker start`: use it, leave it running
    else:
        kafka = found
        with console.status("starting the embedded Kafka broker (first run fetches it from Maven Central)..."):
            bootstrap = kafka.start()
    try:
        yield settings.model_copy(update={"bootstrap_servers": bootstrap})
    finally:
        if kafka is not None:
            with console.status("stopping the embedded Kafka broker..."):
                kafka.stop()


def quiet_logs(console: Console) -> None:
    """Demo logging: errors only; group-coordinator start-up chatter of a fresh group is not news."""
    configure_logging("console" if console.is_terminal else "json", "ERROR")
    logging.getLogger("aiokafka.consumer.group_coordinator").setLevel(logging.CRITICAL)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
