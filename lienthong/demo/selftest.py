"""`lienthong demo --selftest`: the bus self-test on loopback (retries, a poison message, DLQ), a summary at the end."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.bus.envelope import new_envelope
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.selftest import EVENT_TYPE, TOPIC, SelfTestHandler, make_message
from lienthong.bus.topics import create_topics
from lienthong.bus.worker import Flow, Worker
from lienthong.demo.broker import embedded_broker, quiet_logs
from lienthong.settings import Settings
from lienthong.testing import RecordingPeer, ServedApp


async def run_selftest_demo(
    settings: Settings,
    *,
    use_embedded: bool,
    audit_db: Path | None,
    messages: int,
    console: Console,
) -> dict[str, Any]:
    """Drive `messages` self-test records (5% failing transiently, one poison) and summarise."""
    quiet_logs(console)
    started = time.monotonic()
    async with embedded_broker(settings, use_embedded=use_embedded, console=console) as s:
        return await _drive(s, audit_db=audit_db, messages=messages, console=console, started=started)


async def _drive(
    settings: Settings, *, audit_db: Path | None, messages: int, console: Console, started: float
) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lienthong-demo-"))
    audit_path = audit_db or workdir / "audit.db"
    settings = settings.model_copy(update={
        "retry_base_s": 0.5, "retry_max_s": 2.0, "consumer_group": f"demo-{int(time.time())}",
        "audit_dsn": f"sqlite:///{audit_path}", "idempotency_dsn": f"sqlite:///{workdir / 'idem.db'}",
    })  # fmt: skip
    console.print(f"Kafka at [bold]{settings.bootstrap_servers}[/bold]; audit chain in {audit_path}")
    rf = settings.replication_factor
    await create_topics(settings.bootstrap_servers, partitions=settings.partitions, replication_factor=rf)

    peer = RecordingPeer()
    audit = await AuditWriter.from_dsn(settings.resolved_audit_dsn())
    idem = IdempotencyStore(settings.resolved_idempotency_dsn())
    await idem.open()
    async with ServedApp(peer.app) as served:
        handler = SelfTestHandler(peer_url=f"{served.url}/effects", idempotency=idem)
        worker = Worker(Flow("selftest", TOPIC, handler, peer="selftest-peer"), settings, audit)
        await worker.start()
        task = asyncio.create_task(worker.run())
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
        await producer.start()
        poison_at = messages // 2
        failing = 0
        for i in range(messages):
            if i == poison_at:
                env = new_envelope(type=EVENT_TYPE, source="/lienthong/demo", subject=f"poison-{i}")
                await producer.send(TOPIC, b"{not json", key=b"poison", headers=env.to_headers())
                continue
            # Some fail inside the in-process attempts, some long enough to go round the retry topic.
            fail = (4 if i % 40 == 7 else 2) if i % 20 == 7 else 0
            failing += fail > 0
            value, headers = make_message(i, fail_times=fail)
            await producer.send(TOPIC, value, key=f"selftest-{i:08d}".encode(), headers=headers)
        await producer.flush()
        await producer.stop()

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console) as progress:  # fmt: skip
            bar = progress.add_task("settling messages", total=messages)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                settled = worker.stats["delivered"] + worker.stats["dead_lettered"]
                progress.update(bar, completed=settled)
                if settled >= messages:
                    break
                await asyncio.sleep(0.1)
        await worker.stop()
        await task
        await handler.close()
    result = await verify_chain(audit.store)
    appended = audit.appended
    await audit.close()
    await idem.close()
    summary = {
        "messages": messages,
        "delivered": worker.stats["delivered"],
        "retried": worker.stats["retried"],
        "dead_lettered": worker.stats["dead_lettered"],
        "made_to_fail": failing,
        "effects_applied": sum(peer.applied.values()),
        "duplicate_effects": sum(1 for v in peer.applied.values() if v > 1),
        "audit_records": appended,
        "audit_verified": result.ok,
        "seconds": round(time.monotonic() - started, 1),
    }
    summary["ok"] = bool(
        result.ok and summary["delivered"] == messages - 1 and summary["dead_lettered"] == 1
        and summary["duplicate_effects"] == 0
    )  # fmt: skip
    table = Table("", "", title="lienthong demo: bus self-test")
    for k, v in summary.items():
        table.add_row(k, str(v))
    console.print(table)
    return summary
