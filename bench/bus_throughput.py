"""Bus throughput: raw aiokafka pass-through vs the lienthong Worker, plus audit chain rates.

What it measures, on one broker and one preloaded topic (N self-test records of ~1 KB value, 6 partitions):

1. baseline: a bare aiokafka consumer -> producer loop (acks=all, idempotent, linger 5 ms, 256 KiB
   batches, 2000 records per poll, offsets committed after each batch's acks), first record to last ack;
2. pipeline: `lienthong.bus.worker.Worker` on the self-test flow (CloudEvents decode, pydantic validate,
   map, publish with acks=all, one audit record per message in a SQLite hash chain, commit), for each
   `consume_batch_max` in --batch-sizes, first record to the last audit record made durable;
3. audit: `AuditWriter.append` (batches of 1000, and 200 concurrent appenders of 10) and `verify_chain`
   rates on SQLite, and on PostgreSQL when LIENTHONG_TEST_PG_DSN is set (in a throw-away database);
4. where the time goes: per-batch wall time of each worker step, and a cProfile of the event-loop
   thread during one more pipeline run.

Reproduce (starts an embedded Kafka from the cached Maven jars unless --bootstrap is given):

    .venv/bin/python bench/bus_throughput.py --messages 200000 --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import os
import platform
import pstats
import re
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

import lienthong.bus.worker as worker_mod
from lienthong.audit.record import AuditEntry, digest
from lienthong.audit.verify import verify_chain
from lienthong.audit.writer import AuditWriter
from lienthong.bus.selftest import EVENT_TYPE, SelfTestHandler, make_message
from lienthong.bus.topics import TopicSpec, create_topics
from lienthong.bus.worker import Flow, Worker
from lienthong.settings import Settings
from lienthong.testing import EmbeddedKafka, free_port

BODY = 930  # -> ~1 KB JSON value
CONSUMER = {"enable_auto_commit": False, "auto_offset_reset": "earliest", "isolation_level": "read_committed",
            "max_partition_fetch_bytes": 4 << 20, "fetch_max_bytes": 16 << 20}  # same as Worker  # fmt: skip
PHASES = ("poll", "decode+settle", "handler", "publish+acks", "audit wait", "commit")


def spec(name: str, *, companions: bool) -> TopicSpec:
    return TopicSpec(name, key="id", description="bench", payload="lienthong.bus.selftest.SelfTestMessage",
                     event_types=(EVENT_TYPE,), companions=companions)  # fmt: skip


async def preload(bootstrap: str, topic: str, n: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=262144)
    await producer.start()
    try:
        t0 = time.perf_counter()
        for start in range(0, n, 5000):
            futs = []
            for seq in range(start, min(n, start + 5000)):
                value, headers = make_message(seq, body_size=BODY)
                futs.append(await producer.send(topic, value, key=f"selftest-{seq:08d}".encode(), headers=headers))
            await asyncio.gather(*futs)
        return n / (time.perf_counter() - t0)
    finally:
        await producer.stop()


async def baseline(bootstrap: str, topic: str, sink: str, n: int) -> float:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4().hex}",
                                **CONSUMER)  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5, max_batch_size=262144)  # fmt: skip
    await producer.start()
    await consumer.start()
    done, t0 = 0, 0.0
    try:
        while done < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            if not batch:
                continue
            t0 = t0 or time.perf_counter()
            futs = [await producer.send(sink, r.value, key=r.key, headers=list(r.headers))
                    for recs in batch.values() for r in recs]  # fmt: skip
            await asyncio.gather(*futs)
            await consumer.commit({tp: recs[-1].offset + 1 for tp, recs in batch.items()})
            done += len(futs)
        return n / (time.perf_counter() - t0)
    finally:
        await consumer.stop()
        await producer.stop()


def _timed(fn: Callable[..., Awaitable[Any]], acc: dict[str, float], key: str) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            acc[key] += time.perf_counter() - t

    return wrapper


async def pipeline(bootstrap: str, topic: str, sink: str, n: int, batch_max: int, db: Path,
                   prof: cProfile.Profile | None = None) -> tuple[float, dict[str, float], int]:  # fmt: skip
    """Worker msgs/s over the first `n` records, wall seconds per phase, and the number of batches."""
    settings = Settings(bootstrap_servers=bootstrap, consume_batch_max=batch_max, state_dir=db.parent)
    audit = await AuditWriter.from_dsn(f"sqlite:///{db}")
    handler = SelfTestHandler(out_topic=sink)
    w = Worker(Flow("selftest", topic, handler, peer="none", group_id=f"bench-lt-{uuid.uuid4().hex}"),
               settings, audit)  # fmt: skip
    acc: dict[str, float] = defaultdict(float)
    batches, started = [0], asyncio.Event()
    process, publish_all = w.process, worker_mod.publish_all

    async def timed_process(batch: Any) -> None:
        acc.setdefault("t0", time.perf_counter())
        started.set()
        batches[0] += 1
        t = time.perf_counter()
        await process(batch)
        acc["process"] += time.perf_counter() - t

    w.process = timed_process  # type: ignore[method-assign]
    w.audit.append = _timed(audit.append, acc, "audit wait")  # type: ignore[method-assign]
    w._commit = _timed(w._commit, acc, "commit")  # type: ignore[method-assign]
    w.flow = Flow(w.flow.name, topic, _timed(handler, acc, "handler"), peer="none")
    worker_mod.publish_all = _timed(publish_all, acc, "publish+acks")  # type: ignore[assignment]
    await w.start()
    task = asyncio.create_task(w.run())
    try:
        await started.wait()
        if prof:
            prof.enable()
        while audit.appended < n:
            if task.done():
                task.result()
                raise RuntimeError("worker stopped early")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - acc["t0"]
        if prof:
            prof.disable()
    finally:
        worker_mod.publish_all = publish_all
        await w.stop()
        await task
        await handler.close()
        await audit.close()
    if prof is None and (w.stats["delivered"] != n or w.stats["dead_lettered"]):
        raise RuntimeError(f"unexpected worker stats {w.stats}")
    inner = sum(acc[k] for k in ("handler", "publish+acks", "audit wait", "commit"))
    phases = {"poll": elapsed - acc["process"], "decode+settle": acc["process"] - inner}
    phases |= {k: acc[k] for k in PHASES[2:]}
    return n / elapsed, phases, batches[0]


def entries(n: int) -> list[AuditEntry]:
    return [AuditEntry(flow="selftest", direction="bus", peer="none", outcome="delivered",
                       dossier_code=f"selftest-{i:08d}", correlation_id=str(uuid.uuid4()), event_type=EVENT_TYPE,
                       digest=digest(i.to_bytes(8)), detail={"topic": "bench", "partition": i % 6, "offset": i})
            for i in range(n)]  # fmt: skip


async def audit_rates(dsn: str, n: int) -> dict[str, float]:
    """Records/s: sequential appends of 1000, 200 concurrent appenders of 10, then verify of all 2n."""
    recs = entries(n)
    writer = await AuditWriter.from_dsn(dsn)
    try:
        t = time.perf_counter()
        for i in range(0, n, 1000):
            await writer.append(recs[i : i + 1000])
        seq = n / (time.perf_counter() - t)
        share = n // 200

        async def appender(part: list[AuditEntry]) -> None:
            for i in range(0, len(part), 10):
                await writer.append(part[i : i + 10])

        t = time.perf_counter()
        await asyncio.gather(*(appender(recs[k * share : (k + 1) * share]) for k in range(200)))
        conc = share * 200 / (time.perf_counter() - t)
        t = time.perf_counter()
        result = await verify_chain(writer.store)
        assert result.ok, result
        return {"append 1000/batch": seq, "append 200 x 10 concurrent": conc,
                "verify": result.records / (time.perf_counter() - t)}  # fmt: skip
    finally:
        await writer.close()


async def pg_rates(dsn: str, n: int) -> dict[str, float]:
    """`audit_rates` in a throw-away database on the server behind `dsn`."""
    import asyncpg

    name = f"lienthong_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            return await audit_rates(urlunsplit(urlsplit(dsn)._replace(path=f"/{name}")), n)
        finally:
            await admin.execute(f"DROP DATABASE {name}")
    finally:
        await admin.close()


def profile_top(prof: cProfile.Profile, k: int) -> tuple[list[str], dict[str, float]]:
    """The top `k` functions by own time, and own-time share by package, of the event-loop thread."""
    raw: dict[Any, Any] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    by_pkg: dict[str, float] = defaultdict(float)
    for (file, _, _), v in raw.items():
        m = re.search(r"site-packages/([^/]+)|/(lienthong)/|/python3\.\d+/(asyncio)/", file)
        by_pkg[next((g for g in m.groups() if g), "?").removesuffix(".py") if m else "other"] += v[2] / total
    top = sorted(raw.items(), key=lambda kv: -kv[1][2])[:k]
    lines = [f"{v[2] / total:5.1%}  {re.sub(r'.*/(site-packages|lib/python3[.0-9]+|main)/', '', f)}:{ln}"
             f" {fn} ({v[1]} calls)" for (f, ln, fn), v in top]  # fmt: skip
    return lines, dict(sorted(by_pkg.items(), key=lambda kv: -kv[1]))


def machine(kafka_version: str) -> str:
    mem = int(re.findall(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[0]) / 2**20
    cpu = re.findall(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()) or ["?"]
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr.split("\n")[0]
    return (f"{os.cpu_count()} vCPU ({cpu[0]}), {mem:.0f} GiB RAM, Python {platform.python_version()}, "
            f"Kafka {kafka_version} (single KRaft node on loopback, {java.strip()}), {platform.system()}")  # fmt: skip


def write_section(path: Path, section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    m = re.search(r"^## Bus throughput\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    text = text[: m.start()] + section + text[m.end() :] if m else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


async def main(args: argparse.Namespace, bootstrap: str, tmp: Path, kafka_version: str) -> str:
    n, run = args.messages, uuid.uuid4().hex[:8]
    src, raw_sink, lt_sink = f"bench.{run}", f"bench.{run}.raw", f"bench.{run}.out"
    await create_topics(bootstrap, partitions=6, specs=[spec(src, companions=True),
                        spec(raw_sink, companions=False), spec(lt_sink, companions=False)])  # fmt: skip
    t_start = time.perf_counter()
    pre = await preload(bootstrap, src, n)
    print(f"preloaded {n} records at {pre:,.0f} msgs/s")
    base = await baseline(bootstrap, src, raw_sink, n)
    print(f"baseline (raw aiokafka): {base:,.0f} msgs/s")
    runs: dict[int, tuple[float, dict[str, float], int]] = {}
    for b in args.batch_sizes:
        runs[b] = await pipeline(bootstrap, src, lt_sink, n, b, tmp / f"audit-{b}.db")
        print(f"pipeline consume_batch_max={b}: {runs[b][0]:,.0f} msgs/s ({runs[b][0] / base:.0%} of baseline)")
    best = max(runs, key=lambda b: runs[b][0])
    rate, phases, nb = runs[best]
    prof = cProfile.Profile()
    pn = min(n, args.profile_messages)
    prate, _, _ = await pipeline(bootstrap, src, lt_sink, pn, best, tmp / "audit-prof.db", prof)
    top, pkgs = profile_top(prof, 12)
    audit = {"SQLite": await audit_rates(f"sqlite:///{tmp / 'audit-rates.db'}", args.audit_records)}
    pg_dsn = os.environ.get("LIENTHONG_TEST_PG_DSN", "")
    if pg_dsn:
        audit["PostgreSQL"] = await pg_rates(pg_dsn, args.audit_records)
    total_s = time.perf_counter() - t_start

    wall = sum(phases.values())
    rows = [("baseline: raw aiokafka consume -> produce (acks=all) -> commit", f"{base:,.0f}", "100%")]
    rows += [(f"lienthong Worker, consume_batch_max={b}" + (" (best)" if b == best else ""),
              f"{r[0]:,.0f}", f"{r[0] / base:.0%}") for b, r in runs.items()]  # fmt: skip
    table = ["| run | msgs/s | vs baseline |", "|---|---:|---:|", *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
    arows = [f"| {db} | {r['append 1000/batch']:,.0f} | {r['append 200 x 10 concurrent']:,.0f} | "
             f"{r['verify']:,.0f} |" for db, r in audit.items()]  # fmt: skip
    if not pg_dsn:
        arows.append("| PostgreSQL | not measured (set LIENTHONG_TEST_PG_DSN) | | |")
    per_batch = " · ".join(f"{k} {phases[k] / nb * 1000:.1f} ms ({phases[k] / wall:.0%})" for k in PHASES)
    pkg_line = ", ".join(f"{k} {v:.0%}" for k, v in list(pkgs.items())[:6])
    status = "meets" if rate / base >= 0.5 else "misses"
    section = f"""## Bus throughput

