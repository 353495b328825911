"""Inbound ingest: one `lienthong api` process taking one-stop webhook events, against raw aiokafka.

Started here, each as deployed: an embedded Kafka broker and `python -m lienthong.cli api` (SQLite audit
store, the default). This process only posts and measures.

1. baseline: raw aiokafka (acks=all, idempotent) produces the same record bytes to a topic, 200 sends in
   flight, each awaited: the broker's rate for this record size on this machine.
2. throughput: `--events` valid webhook events (distinct dossiers) posted by 20, 50 and 200 concurrent
   keep-alive clients; events/s and 202 latency p50/p99. Every 202 means durable on the bus and audited.
3. latency: events posted open-loop at `--rate`/s for `--seconds`; 202 latency p50/p99.
At the end the topic must hold exactly one record per accepted event id.

Reproduce (starts an embedded Kafka from the cached Maven jars):
    .venv/bin/python bench/inbound.py --events 3000 --rate 200 --seconds 15 --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bus_throughput import machine  # the sibling benchmark (run this file as a script)

from lienthong.bus.topics import TopicSpec, create_topics, partitions_of
from lienthong.mappings.onestop import EXAMPLE_EVENT
from lienthong.testing import EmbeddedKafka, free_port

TOPIC = "dossier.events"


def make_event(i: int, run: str) -> bytes:
    """A valid webhook body for dossier number `i` of this run (distinct code and event id)."""
    body: dict[str, Any] = copy.deepcopy(EXAMPLE_EVENT)
    body["event_id"] = f"{run}-{i}"
    body["dossier"]["MaHoSo"] = (
        f"000.00.12.H52-250703-{i % 10000:04d}"
        if i < 10000
        else (f"000.00.12.H52-25{(i // 10000) % 12 + 1:02d}03-{i % 10000:04d}")
    )
    body["version"] = 3 + i // 120000
    return orjson.dumps(body)


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def baseline(bootstrap: str, n: int, size_of: bytes) -> float:
    """Raw aiokafka: n records of the webhook record size, 200 in flight, each acked; records/s."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    sem = asyncio.Semaphore(200)
    value = size_of

    async def one(i: int) -> None:
        async with sem:
            fut = await producer.send("bench.baseline", value, key=str(i).encode())
            await fut

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - t0)
    finally:
        await producer.stop()


async def _post_on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes) -> int:
    """One HTTP/1.1 keep-alive POST on an open connection; the status code."""
    writer.write(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)  # fmt: skip
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def closed_loop(url: str, bodies: list[bytes], clients: int) -> tuple[float, list[float], int]:
    """`clients` keep-alive connections post every body; (events/s, latencies, non-202 answers).

    A minimal HTTP/1.1 client on asyncio streams: httpx's connection pool itself stalls at a few hundred
    concurrent connections on this machine, which would measure the client instead of the server.
    """
    split = urlsplit(url)
    queue = list(reversed(bodies))
    latencies: list[float] = []
    bad = 0

    async def connection() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(split.hostname, split.port)
        try:
            while queue:
                body = queue.pop()
                t = time.perf_counter()
                status = await _post_on(reader, writer, split.path, body)
                latencies.append(time.perf_counter() - t)
                bad += status != 202
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(clients)))
    return len(bodies) / (time.perf_counter() - t0), latencies, bad


async def open_loop(url: str, bodies: list[bytes], rate: float) -> tuple[list[float], int]:
    """Post at a fixed rate (not waiting for answers before the next send); (latencies, non-2xx)."""
    latencies: list[float] = []
    bad = 0
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=400)) as client:

        async def one(body: bytes) -> None:
            nonlocal bad
            t = time.perf_counter()
            r = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - t)
            if r.status_code != 202:
                bad += 1

        tasks = []
        start = time.perf_counter()
        for i, body in enumerate(bodies):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load generator, not synchronisation
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    return latencies, bad


