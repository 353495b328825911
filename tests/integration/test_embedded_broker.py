"""`lienthong broker` starts a real Kafka that any client can use; the harness can start a 3-node cluster."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from lienthong.bus.embedded import EmbeddedKafka, free_port
from lienthong.bus.topics import TopicSpec, create_topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def lienthong(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lienthong.cli", *args, "--state-dir", str(state_dir)],
        capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip


async def roundtrip(
    bootstrap: str, topic: str, n: int, *, rf: int = 1, create: bool = True, start: int = 0
) -> list[bytes]:
    if create:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 3, rf)])
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    for i in range(start, start + n):
        await producer.send_and_wait(topic, f"m{i}".encode())
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    got: list[bytes] = []
    try:
        while len(got) < start + n:
            batch = await consumer.getmany(timeout_ms=5000)
            if not batch:
                break
            got += [r.value for recs in batch.values() for r in recs]
    finally:
        await consumer.stop()
    return got


async def test_cli_broker_start_prints_bootstrap_an_external_client_can_use(tmp_path: Path) -> None:
    port, controller = free_port(), free_port()
    started = lienthong("broker", "start", "--port", str(port), "--controller-port", str(controller),
                        state_dir=tmp_path)  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr
        assert f"bootstrap=127.0.0.1:{port}" in started.stdout
        # The controller listens where it was told (not port + 100).
        props = (tmp_path / "broker").rglob("server.properties")
        assert any(f"CONTROLLER://127.0.0.1:{controller}" in p.read_text() for p in props)
        status = lienthong("broker", "status", state_dir=tmp_path)
        assert status.returncode == 0 and "answering" in status.stdout
        got = await roundtrip(f"127.0.0.1:{port}", "external-client", 20)
        assert sorted(got) == sorted(f"m{i}".encode() for i in range(20))
    finally:
        stopped = lienthong("broker", "stop", state_dir=tmp_path)
    assert stopped.returncode == 0
    assert lienthong("broker", "status", state_dir=tmp_path).returncode == 1


def test_broker_start_on_a_taken_port_says_which_port_and_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = lienthong("broker", "start", "--port", str(port), state_dir=tmp_path)
    assert result.returncode == 1
    assert f"Port {port}" in result.stderr and "taken" in result.stderr


async def test_three_node_cluster_keeps_acked_records_when_a_node_is_killed(tmp_path: Path) -> None:
    cluster = EmbeddedKafka(tmp_path, port=free_port(), controller_port=free_port(), nodes=3, heap="384m")
    # free_port() gave one port; the launcher uses the next ones for nodes 2 and 3.
    bootstrap = cluster.start()
    try:
        first = await roundtrip(bootstrap, "replicated", 30, rf=3)
        assert len(first) == 30
        # lienthong's own topic creation with the default (-1) takes the cluster's replication factor.
        created = await create_topics(bootstrap, partitions=2, specs=[TopicSpec(
            "rf-default", key="k", description="d", payload="x.y", event_types=(), companions=False)])  # fmt: skip
        assert created == ["rf-default"]
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            [described] = await admin.describe_topics(["rf-default"])
        finally:
            await admin.close()
        assert {len(p["replicas"]) for p in described["partitions"]} == {3}
        cluster.stop_node(cluster.nodes[1], kill=True)
        alive = ",".join(f"127.0.0.1:{n.client}" for n in (cluster.nodes[0], cluster.nodes[2]))
        # acks=all with min ISR 2: writes go on with one node down, and nothing acked is lost.
        after = await roundtrip(alive, "replicated", 30, create=False, start=30)
        assert sorted(after) == sorted(f"m{i}".encode() for i in range(60))
    finally:
        cluster.stop()
