"""`lienthong demo` on a 3-node cluster survives one broker killed (SIGKILL) mid-run: the topics it creates
take the cluster's replication factor (3), so the run ends with 0 mismatches and 0 dead letters."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from lienthong.bus.embedded import EmbeddedKafka, free_port
from lienthong.testing import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_run(n: int) -> int:
    """A port p with p .. p+n-1 all free (the launcher gives node i the port p+i)."""
    for _ in range(50):
        base = free_port()
        try:
            for port in range(base, base + n):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no run of {n} free ports found")


async def records_on(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, request_timeout_ms=5000)
    try:
        await consumer.start()
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts]) if parts else {}
        return sum(ends.values())
    except Exception:  # the cluster is still starting or the topic not created yet
        return 0
    finally:
        await consumer.stop()


@pytest.mark.timeout(900)
async def test_demo_survives_a_broker_killed_mid_run(tmp_path: Path) -> None:
    cluster = EmbeddedKafka(tmp_path / "cluster", port=free_run(3), controller_port=free_run(3), nodes=3, heap="384m")
    bootstrap = cluster.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env |= {"LIENTHONG_STATE_DIR": str(tmp_path / "state"), "LIENTHONG_METRICS_PORT": "0"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lienthong.cli",
        "demo",
        "--bootstrap",
        bootstrap,
        "--dossiers",
        "300",
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        # Kill a node once the workload is flowing (a few hundred events on dossier.events).
        async def flowing() -> bool:
            return await records_on(bootstrap, "dossier.events") >= 300

        await wait_for(flowing, timeout=300, interval=0.5, what="the demo's workload on dossier.events")
        cluster.stop_node(cluster.nodes[1], kill=True)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=600)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        cluster.stop()
    assert proc.returncode == 0, stderr.decode()[-3000:]
    summary = json.loads(stdout.decode().strip().splitlines()[-1])
    assert summary["mismatches"] == 0
    assert summary["dead_lettered"] == 0
    assert summary["audit_verified"] is True