async def count_distinct(bootstrap: str) -> tuple[int, int]:
    """(records, distinct ce_id) on the topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(TOPIC, p) for p in await partitions_of(consumer, TOPIC)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        total, ids = 0, set()
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batch.values():
                for rec in records:
                    total += 1
                    ids.add(dict(rec.headers).get("ce_id"))
        return total, len(ids)
    finally:
        await consumer.stop()


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Until /readyz answers 200 (or the API process died)."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"lienthong api exited with {proc.returncode}")
            try:
                if (await client.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)  # polling another process's readiness
    raise TimeoutError("lienthong api not ready")


def start_api(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`lienthong api` as deployed: its own process, configured by the environment."""
    return subprocess.Popen([sys.executable, "-m", "lienthong.cli", "api"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def start_profiler(pid: int, out: Path) -> None:
    """py-spy sampling the API process into `out` (raw collapsed stacks) until the process exits."""
    subprocess.Popen(["py-spy", "record", "-o", str(out), "-p", str(pid), "-r", "200", "--format", "raw"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Run the three measurements; the results as a dict."""
    work = Path(tempfile.mkdtemp(prefix="bench-inbound-"))
    kafka = EmbeddedKafka(work / "kafka", port=free_port(), controller_port=free_port())
    bootstrap = kafka.start()
    port = free_port()
    env = {**os.environ, "LIENTHONG_BOOTSTRAP_SERVERS": bootstrap, "LIENTHONG_STATE_DIR": str(work / "state"),
           "LIENTHONG_HTTP_PORT": str(port), "LIENTHONG_LOG_LEVEL": "WARNING"}  # fmt: skip
    proc = None
    try:
        await create_topics(bootstrap, partitions=6)
        baseline_spec = TopicSpec("bench.baseline", key="i", description="baseline", payload="x.y", event_types=(),
                                  companions=False)  # fmt: skip
        await create_topics(bootstrap, partitions=6, specs=[baseline_spec])
        run = uuid.uuid4().hex[:8]
        sample = make_event(0, run)
        base_rate = await baseline(bootstrap, args.events * 2, sample)
        proc = start_api(env)
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, proc)
        if args.profile:
            start_profiler(proc.pid, args.profile)
        results: dict[str, Any] = {"baseline_records_per_s": round(base_rate), "closed": {}, "events": args.events,
                                   "broker": kafka.version}  # fmt: skip
        offset = 0
        for clients in args.clients:
            bodies = [make_event(offset + i, run) for i in range(args.events)]
            offset += args.events
            rate, lat, bad = await closed_loop(url + "/onestop/dossier-events", bodies, clients)
            results["closed"][clients] = {"events_per_s": round(rate), "p50_ms": round(pct(lat, 0.5), 1),
                                          "p99_ms": round(pct(lat, 0.99), 1), "not_202": bad}  # fmt: skip
            print(f"{clients} clients: {rate:.0f} events/s, p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms")
        n = int(args.rate * args.seconds)
        bodies = [make_event(offset + i, run) for i in range(n)]
        offset += n
        lat, bad = await open_loop(url + "/onestop/dossier-events", bodies, args.rate)
        results["open"] = {"rate": args.rate, "seconds": args.seconds, "p50_ms": round(pct(lat, 0.5), 1),
                           "p99_ms": round(pct(lat, 0.99), 1), "not_202": bad}  # fmt: skip
        print(f"open loop {args.rate}/s: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, not 202: {bad}")
        total, distinct = await count_distinct(bootstrap)
        results["records"], results["distinct_ids"], results["posted"] = total, distinct, offset
        print(f"topic: {total} records, {distinct} distinct ids, {offset} events posted")
        return results
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        kafka.stop()


def report(results: dict[str, Any], command: str) -> str:
    """The BENCHMARKS.md section."""
    lines = [
        "## Inbound ingest (one `lienthong api` process)",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine(results['broker'])}. Baseline: raw aiokafka, acks=all, idempotent, 200 sends in "
        f"flight, same record size: **{results['baseline_records_per_s']} records/s**.",
        "",
        "| concurrent keep-alive clients | events/s (202 = durable + audited) | share of baseline | "
        "202 p50 | 202 p99 | not 202 |",
        "|---|---|---|---|---|---|",
    ]
    for clients, r in results["closed"].items():
        share = 100 * r["events_per_s"] / results["baseline_records_per_s"]
        lines.append(f"| {clients} | {r['events_per_s']} | {share:.0f}% | {r['p50_ms']} ms | {r['p99_ms']} ms | "
                     f"{r['not_202']} |")  # fmt: skip
    o = results["open"]
    lines += [
        "",
        f"Open loop at {o['rate']:.0f} events/s for {o['seconds']} s: 202 p50 **{o['p50_ms']} ms**, p99 "
        f"**{o['p99_ms']} ms**, not 202: {o['not_202']}.",
        "",
        f"Afterwards the topic held {results['records']} records with {results['distinct_ids']} distinct ids for "
        f"{results['posted']} events posted (each event exactly once).",
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) the section with the same first line in `path`."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    title = section.splitlines()[0]
    if title in text:
        start = text.index(title)
        nxt = text.find("\n## ", start + len(title))
        text = text[:start] + section + (text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    """Parse arguments, run, print, optionally write BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000, help="events per closed-loop run")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop events per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="open-loop duration")
    parser.add_argument("--clients", type=int, nargs="+", default=[20, 50, 200], help="closed-loop client counts")
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the API process with py-spy (pip install py-spy) into this file (raw collapsed stacks)",
    )
    parser.add_argument("--write", type=Path, help="write the section into this markdown file")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    section = report(results, "python bench/inbound.py " + " ".join(sys.argv[1:]))
    print(section)
    if args.write:
        write_section(args.write, section)


if __name__ == "__main__":
    main()
