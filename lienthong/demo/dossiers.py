"""`lienthong demo`: the dossier flows end to end on loopback, with DVCQG taken down in the middle.

Started here: the broker (unless `--bootstrap`), the DVCQG and one-stop sandboxes, lienthong's API
(the one-stop webhook and the DVCQG push endpoint) under uvicorn, and the workers (DVCQG sync, KPI
projection, delivery of DVCQG notices to the one-stop system). The one-stop simulator then posts every
event of a few thousand synthetic dossier lifecycles to the webhook. At the end the DVCQG sandbox must
hold, for every dossier, exactly what the one-stop system holds.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lienthong.app import create_app
from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.bus.idempotency import IdempotencyStore
from lienthong.bus.publisher import BusPublisher
from lienthong.bus.topics import create_topics, partitions_of
from lienthong.bus.worker import Worker
from lienthong.connectors.dvcqg.sandbox import create_dvcqg_sandbox, sandbox_state
from lienthong.connectors.dvcqg.settings import DvcqgSettings
from lienthong.connectors.dvcqg.worker import build_dossier_sync_flow
from lienthong.connectors.onestop.sandbox import create_onestop_sandbox
from lienthong.connectors.onestop.sandbox import sandbox_state as onestop_state
from lienthong.connectors.onestop.settings import OnestopSettings
from lienthong.connectors.onestop.worker import build_onestop_delivery_flow
from lienthong.demo.broker import embedded_broker, quiet_logs
from lienthong.demo.lifecycle import DriveReport, OnestopSimulator
from lienthong.demo.parts import DemoContext, demo_parts
from lienthong.kpi.report import load_report
from lienthong.kpi.store import KpiStore, default_kpi_dsn
from lienthong.kpi.worker import build_kpi_flow
from lienthong.mappings.dvcqg import dossier_to_dvcqg
from lienthong.settings import Settings
from lienthong.testing import ServedApp

OUTAGE_AT = 0.3
"""Share of the events posted when DVCQG goes down."""
OUTAGE_S = 8.0
"""How long DVCQG stays down (seconds)."""
NOTICES = 20
"""DVCQG push notices sent to the province during the run."""


def _normal(item: Any) -> Any:
    return orjson.loads(orjson.dumps(item))


def mismatched(dvcqg: Any, sim: OnestopSimulator) -> list[str]:
    """Codes whose DVCQG state differs from the one-stop system's (missing counts as different)."""
    bad = []
    for code in sim.emitted_codes:
        record = dvcqg.dossier(code)
        if record is None or _normal(record.item) != _normal(dossier_to_dvcqg(sim.latest(code))):
            bad.append(code)
    return bad


async def start_groups_at_end(s: Settings, topics: list[str], groups: list[str]) -> None:
    """Commit each new consumer group's offsets at the current end of its topic and retry topic."""
    for topic, group in zip(topics, groups, strict=True):
        consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [TopicPartition(t, p) for t in (topic, f"{topic}.retry") for p in await partitions_of(consumer, t)]
            if parts:
                consumer.assign(parts)
                ends = await consumer.end_offsets(parts)
                await consumer.commit(ends)
        finally:
            await consumer.stop()


def _diff(dvcqg: Any, sim: OnestopSimulator, code: str) -> dict[str, Any]:
    """What differs for one dossier (field names and statuses only: no personal data)."""
    record = dvcqg.dossier(code)
    want = _normal(dossier_to_dvcqg(sim.latest(code)))
    if record is None:
        return {"code": code, "missing": True, "expected_status": want.get("TrangThaiHoSo")}
    have = _normal(record.item)
    fields = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    return {
        "code": code, "fields": fields, "dvcqg_status": have.get("TrangThaiHoSo"),
        "expected_status": want.get("TrangThaiHoSo"), "writes": record.writes,
    }  # fmt: skip


def _notice(i: int, code: str) -> dict[str, Any]:
    return {
        "service": "NhanThongBaoThueDat",
        "isUpdating": "False",
        "data": [
            {
                "MaHoSo": code,
                "MaTTHC": "1.004227.000.00.00.H52",
                "SoVanBan": f"{1000 + i}/TB-CCT",
                "NgayNopHoSo": "20250704090000",
                "MaSoThue": f"{8000000000 + i}",
            }
        ],
    }  # fmt: skip


