"""Dossier sync: backlog drain into DVCQG, and one-stop webhook -> DVCQG latency at a steady rate.

Every peer is a process of its own, started the way it is deployed: the embedded Kafka broker, the DVCQG
sandbox (`python -m lienthong.connectors.dvcqg.sandbox`, uvicorn), the dossier-sync worker(s)
(`python -m lienthong.cli run --flows dossier_sync`, configured by LIENTHONG_* variables) and, for the
latency run, lienthong's API (`python -m lienthong.cli api`). The benchmark process only produces,
posts, polls and checks.
1. drain: with DVCQG down, `--updates` dossier updates are queued on `dossier.events` (N/4 dossiers x 4
   versions, randomly interleaved, each dossier's versions in order); DVCQG comes back up and the workers
   start. Timed until the group has committed every record; then every dossier's item and steps in the
   sandbox are compared with the final version. Run again, 1 worker, under cProfile for the profile.
2. latency: one-stop simulator events posted open-loop at `--rate`/s for `--seconds` (after a warm-up).
   Latency of an event = first time the sandbox stored that version's item, or a newer one
   (`history[].received_at`), minus the time its POST started.

Reproduce (starts an embedded Kafka from the cached Maven jars):
    .venv/bin/python bench/dossier_sync.py --updates 100000 --rate 200 --seconds 30 --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import pstats
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from bus_throughput import machine  # sibling module (run as `python bench/dossier_sync.py`)

from lienthong.bus.envelope import new_id
from lienthong.bus.topics import create_topics, partitions_of
from lienthong.connectors.onestop.sandbox import OnestopSimulator
from lienthong.connectors.onestop.worker import dossier_event_record
from lienthong.dossier_demo import start_groups_at_end
from lienthong.mappings.dvcqg import dossier_to_dvcqg, steps_to_dvcqg
from lienthong.mappings.identifiers import DossierCode
from lienthong.mappings.onestop import OnestopDossierEventIn, onestop_event_to_canonical
from lienthong.mappings.synthetic import synthetic_dossier
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import Dossier, DossierEvent, DossierEventKind, DossierStatus, ProcessingStep
from lienthong.settings import Settings
from lienthong.testing import EmbeddedKafka, free_port

TOPIC, AGENCY, VERSIONS, BASES = "dossier.events", "000.00.12.H52", 4, 256
START = datetime(2025, 8, 1, 7, 30, tzinfo=VN_TZ)
PY = sys.executable
SORTED = orjson.OPT_SORT_KEYS


def _log(path: Path) -> BinaryIO:
    return path.open("ab")


async def spawn(argv: list[str], env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with _log(log) as out:
        return await asyncio.create_subprocess_exec(*argv, env=os.environ | env, stdout=out, stderr=out,
                                                    stdin=asyncio.subprocess.DEVNULL)  # fmt: skip


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM (the worker finishes its batch and commits), kill after 60 s."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lifecycle(base: Dossier) -> list[Dossier]:
    """Versions 1..4 of a dossier: accepted, processing, one more processing step, finished."""
    out = [base]
    for status in (DossierStatus.PROCESSING, DossierStatus.PROCESSING, DossierStatus.FINISHED):
        d, at = out[-1], out[-1].steps[-1].processed_at + timedelta(hours=2)
        step = ProcessingStep(handler_name="Lê Văn Nam", title="Chuyên viên", processed_at=at, status=status,
                              department="Phòng chuyên môn", content="Xử lý hồ sơ", started_at=at - timedelta(hours=2))  # fmt: skip
        update: dict[str, Any] = {"status": status, "version": d.version + 1, "steps": (*d.steps, step)}
        out.append(d.model_copy(update=update | ({"finished_at": at} if status is DossierStatus.FINISHED else {})))
    return out


def backlog(updates: int, seed: int) -> tuple[list[tuple[bytes, bytes, Any]], dict[str, int], list[tuple[bytes, bytes]]]:
    """(key, value, headers) records; code -> template index; template (code, expected final state JSON).

    BASES synthetic dossiers give the templates; dossier i is template i % BASES with its own code."""
    rng, n = random.Random(seed), updates // VERSIONS
    codes = [DossierCode(AGENCY, (START + timedelta(days=i // 9999)).date(), i % 9999 + 1).value for i in range(n)]
    records: list[list[tuple[bytes, Any]]] = []
    finals: list[tuple[bytes, bytes]] = []
    for j in range(min(BASES, n)):
        channel = rng.choice(("counter", "online", "post"))
        base = synthetic_dossier(rng, agency_code=AGENCY, received_at=START + timedelta(minutes=j), seq=j + 1,
                                 channel=channel)  # fmt: skip
        versions = lifecycle(base)
        events = [DossierEvent(event_id=f"evt-{d.code}-v{d.version}", occurred_at=d.steps[-1].processed_at,
                               kind=DossierEventKind.CREATED if d.version == 1 else DossierEventKind.UPDATED,
                               source="onestop", dossier=d) for d in versions]  # fmt: skip
        records.append([dossier_event_record(e) for e in events])
        final = {"item": dossier_to_dvcqg(versions[-1]), "steps": steps_to_dvcqg(versions[-1])}
        finals.append((base.code.encode(), orjson.dumps(final)))
    order = [i for i in range(n) for _ in range(VERSIONS)]
    rng.shuffle(order)
    seen: dict[int, int] = defaultdict(int)
    out: list[tuple[bytes, bytes, Any]] = []
    for i in order:
        code, (value, env) = codes[i], records[i % BASES][seen[i]]
        seen[i] += 1
        eid = new_id()
        value = value.replace(finals[i % BASES][0], code.encode())
        out.append((code.encode(), value, replace(env, id=eid, correlation_id=eid, subject=code).to_headers()))
    return out, {code: i % BASES for i, code in enumerate(codes)}, finals


async def produce(bootstrap: str, records: list[tuple[bytes, bytes, Any]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=262144)
    await producer.start()
    try:
        t0 = time.perf_counter()
        for start in range(0, len(records), 5000):
            futs = [await producer.send(TOPIC, v, key=k, headers=h) for k, v, h in records[start : start + 5000]]
            await asyncio.gather(*futs)
        return len(records) / (time.perf_counter() - t0)
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(TOPIC, p) for p in await partitions_of(consumer, TOPIC)]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def caught_up(admin: AIOKafkaAdminClient, group: str, ends: dict[TopicPartition, int]) -> bool:
    try:
        done = await admin.list_consumer_group_offsets(group)
    except KafkaError:  # no coordinator yet: the group has not started
        return False
    return all(done[tp].offset >= end for tp, end in ends.items() if end > 0 and tp in done) and all(
        tp in done for tp, end in ends.items() if end > 0)  # fmt: skip


async def wait_http(http: httpx.AsyncClient, url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (await http.get(url)).status_code == 200:
                return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


async def post_raw(pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], port: int, path: str,
                   body: bytes) -> int:  # fmt: skip
    """One HTTP/1.1 POST on a kept-alive connection of `pool` (a new one when all are busy): the load
    generator must cost far less CPU than the server it measures (httpx took ~3 ms per request here)."""
    while True:
        reused = bool(pool)
        reader, writer = pool.pop() if pool else await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))  # fmt: skip
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            break
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            if not reused:  # an idle kept-alive connection may have been closed by the server: retry
                raise
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    await reader.readexactly(int(length[1]) if length else 0)
    pool.append((reader, writer))
    return int(head[9:12])


class Run:
    """One bench run: broker, DVCQG sandbox, throw-away directories, extra LIENTHONG_* variables."""

    def __init__(self, args: argparse.Namespace, bootstrap: str, tmp: Path, http: httpx.AsyncClient) -> None:
        self.args, self.bootstrap, self.tmp, self.http = args, bootstrap, tmp, http
        self.dvcqg = f"http://127.0.0.1:{free_port()}"
        self.pg_dsn = os.environ.get("LIENTHONG_TEST_PG_DSN", "")
        self.sandbox: asyncio.subprocess.Process
        self.env = dict(kv.split("=", 1) for kv in args.env)
        self.broker_pid = int((tmp / "broker" / "node-1" / "kafka.pid").read_text()) if args.bootstrap == "" else 0

    def worker_env(self, name: str, group: str, state_dsn: str) -> dict[str, str]:
        (self.tmp / name).mkdir()
        env = {"LIENTHONG_BOOTSTRAP_SERVERS": self.bootstrap, "LIENTHONG_STATE_DIR": str(self.tmp / name),
               "LIENTHONG_CONSUMER_GROUP": group, "LIENTHONG_DVCQG_URL": self.dvcqg}  # fmt: skip
        return env | ({"LIENTHONG_DVCQG_STATE_DSN": state_dsn} if state_dsn else {}) | self.env

    async def pg(self, sql: str) -> None:
        import asyncpg

        admin = await asyncpg.connect(self.pg_dsn)
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    def cpu(self, procs: dict[str, int]) -> dict[str, float]:
        both = procs | ({"broker": self.broker_pid} if self.broker_pid else {}) | {"bench": os.getpid()}
        return {k: cpu_s(pid) for k, pid in both.items()} | {"wall": time.perf_counter()}

    async def drain(self, workers: int, ends: dict[TopicPartition, int], template: dict[str, int],
                    finals: list[tuple[bytes, bytes]], profile: Path | None = None) -> dict[str, Any]:  # fmt: skip
        await self.http.post(f"{self.dvcqg}/_sandbox/reset")
        group, tag = f"drain-{uuid.uuid4().hex[:6]}", "prof" if profile else f"w{workers}"
        db = f"lienthong_bench_{uuid.uuid4().hex[:8]}" if workers > 1 else ""  # shared sync state: PostgreSQL
        state = urlunsplit(urlsplit(self.pg_dsn)._replace(path=f"/{db}")) if db else ""
        await self.pg(f"CREATE DATABASE {db}") if db else None
        argv = [PY, *(["-m", "cProfile", "-o", str(profile)] if profile else []), "-m", "lienthong.cli", "run",
                "--flows", "dossier_sync"]  # fmt: skip
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        t0, first, last_poll = time.perf_counter(), 0.0, 0.0
        procs = [await spawn(argv, self.worker_env(f"{tag}-{i}", group, state), self.tmp / f"{tag}-{i}.log")
                 for i in range(workers)]  # fmt: skip
        c0 = self.cpu({f"worker {i}": p.pid for i, p in enumerate(procs)} | {"sandbox": self.sandbox.pid})
        try:
            while not await caught_up(admin, f"{group}.dossier_sync", ends):
                if any(p.returncode is not None for p in procs) or time.perf_counter() - t0 > self.args.timeout:
                    raise RuntimeError(f"drain did not finish; see {self.tmp}/{tag}-*.log")
                if not first and (await self.stats())["calls_by_service"].get("DongBoHoSoMC"):
                    first = time.perf_counter()
                await asyncio.sleep(0.1)
            last_poll = time.perf_counter()
            c1 = self.cpu({f"worker {i}": p.pid for i, p in enumerate(procs)} | {"sandbox": self.sandbox.pid})
        finally:
            await admin.close()
            for p in procs:
                await stop(p)
            await self.pg(f"DROP DATABASE {db}") if db else None
        stats = await self.stats()
        held = orjson.loads((await self.http.get(f"{self.dvcqg}/_sandbox/dossiers", timeout=120)).content)
        bad = sum(1 for code, i in template.items() if code not in held or orjson.loads(
            finals[i][1].replace(finals[i][0], code.encode())) != {k: held[code][k] for k in ("item", "steps")})  # fmt: skip
        n = sum(ends.values())
        wall, busy = last_poll - t0, last_poll - (first or t0)
        return {"workers": workers, "wall": wall, "busy": busy, "rate": n / wall, "rate_busy": n / busy,
                "dossiers_s": len(template) / busy, "bad": bad, "calls": stats["calls_by_service"],
                "errors": {k: v for k, v in stats["replies_by_error_code"].items() if k != "0"},
                "writes": sum(h["writes"] for h in held.values()), "state": "PostgreSQL" if state else "SQLite",
                "cpu": {k: (c1[k] - c0[k]) / (c1["wall"] - c0["wall"]) for k in c0 if k != "wall"}}  # fmt: skip

    async def stats(self) -> dict[str, Any]:
        return dict((await self.http.get(f"{self.dvcqg}/_sandbox/stats")).json())

    async def latency(self, extra: dict[str, str]) -> dict[str, Any]:
        """Open-loop webhook posts at `--rate`/s; per-event POST start -> DVCQG holds that version (or newer)."""
        args, env0 = self.args, self.env
        self.env = env0 | extra
        await self.http.post(f"{self.dvcqg}/_sandbox/reset")
        group, api = f"lat-{uuid.uuid4().hex[:6]}", f"http://127.0.0.1:{free_port()}"
        await start_groups_at_end(Settings(bootstrap_servers=self.bootstrap), [TOPIC], [f"{group}.dossier_sync"])
        tag = f"lat-{len(list(self.tmp.glob('lat-*')))}"
        worker = await spawn([PY, "-m", "lienthong.cli", "run", "--flows", "dossier_sync"],
                             self.worker_env(f"{tag}-worker", group, ""), self.tmp / f"{tag}-worker.log")  # fmt: skip
        server = await spawn([PY, "-m", "lienthong.cli", "api", "--port", api.rsplit(":", 1)[1]],
                             self.worker_env(f"{tag}-api", group, ""), self.tmp / f"{tag}-api.log")  # fmt: skip
        self.env = env0
        n, warm = args.rate * args.seconds, 100
        sim = OnestopSimulator(n // 3 + 200, seed=11, run_id=tag)
        bodies = list(islice(sim.events(), warm + n))
        want: dict[str, dict[bytes, int]] = defaultdict(dict)  # code -> item (sorted JSON) -> highest version
        for body in bodies:
            ev = onestop_event_to_canonical(OnestopDossierEventIn.model_validate(body))
            item = orjson.dumps(dossier_to_dvcqg(ev.dossier), option=SORTED)
            want[ev.dossier.code][item] = max(want[ev.dossier.code].get(item, 0), ev.dossier.version)
        sent: dict[tuple[str, int], float] = {}
        accepted: list[float] = []
        late: list[float] = []
        try:
            await wait_http(self.http, f"{api}/readyz")
            pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            port = int(api.rsplit(":", 1)[1])

            async def post(i: int, body: dict[str, Any], at: float | None) -> None:
                raw = orjson.dumps(body)
                if at is not None:
                    await asyncio.sleep(max(0.0, at - time.perf_counter()))
                    late.append(time.perf_counter() - at)
                t = time.time()
                status = await post_raw(pool, port, "/onestop/dossier-events", raw)
                if status == 202:
                    sent[(body["dossier"]["MaHoSo"], body["version"])] = t
                    accepted.append(time.time() - t) if at is not None else None

            for i, body in enumerate(bodies[:warm]):  # warm-up: the worker joins its group, logs in
                await post(i, body, None)
            while (await self.stats())["calls_by_service"].get("DongBoHoSoMC", 0) == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)
            c0 = self.cpu({"worker": worker.pid, "api": server.pid, "sandbox": self.sandbox.pid})
            t0 = time.perf_counter()
            await asyncio.gather(*(post(warm + i, b, t0 + i / args.rate) for i, b in enumerate(bodies[warm:])))
            c1 = self.cpu({"worker": worker.pid, "api": server.pid, "sandbox": self.sandbox.pid})
            for _, w in pool:
                w.close()
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                ends = await end_offsets(self.bootstrap)
                deadline = time.monotonic() + 60
                while not await caught_up(admin, f"{group}.dossier_sync", ends) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
            finally:
                await admin.close()
        finally:
            await stop(worker)
            await stop(server)
        sem = asyncio.Semaphore(16)

        async def history(code: str) -> list[tuple[float, int]]:
            async with sem:
                r = await self.http.get(f"{self.dvcqg}/_sandbox/dossiers/{code}")
            rows = r.json()["history"] if r.status_code == 200 else []
            return [(h["received_at"], want[code].get(orjson.dumps(h["item"], option=SORTED), -1)) for h in rows]

        codes = sorted(want)
        held = dict(zip(codes, await asyncio.gather(*(history(c) for c in codes)), strict=True))
        e2e, missing = [], 0
        for body in bodies[warm:]:
            code, version = body["dossier"]["MaHoSo"], body["version"]
            if (code, version) not in sent:
                continue
            t = min((at for at, v in held[code] if v >= version), default=None)
            missing += t is None
            e2e.append(t - sent[(code, version)]) if t is not None else None
        cpu = {k: (c1[k] - c0[k]) / (c1["wall"] - c0["wall"]) for k in c0 if k != "wall"}
        return {"n": n, "sent": len(accepted), "e2e": pct(e2e), "accepted": pct(accepted), "missing": missing,
                "late_p99": pct(late)["p99"], "env": extra, "cpu": cpu,
                "writes": sum(1 for rows in held.values() for _ in rows)}  # fmt: skip


def pct(xs: list[float]) -> dict[str, float]:
    s = sorted(xs) or [float("nan")]
    return {f"p{q}": s[min(len(s) - 1, int(len(s) * q / 100))] * 1000 for q in (50, 95, 99)} | {"max": s[-1] * 1000}


def profile_report(path: Path, k: int) -> tuple[list[str], str, list[str]]:
    """Top own-time functions, own time by package, top lienthong functions by cumulative time."""
    raw: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total, by_pkg = sum(v[2] for v in raw.values()) or 1.0, defaultdict(float)
    short = lambda f: re.sub(r".*/(site-packages|lib/python3[.0-9]+|main)/", "", f)  # noqa: E731
    for (file, _, _), v in raw.items():
        m = re.search(r"site-packages/([^/.]+)|/(lienthong/(?:connectors/)?[a-z_]+)|/python3\.\d+/(asyncio)/", file)
        by_pkg[next(g for g in m.groups() if g) if m else "stdlib/builtins"] += v[2] / total
    top = sorted(raw.items(), key=lambda kv: -kv[1][2])[:k]
    lines = [f"{v[2] / total:5.1%}  {short(f)}:{ln} {fn} ({v[1]} calls)" for (f, ln, fn), v in top]
    lt = sorted(((key, v) for key, v in raw.items() if "/lienthong/" in key[0] and "lambda" not in key[2]),
                key=lambda kv: -kv[1][3])[:k]  # fmt: skip
    cum = [f"{v[3] / total:5.1%}  {short(f)}:{ln} {fn} ({v[1]} calls)" for (f, ln, fn), v in lt]
    return lines, ", ".join(f"{p} {s:.0%}" for p, s in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:8]), cum


async def main(args: argparse.Namespace, bootstrap: str, tmp: Path, broker: str) -> str:
    load0, t_start = os.getloadavg()[0], time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as http:
        run = Run(args, bootstrap, tmp, http)
        await create_topics(bootstrap, partitions=6)
        port = run.dvcqg.rsplit(":", 1)[1]
        run.sandbox = await spawn([PY, "-m", "lienthong.connectors.dvcqg.sandbox", "--port", port], {},
                                  tmp / "sandbox.log")  # fmt: skip
        try:
            await wait_http(http, f"{run.dvcqg}/_sandbox/stats")
            await http.post(f"{run.dvcqg}/_sandbox/down", json={"down": True})
            t = time.perf_counter()
            records, template, finals = backlog(args.updates, seed=5)
            gen_s, size = time.perf_counter() - t, sum(len(v) for _, v, _ in records) / len(records)
            prod = await produce(bootstrap, records)
            del records
            ends = await end_offsets(bootstrap)
            print(f"queued {sum(ends.values())} updates ({size:.0f} B) in {gen_s:.1f} s + {prod:,.0f} msgs/s")
            await http.post(f"{run.dvcqg}/_sandbox/down", json={"down": False})
            counts = [1] + ([args.workers] if args.workers > 1 and run.pg_dsn else [])
            if args.workers > 1 and not run.pg_dsn:
                print("--workers > 1 needs LIENTHONG_TEST_PG_DSN (shared sync state): running 1 worker only")
            drains = []
            for w in counts:
                drains.append(await run.drain(w, ends, template, finals))
                print(f"drain, {w} worker(s): {drains[-1]['rate']:,.0f} updates/s ({drains[-1]})")
            prof = tmp / "worker.prof"
            pdrain = await run.drain(1, ends, template, finals, profile=prof)
            print(f"drain under cProfile: {pdrain['rate']:,.0f} updates/s")
            tune = dict(kv.split("=", 1) for kv in args.tune)
            lats = [await run.latency({})] + ([await run.latency(tune)] if tune else [])
            for lat in lats:
                print(f"latency {lat['env'] or 'defaults'}: e2e {lat['e2e']}, 202 {lat['accepted']}")
        finally:
            await stop(run.sandbox)
    return section(args, broker, load0, os.getloadavg()[0], time.perf_counter() - t_start, size, prod, drains,
                   pdrain, prof, lats)  # fmt: skip


def section(args: argparse.Namespace, broker: str, load0: float, load1: float, total_s: float, size: float,
            prod: float, drains: list[dict[str, Any]], pdrain: dict[str, Any], prof: Path,
            lats: list[dict[str, Any]]) -> str:  # fmt: skip
    return f"{drains} {pdrain} {lats} {profile_report(prof, 14)}"


def write_section(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    m = re.search(r"^## Dossier sync\n.*?(?=^## |\Z)", old, flags=re.S | re.M)
    new = old[: m.start()] + text + "\n" + old[m.end() :] if m else old.rstrip("\n") + "\n\n" + text
    path.write_text(new.rstrip("\n") + "\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--updates", type=int, default=100_000, help="dossier updates queued for the drain (4 per dossier)")
    p.add_argument("--rate", type=int, default=200, help="webhook events per second in the latency run")
    p.add_argument("--seconds", type=int, default=30, help="length of the latency run")
    p.add_argument("--workers", type=int, default=1, help="worker processes (>1 needs LIENTHONG_TEST_PG_DSN)")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the worker and API processes")
    p.add_argument("--tune", action="append", default=[], help="KEY=VALUE: a second latency run with these too")
    p.add_argument("--timeout", type=float, default=600, help="longest drain, seconds")
    p.add_argument("--bootstrap", default="", help="use this broker instead of starting an embedded one")
    p.add_argument("--write", type=Path, help="insert/replace the '## Dossier sync' section of this file")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as d:
        kafka = None if a.bootstrap else EmbeddedKafka(Path(d), port=free_port(), controller_port=free_port())
        try:
            boot = a.bootstrap or kafka.start()  # type: ignore[union-attr]
            broker = f"{kafka.version}, one embedded KRaft node" if kafka else f"broker at {a.bootstrap}"
            text = asyncio.run(main(a, boot, Path(d), broker))
        finally:
            if kafka:
                kafka.stop()
    print(text)
    if a.write:
        write_section(a.write, text)
        print(f"wrote the '## Dossier sync' section of {a.write}")