Command: `.venv/bin/python bench/bus_throughput.py --messages {n} --write BENCHMARKS.md`
({"embedded Kafka started by the script" if not args.bootstrap else f"broker {args.bootstrap}"};
{"PostgreSQL audit from LIENTHONG_TEST_PG_DSN" if pg_dsn else "PostgreSQL not measured"}).
Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC. Whole run: {total_s:.0f} s.
Machine: {machine(kafka_version)}. Broker, benchmark and SQLite all share these CPUs.

N = {n:,} self-test records (~1 KB JSON value + CloudEvents headers), 6 partitions, preloaded at
{pre:,.0f} msgs/s. Each run is a fresh consumer group over the same records, timed from the first
record polled to the last produce ack (baseline) or the last audit record made durable (pipeline).
The pipeline is the full self-test flow with audit ON (SQLite file, `synchronous=FULL`), no HTTP peer.

{chr(10).join(table)}

Pipeline / baseline at the best batch size: **{rate / base:.0%}** (target >= 50%: {status} it).

Audit chain (records/s; {args.audit_records:,} records per append test, verify over all of them):

| store | append, batches of 1000 | append, 200 concurrent x 10 | verify_chain |
|---|---:|---:|---:|
{chr(10).join(arows)}

### What limits it

Wall time of one batch of {best} at the best setting (worker steps run one after the other, so they add up):
{per_batch}. "poll" is `getmany` plus the loop around it; "publish+acks" includes `producer.send()`
for every record; "audit wait" is the group commit (sealing on the SQLite thread plus fsync).
Everything but the fsync runs on one Python thread, which the Kafka broker shares the CPUs with.

cProfile of the event-loop thread ({pn:,} records at batch {best}, {prate:,.0f} msgs/s under the
profiler), own time by package: {pkg_line}. Top functions by own time:

```
{chr(10).join(top)}
```
"""
    print(section)
    return section


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=200_000)
    p.add_argument("--bootstrap", default="", help="use this broker instead of starting an embedded one")
    p.add_argument("--write", type=Path, help="insert/replace the '## Bus throughput' section of this file")
    p.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 2000, 5000])
    p.add_argument("--profile-messages", type=int, default=100_000)
    p.add_argument("--audit-records", type=int, default=100_000)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as d:
        kafka = None if a.bootstrap else EmbeddedKafka(Path(d), port=free_port(), controller_port=free_port())
        try:
            boot = a.bootstrap or kafka.start()  # type: ignore[union-attr]
            text = asyncio.run(main(a, boot, Path(d), kafka.version if kafka else Settings().kafka_version))
        finally:
            if kafka:
                kafka.stop()
    if a.write:
        write_section(a.write, text)
        print(f"wrote the '## Bus throughput' section of {a.write}")