async def run_dossier_demo(
    settings: Settings,
    *,
    use_embedded: bool,
    audit_db: Path | None,
    dossiers: int,
    console: Console,
    seed: int = 7,
) -> dict[str, Any]:
    """Run the dossier demo and return its summary (`ok` true when everything checks out)."""
    quiet_logs(console)
    started = time.monotonic()
    async with embedded_broker(settings, use_embedded=use_embedded, console=console) as with_broker:
        workdir = Path(tempfile.mkdtemp(prefix="lienthong-demo-"))
        s = with_broker.model_copy(
            update={
                "state_dir": workdir,
                "audit_dsn": f"sqlite:///{audit_db or workdir / 'audit.db'}",
                "idempotency_dsn": f"sqlite:///{workdir / 'idempotency.db'}",
                "consumer_group": f"demo-{int(time.time())}",
                "retry_base_s": 0.5,
                "retry_max_s": 4.0,
                "circuit_open_s": 1.0,
                "circuit_open_max_s": 4.0,
            }
        )
        return await _run(s, dossiers=dossiers, console=console, seed=seed, started=started)


async def _run(s: Settings, *, dossiers: int, console: Console, seed: int, started: float) -> dict[str, Any]:
    console.print(f"Kafka at [bold]{s.bootstrap_servers}[/bold]; audit chain in {s.resolved_audit_dsn()}")
    await create_topics(s.bootstrap_servers, partitions=s.partitions, replication_factor=s.replication_factor)
    dvcqg_app, onestop_app = create_dvcqg_sandbox(), create_onestop_sandbox()
    dvcqg, onestop = sandbox_state(dvcqg_app), onestop_state(onestop_app)
    audit = await AuditWriter.from_dsn(s.resolved_audit_dsn(), batch_max=s.audit_batch_max)
    idem = IdempotencyStore(s.resolved_idempotency_dsn())
    await idem.open()
    publisher = BusPublisher(s, audit)
    await publisher.start()
    closers: list[Callable[[], Any]] = []
    workers: list[Worker] = []
    tasks: list[asyncio.Task[None]] = []
    ctx = DemoContext(settings=s, audit=audit, idempotency=idem, publisher=publisher, console=console)
    parts = demo_parts()
    extra: dict[str, Any] = {}
    async with ServedApp(dvcqg_app) as dvcqg_srv, ServedApp(onestop_app) as onestop_srv:
        for part in parts:
            await part.start(ctx)
        api = create_app(s, publisher=publisher)
        flows = [
            await build_dossier_sync_flow(s, idempotency=idem, dvcqg=DvcqgSettings(url=dvcqg_srv.url)),
            await build_kpi_flow(s),
            await build_onestop_delivery_flow(s, idempotency=idem, onestop=OnestopSettings(url=onestop_srv.url)),
        ]
        # A broker kept from earlier runs still holds their events: this run's groups start at the end.
        await start_groups_at_end(s, [f.topic for f, _ in flows], [f"{s.consumer_group}.{f.name}" for f, _ in flows])
        for flow, close in flows:
            worker = Worker(flow, s, audit)
            await worker.start()
            workers.append(worker)
            tasks.append(asyncio.create_task(worker.run()))
            closers.append(close)
        sim = OnestopSimulator(dossiers, seed=seed)
        total = sim.pending_events()
        async with ServedApp(api) as api_srv, httpx.AsyncClient(timeout=30) as client:
            report, outage = await _drive(sim, client, api_srv.url, total, dvcqg, console)
            for i, code in enumerate(sim.emitted_codes[:NOTICES]):
                await client.post(
                    f"{api_srv.url}/dvcqg/push",
                    content=orjson.dumps(_notice(i, code)),
                    headers={"Content-Type": "application/json"},
                )
            bad = await _await_sync(sim, dvcqg, console)
            await _await_notices(onestop, min(NOTICES, len(sim.emitted_codes)))
            notices = len(onestop.notices)
            ctx.api_url = api_srv.url
            for part in parts:
                console.print(f"[bold]{part.name}[/bold]")
                extra.update(await part.run(ctx))
        for w in [*workers, *ctx.workers]:
            w.request_stop()
        await asyncio.gather(*tasks, *ctx.part_tasks)
        for close in [*closers, *ctx.closers]:
            await close()
    await publisher.close()
    await idem.close()
    kpi_store = KpiStore(default_kpi_dsn(s))
    await kpi_store.open()
    kpi = await load_report(kpi_store, received_from=None, received_to=None, group_by=("agency", "channel"))
    await kpi_store.close()
    verified = await verify_chain(audit.store)
    audit_records = verified.records
    await audit.close()
    sync = workers[0]
    summary: dict[str, Any] = {
        "dossiers": len(sim.emitted_codes),
        "events": report.sent,
        "webhook_accepted": report.accepted,
        "webhook_refused": report.refused,
        "synced": len(sim.emitted_codes) - len(bad),
        "mismatches": len(bad),
        "dvcqg_writes": dvcqg.stats.calls_by_service.get("DongBoHoSoMC", 0),
        "dvcqg_outage_s": round(outage, 1),
        "circuit_opened": sync.circuit.opened_count,
        "retried": sum(w.stats["retried"] for w in [*workers, *ctx.workers]),
        "dead_lettered": sum(w.stats["dead_lettered"] for w in [*workers, *ctx.workers]),
        "rejected": sum(w.stats["rejected"] for w in [*workers, *ctx.workers]),
        "notices_delivered": notices,
        "audit_records": audit_records,
        "audit_verified": verified.ok,
        **extra,
        "seconds": round(time.monotonic() - started, 1),
    }
    if bad:
        summary["mismatch_examples"] = [_diff(dvcqg, sim, code) for code in bad[:3]]
    parts_ok = all(v is not False for k, v in extra.items() if k.endswith("_ok"))
    summary["ok"] = bool(verified.ok and not bad and summary["dead_lettered"] == 0 and report.failed == 0 and parts_ok)
    _print(console, summary, kpi)
    return summary


