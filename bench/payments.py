"""Payments: confirmation callback -> `payment.confirmed` on the bus, at a steady rate, against raw aiokafka.

lienthong's API runs as deployed, a process of its own (`python -m lienthong.cli api`), on one embedded
Kafka broker, with the payment store (SQLite) and audit chain in a fresh state directory. The benchmark
pre-records `--rate x --seconds` pending payments (as `INIT` would), then posts their signed
confirmation callbacks (HMAC-SHA256, the default) open-loop at `--rate`/s on kept-alive connections, and
reads `payment.events`. A callback's latency runs from its POST start to the moment this process
consumes its `payment.confirmed` record; the answer's own latency ("00" back) is reported beside it.

Baseline, same broker, same rate, same process: raw aiokafka, one record per tick produced with
acks=all and idempotence (as lienthong's producer), latency from `send()` to consumption. The
difference is what lienthong adds: HTTP, JSON, signature, replay window, the store's conditional
UPDATE, the durable publish, two audit appends and the outbox flag.

Reproduce (starts an embedded Kafka from the cached Maven jars):
    .venv/bin/python bench/payments.py --rate 200 --seconds 30 --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bus_throughput import machine  # the sibling benchmark (run this file as a script)

from lienthong.bus.topics import TopicSpec, create_topics, partitions_of
from lienthong.connectors.payment.events import TOPIC, TOPIC_SPEC
from lienthong.connectors.payment.signature import MessageKind, sign
from lienthong.connectors.payment.store import PaymentRecord, PaymentStore, now_ms
from lienthong.mappings.payment import payment_reference
from lienthong.mappings.wire import VN_TZ, format_dvcqg_time
from lienthong.schemas.payment import FeeLine, PaymentChannel, PaymentState
from lienthong.testing import EmbeddedKafka, free_port

SECRET = "bench-secret"
PARTNER = "000.00.12.H52"
WARMUP = 100


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99), "max": max(values or [0])}


async def prerecord(dsn: str, refs: list[str]) -> None:
    store = PaymentStore(dsn)
    await store.open()
    for ref in refs:
        code = ref.rsplit("-", 1)[0]
        await store.create(PaymentRecord(
            reference=ref, dossier_code=code, attempt=1, channel=PaymentChannel.ONLINE, state=PaymentState.PENDING,
            amount_vnd=150000, currency="VND", fees=(FeeLine(name="Lệ phí", amount_vnd=150000),), created_ms=now_ms(),
            pay_url=f"http://127.0.0.1/pay/{ref}",
        ))  # fmt: skip
    await store.close()


def callback(ref: str) -> bytes:
    fields = {
        "LoaiBanTin": "CONFIRM", "MaLoi": "00", "MaDoiTac": PARTNER, "MaThamChieu": ref, "SoTien": "150000",
        "MaTienTe": "VND", "MaGiaoDich": f"GD{uuid.uuid4().int % 10**12:012d}", "MaNganHang": "VCB",
        "ThoiGianGD": format_dvcqg_time(datetime.now(VN_TZ)), "ThongTinGiaoDich": f"Thanh toan {ref}",
    }  # fmt: skip
    return orjson.dumps({**fields, "MaXacThuc": sign(MessageKind.CONFIRM, fields, secret=SECRET, scheme="hmac-sha256")})


async def consumer_at_end(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed")
    await c.start()
    parts = [TopicPartition(topic, p) for p in await partitions_of(c, topic)]
    c.assign(parts)
    for tp, end in (await c.end_offsets(parts)).items():
        c.seek(tp, end)
    return c


async def collect(c: AIOKafkaConsumer, seen: dict[bytes, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for records in (await c.getmany(timeout_ms=50)).values():
            t = time.perf_counter()
            for r in records:
                seen.setdefault(r.key, t)


async def paced(n: int, rate: float, send: Any) -> list[float]:
    """Call `send(i)` open-loop at `rate`/s; returns how late each start was (ms)."""
    start, late, tasks = time.perf_counter(), [], []
    for i in range(n):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        late.append((time.perf_counter() - due) * 1000)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    return late


class RawHttp:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: httpx costs the load generator several ms
    of CPU per request, which on a 2-core machine is taken from the server being measured."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await self.idle.get()
        try:
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            return status, await reader.readexactly(length)
        finally:
            self.idle.put_nowait((reader, writer))

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()


async def lienthong_run(bootstrap: str, url: str, refs: list[str], rate: float) -> dict[str, Any]:
    c = await consumer_at_end(bootstrap, TOPIC)
    seen: dict[bytes, float] = {}
    sent: dict[bytes, float] = {}
    answered: list[float] = []
    codes: dict[str, int] = {}
    stop = asyncio.Event()
    reader = asyncio.create_task(collect(c, seen, stop))
    host, port_path = url.removeprefix("http://").split(":", 1)
    port, path = port_path.split("/", 1)
    client = RawHttp(host, int(port), 64)
    await client.open()
    bodies = [callback(ref) for ref in refs]

    async def send(i: int) -> None:
        t0 = time.perf_counter()
        sent[refs[i].encode()] = t0
        _, answer = await client.post("/" + path, bodies[i])
        if i >= WARMUP:
            answered.append((time.perf_counter() - t0) * 1000)
        code = orjson.loads(answer).get("MaLoi", "?")
        codes[code] = codes.get(code, 0) + 1

    late = await paced(len(refs), rate, send)
    await client.close()
    deadline = time.monotonic() + 30
    while len([k for k in sent if k in seen]) < len(sent) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await reader
    await c.stop()
    keys = [r.encode() for r in refs[WARMUP:]]
    e2e = [(seen[k] - sent[k]) * 1000 for k in keys if k in seen]
    return {"e2e": summary(e2e), "answer": summary(answered), "missing": len(keys) - len(e2e), "codes": codes,
            "late_p99": pct(late[WARMUP:], 99), "n": len(keys)}  # fmt: skip


async def baseline_run(bootstrap: str, n: int, rate: float) -> dict[str, Any]:
    topic = f"bench.payments.{uuid.uuid4().hex[:8]}"
    spec = TopicSpec(topic, key="ref", description="bench", payload="x.y", event_types=(), companions=False)
    await create_topics(bootstrap, partitions=6, specs=[spec])
    c = await consumer_at_end(bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    seen: dict[bytes, float] = {}
    sent: dict[bytes, float] = {}
    stop = asyncio.Event()
    reader = asyncio.create_task(collect(c, seen, stop))

    async def send(i: int) -> None:
        key = f"ref-{i}".encode()
        sent[key] = time.perf_counter()
        await (await producer.send(topic, callback(f"000.00.12.H52-250703-{i:04d}-TT01"), key=key))

    await paced(n, rate, send)
    deadline = time.monotonic() + 30
    while len(seen) < n and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    stop.set()
    await reader
    await c.stop()
    await producer.stop()
    keys = [f"ref-{i}".encode() for i in range(WARMUP, n)]
    return {"e2e": summary([(seen[k] - sent[k]) * 1000 for k in keys if k in seen])}


async def prepare(bootstrap: str, tmp: Path, n: int) -> list[str]:
    """The payment topic and `n` pending payments in the API's store; their references."""
    await create_topics(bootstrap, partitions=6, specs=[TOPIC_SPEC])
    run = uuid.uuid4().int % 900000 + 100000
    refs = [payment_reference(f"000.00.12.H52-{run}-{i % 9000 + 1000:04d}", i // 9000 + 1) for i in range(n)]
    await prerecord(f"sqlite:///{tmp / 'state' / 'payments.db'}", refs)
    return refs


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(args: argparse.Namespace, bootstrap: str, port: int, refs: list[str], pid: int) -> dict[str, Any]:
    """Wait for the API, then the baseline and lienthong's run at the same rate."""
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    load0 = os.getloadavg()[0]
    base = await baseline_run(bootstrap, len(refs), args.rate)
    api0, own0 = cpu_s(pid), cpu_s(os.getpid())
    lt = await lienthong_run(bootstrap, f"http://127.0.0.1:{port}/payments/dvcqg/confirm", refs, args.rate)
    lt["api_cpu_ms"] = (cpu_s(pid) - api0) * 1000 / len(refs)
    lt["bench_cpu_ms"] = (cpu_s(os.getpid()) - own0) * 1000 / len(refs)
    return {"base": base, "lt": lt, "load": (load0, os.getloadavg()[0])}


def section(args: argparse.Namespace, res: dict[str, Any], broker: str, seconds: float) -> str:
    lt, base = res["lt"], res["base"]
    row = lambda name, s: f"| {name} | {s['p50']:.1f} | {s['p95']:.1f} | **{s['p99']:.1f}** | {s['max']:.1f} |"  # noqa: E731
    return "\n".join([
        "## Payments",
        "",
        f"`.venv/bin/python bench/payments.py --rate {args.rate:g} --seconds {args.seconds:g} --write BENCHMARKS.md`",
        f"— {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, whole run {seconds:.0f} s. Machine: {machine(broker)}.",
        f"lienthong's API (`python -m lienthong.cli api`), the broker and this process share the CPUs (1-min load "
        f"average {res['load'][0]:.1f} before, {res['load'][1]:.1f} after; other engineers' work may run too).",
        "",
        f"{lt['n']:,} signed confirmation callbacks (HMAC-SHA256) posted open-loop at {args.rate:g}/s after "
        f"{WARMUP} warm-up ones, each for a payment pre-recorded as pending (p99 send lateness "
        f"{lt['late_p99']:.1f} ms); answers: {lt['codes']}; {lt['missing']} `payment.confirmed` record(s) missing. "
        "Latency in milliseconds:",
        "",
        "| path | p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|",
        row("callback POST -> `payment.confirmed` consumed", lt["e2e"]),
        row('callback POST -> answer "00"', lt["answer"]),
        row("baseline: raw aiokafka send (acks=all) -> consumed", base["e2e"]),
        "",
        f"CPU per callback: lienthong's API process {lt['api_cpu_ms']:.2f} ms, this process (client + consumer) "
        f"{lt['bench_cpu_ms']:.2f} ms. The answer comes after the event is durable and audited, so POST -> answer "
        "is everything the route does; `payment.confirmed` is usually consumed before the answer arrives.",
        "",
        "### What limits it",
        "",
        "The route's happy path is one conditional `UPDATE ... RETURNING` (pending, ours, online, same amount),",
        "one Kafka send (acks=all), one audit append (group commit, fsynced) and a batched published flag. Found",
        "while measuring: with an fsync per payment-store commit (SQLite `synchronous=FULL`) the store capped",
        "callbacks near 250/s and concurrent writers met `SQLITE_BUSY`, whose retry sleeps (up to 100 ms) made",
        "a tail of seconds; the store now serialises its writes in process and uses WAL with",
        "`synchronous=NORMAL` (a killed process loses nothing; see `store.py`). A load generator on httpx cost",
        "7 ms of CPU per request on this 2-core machine, more than the API itself: it now speaks raw HTTP/1.1.",
        "What is left is the audit chain's fsync per group commit, the producer's linger",
        "(`LIENTHONG_PRODUCER_LINGER_MS`) and CPU shared with the broker; PostgreSQL stores scale with API",
        "replicas (the conditional UPDATE needs no process-local lock there).",
        "",
    ])  # fmt: skip


def write_section(path: Path, text_section: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    m = re.search(r"^## Payments\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
    text = text[: m.start()] + text_section + "\n" + text[m.end() :] if m else text.rstrip("\n") + "\n\n" + text_section
    path.write_text(text.rstrip("\n") + "\n")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--bootstrap", help="use a running broker instead of starting one")
    parser.add_argument("--write", type=Path, help="write the Payments section into this markdown file")
    parser.add_argument("--profile", type=Path, help="run the API under cProfile, writing its stats here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lienthong-bench-pay-"))
    began = time.monotonic()
    kafka = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        kafka = EmbeddedKafka(tmp / "kafka", port=free_port(), controller_port=free_port())
        bootstrap = kafka.start()
    try:
        refs = asyncio.run(prepare(bootstrap, tmp, WARMUP + int(args.rate * args.seconds)))
        port = free_port()
        env = {**os.environ, "LIENTHONG_BOOTSTRAP_SERVERS": bootstrap, "LIENTHONG_STATE_DIR": str(tmp / "state"),
               "LIENTHONG_PAYMENT_SECRET": SECRET, "LIENTHONG_PAYMENT_PARTNER_CODE": PARTNER,
               "LIENTHONG_LOG_LEVEL": "WARNING", "LIENTHONG_LOG_FORMAT": "json"}  # fmt: skip
        with (tmp / "api.log").open("wb") as log:
            prof = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
            api = subprocess.Popen([sys.executable, *prof, "-m", "lienthong.cli", "api", "--port", str(port)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
            try:
                res = asyncio.run(measure(args, bootstrap, port, refs, api.pid))
            finally:
                api.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly (and cProfile writes its stats)
                api.wait(timeout=30)
    finally:
        if kafka is not None:
            kafka.stop()
    text = section(args, res, "4.1.1, one embedded KRaft node", time.monotonic() - began)
    print(text)
    if args.write:
        write_section(args.write, text)


if __name__ == "__main__":
    cli()
