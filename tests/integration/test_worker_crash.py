"""A worker killed with SIGKILL mid-batch and restarted loses nothing and doubles no effect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from aiokafka import AIOKafkaProducer

from lienthong.audit.store import open_store
from lienthong.audit.verify import verify_chain
from lienthong.bus.selftest import make_message
from lienthong.testing import consume_all, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 3000


def start_worker(settings, topic: str, url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LIENTHONG_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "LIENTHONG_STATE_DIR": str(settings.state_dir),
        "LIENTHONG_CONSUMER_GROUP": settings.consumer_group,
        "LIENTHONG_CONSUME_BATCH_MAX": "200",
        "LIENTHONG_LOG_LEVEL": "WARNING",
    }
    code = (
        "import asyncio, sys\n"
        "from lienthong.settings import Settings\n"
        "from lienthong.app import run_selftest_worker\n"
        "asyncio.run(run_selftest_worker(Settings(), sys.argv[1], sys.argv[2]))\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, topic, url], env=env)


async def test_sigkill_mid_batch_then_restart_loses_nothing_and_doubles_no_effect(settings, topic, peer) -> None:
    recorder, url = peer
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    for i in range(N):
        value, headers = make_message(i, body_size=200)
        await producer.send(topic, value, key=f"selftest-{i:08d}".encode(), headers=headers)
    await producer.flush()
    await producer.stop()

    first = start_worker(settings, topic, url)
    try:
        await wait_for(lambda: len(recorder.applied) >= N // 3, timeout=60, what="a third of the effects")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    done_before_restart = len(recorder.applied)
    assert done_before_restart < N, "the kill must land mid-stream for this test to mean anything"

    second = start_worker(settings, topic, url)
    try:
        await wait_for(lambda: len(recorder.applied) == N, timeout=120, what="every effect after restart")
        outputs = await consume_all(settings.bootstrap_servers, f"{topic}.out", expect=N, timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    assert set(recorder.applied.values()) == {1}, "an effect was applied twice"
    # Output records may be re-published after the crash, but with the same derived ce_id: one per input.
    ids = {dict(r.headers)["ce_id"] for r in outputs}
    assert len(ids) == N
    store = open_store(settings.resolved_audit_dsn())
    await store.open()
    try:
        assert (await verify_chain(store)).ok
    finally:
        await store.close()
