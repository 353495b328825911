"""Test helpers for lienthong and for systems that integrate with it (like `structlog.testing`).

- `EmbeddedKafka` (re-exported): a real Apache Kafka broker or 3-node cluster on loopback.
- `ServedApp`: runs any ASGI app (lienthong's API, a sandbox peer) under a real uvicorn server on a
  loopback port, in the test's own event loop.
- `RecordingPeer`: a tiny HTTP peer that applies each `Idempotency-Key` once and counts every call;
  it can be told to be down or to fail a message's first N calls.
- `wait_for`: poll a condition with a timeout (tests never sleep to synchronise).
- `consume_all`: read a topic from the beginning into a list.

None of these mock lienthong's own components; they stand in for the world around it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from fastapi import FastAPI, Request, Response

from lienthong.bus.embedded import EmbeddedKafka, free_port

__all__ = [
    "EmbeddedKafka",
    "PostgresCluster",
    "RecordingPeer",
    "ServedApp",
    "consume_all",
    "free_port",
    "wait_for",
]


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], *, timeout: float = 30.0, interval: float = 0.05,
    what: str = "condition",
) -> None:  # fmt: skip
    """Wait until `condition()` is true; raise TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


class ServedApp:
    """An ASGI app under uvicorn on 127.0.0.1, as an async context manager (`url` once started)."""

    def __init__(
        self, app: Any, port: int | None = None, *, header_timeout_s: float = 10.0, body_timeout_s: float = 10.0
    ) -> None:
        from lienthong.http_server import uvicorn_options

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                **uvicorn_options(header_timeout_s, body_timeout_s))  # fmt: skip
        self.server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> ServedApp:
        """Start serving and wait until the socket listens."""
        self.server.should_exit = False
        self._task = asyncio.get_running_loop().create_task(self.server.serve())
        await wait_for(lambda: self.server.started or self._task is None or self._task.done(), timeout=20,
                       what=f"uvicorn on port {self.port}")  # fmt: skip
        if self._task.done():
            self._task.result()
        return self

    async def stop(self) -> None:
        """Stop serving (connections are refused afterwards)."""
        self.server.should_exit = True
        if self._task is not None:
            await self._task
        self.server.started = False

    async def __aenter__(self) -> ServedApp:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class RecordingPeer:
    """An idempotent HTTP peer: `POST /effects` with an `Idempotency-Key` applies the effect once."""

    def __init__(self) -> None:
        self.applied: Counter[str] = Counter()
        """Effects applied per key (an idempotent peer keeps each at 1)."""
        self.calls: Counter[str] = Counter()
        """Every call per key, failed and repeated ones included."""
        self.down = False
        """While true, every call answers 503."""
        self.app = FastAPI()
        self.app.post("/effects")(self._effect)

    async def _effect(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "")
        body = await request.json()
        self.calls[key] += 1
        if self.down:
            return Response(status_code=503)
        if not key:
            return Response("missing Idempotency-Key", status_code=400)
        if self.calls[key] <= int(body.get("fail_times", 0)):
            return Response(status_code=503)
        if self.applied[key] == 0:
            self.applied[key] = 1
        return Response(f'{{"accepted": "{body.get("id", "")}"}}', media_type="application/json")


async def consume_all(bootstrap: str, topic: str, *, expect: int, timeout: float = 60.0) -> list[ConsumerRecord]:
    """Read `topic` from the beginning until `expect` records arrived (or `timeout`)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        group_id=None, isolation_level="read_committed",
    )  # fmt: skip
    await consumer.start()
    out: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


class PostgresCluster:
    """A throw-away PostgreSQL cluster on a loopback port, from the Debian packages' binaries.

    It does not install PostgreSQL (`scripts/ensure-postgres.sh` does, from Debian's packages); it runs
    `initdb` and `pg_ctl` as the `postgres` user when the caller is root (the server refuses root).
    """

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.base = base
        self.port = port or free_port()
        self.data = base / "pgdata"
        self.bin = self._find_bin()

    @staticmethod
    def _find_bin() -> Path:
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
        if not candidates:
            raise RuntimeError(
                "PostgreSQL server binaries not found under /usr/lib/postgresql: run "
                "`scripts/ensure-postgres.sh` (apt-get install postgresql) or set LIENTHONG_TEST_PG_DSN."
            )
        return candidates[0].parent

    def _run(self, *argv: str) -> None:
        cmd = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {proc.stderr.strip()[-800:]}")

    @property
    def dsn(self) -> str:
        """DSN of the superuser on the cluster's `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        """initdb (trust auth on loopback only), start, wait; returns the DSN."""
        self.base.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.data / "server.log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=on", "start")  # fmt: skip
        return self.dsn

    def stop(self) -> None:
        """Stop the server (fast shutdown)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