async def _drive(
    sim: OnestopSimulator, client: httpx.AsyncClient, url: str, total: int, dvcqg: Any, console: Console
) -> tuple[DriveReport, float]:
    """Post every event; take DVCQG down at OUTAGE_AT of them for OUTAGE_S seconds."""
    outage: dict[str, float] = {}

    async def restore() -> None:
        await asyncio.sleep(OUTAGE_S)
        dvcqg.set_down(False)
        outage["up"] = time.monotonic()

    restorer: list[asyncio.Task[None]] = []
    with _progress(console) as progress:
        bar = progress.add_task("one-stop events → webhook", total=total)

        def on_progress(r: DriveReport) -> None:
            progress.update(bar, completed=r.sent)
            if "down" not in outage and r.sent >= total * OUTAGE_AT:
                outage["down"] = time.monotonic()
                dvcqg.set_down(True)
                progress.console.print(f"[yellow]DVCQG down[/yellow] for {OUTAGE_S:.0f}s after {r.sent} events")
                restorer.append(asyncio.get_running_loop().create_task(restore()))

        report = await sim.drive(f"{url}/onestop/dossier-events", client, concurrency=16, on_progress=on_progress)
        progress.update(bar, completed=report.sent)
    if restorer:
        await restorer[0]
        console.print("[green]DVCQG back up[/green]")
    return report, outage.get("up", 0.0) - outage.get("down", 0.0)


async def _await_sync(sim: OnestopSimulator, dvcqg: Any, console: Console, timeout_s: float = 60) -> list[str]:
    """Wait until DVCQG holds the one-stop state of every dossier; the codes still different at the end."""
    expected = len(sim.emitted_codes)
    deadline = time.monotonic() + timeout_s
    with _progress(console) as progress:
        bar = progress.add_task("dossiers in DVCQG = one-stop", total=expected)
        while True:
            bad = mismatched(dvcqg, sim)
            progress.update(bar, completed=expected - len(bad))
            if not bad or time.monotonic() > deadline:
                return bad
            await asyncio.sleep(0.5)


async def _await_notices(onestop: Any, expected: int, timeout_s: float = 60) -> None:
    """Wait until the one-stop sandbox received the DVCQG notices (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while len(onestop.notices) < expected and time.monotonic() < deadline:  # noqa: ASYNC110 - polls another server's state
        await asyncio.sleep(0.2)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def _print(console: Console, summary: dict[str, Any], kpi: Any) -> None:
    table = Table("agency", "channel", "received", "accepted", "refused", "returned", "early", "on time", "late",
                  "on/before time", "overdue open", title="KPIs (from the event stream)")  # fmt: skip
    for row in [*kpi.rows, kpi.total]:
        d = row.as_dict()
        rate = d.get("on_or_before_time_pct")
        table.add_row(
            d.get("agency") or "all", d.get("channel") or "all", str(d["received"]), str(d["accepted"]),
            str(d["refused"]), str(d["returned"]), str(d["early"]), str(d["on_time"]), str(d["late"]),
            "-" if rate is None else f"{rate:.2f}%", str(d["overdue_open"]),
        )  # fmt: skip
    console.print(table)
    result = Table("", "", title="lienthong demo: one-stop ⇄ DVCQG")
    for k, v in summary.items():
        result.add_row(k, str(v))
    console.print(result)
