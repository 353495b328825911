"""Demo parts: each connector beyond the dossier flows adds its own scripted workload to `lienthong demo`.

A part is started before lienthong's API app is built (so it can start its sandbox and point its
connector's settings at it), runs its workload once the API is served, and returns the keys it adds to
the demo's summary. The dossier demo (`lienthong.demo.dossiers`) runs every part in `DEMO_PARTS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console

from lienthong.audit.writer import AuditWriter
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.worker import Worker
from lienthong.settings import Settings


@dataclass
class DemoContext:
    """What the demo shares with its parts."""

    settings: Settings
    """The demo's settings (its own state dir, audit and idempotency stores, consumer group)."""
    audit: AuditWriter
    """The demo's audit writer (verified at the end)."""
    idempotency: IdempotencyStore
    """The demo's idempotency store."""
    publisher: BusPublisher
    """The API app's publisher (producer + audit)."""
    console: Console
    """Where progress goes."""
    api_url: str = ""
    """Base URL of lienthong's API under uvicorn (set once it is served, before `run`)."""
    workers: list[Worker] = field(default_factory=list)
    """Workers a part started; the demo stops them (finishing their batch) before closing stores."""
    part_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    """The `run()` tasks of those workers (awaited after the stop request)."""
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Called after the workers stopped, in order (sandboxes, clients)."""

    async def start_worker(self, worker: Worker) -> None:
        """Start `worker` and run it until the demo ends."""
        await worker.start()
        self.workers.append(worker)
        self.part_tasks.append(asyncio.create_task(worker.run()))


class DemoPart(Protocol):
    """One connector's workload in the demo."""

    name: str
    """Shown in progress lines."""

    async def start(self, ctx: DemoContext) -> None:
        """Start sandboxes and workers (before the API app is built)."""
        ...

    async def run(self, ctx: DemoContext) -> dict[str, Any]:
        """Drive the workload against `ctx.api_url` and wait for its effects; summary keys to add.
        A part that finds something wrong sets `"<name>_ok": False` in what it returns."""
        ...


def demo_parts() -> list[DemoPart]:
    """The parts `lienthong demo` runs besides the dossier flows, in order."""
    from lienthong.demo.lookups import LookupsDemo
    from lienthong.demo.payments import PaymentsDemo

    parts: list[DemoPart] = [PaymentsDemo(), LookupsDemo()]
    return parts


__all__ = ["DemoContext", "DemoPart", "demo_parts"]
