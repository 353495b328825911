"""Operators redrive dead letters: new ids linked by causation, effects once, every action audited."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from lienthong.audit.verify import verify_chain
from lienthong.bus.selftest import SelfTestHandler, make_message
from lienthong.bus.worker import Flow, Worker
from lienthong.ops.dlq import DlqFilter, collect, redrive, summarise
from lienthong.testing import consume_all, wait_for

pytestmark = pytest.mark.integration


async def test_redrive_from_dlq_delivers_once_with_causation_link_and_audited_operator(
    settings, topic, audit, peer, idempotency
) -> None:
    recorder, url = peer
    recorder.down = True
    s = settings.model_copy(update={"retry_attempts": 0, "circuit_failure_threshold": 1000})
    producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    sent_ids = []
    for i in range(5):
        value, headers = make_message(i, body_size=50)
        sent_ids.append(dict(headers)["ce_id"].decode())
        await producer.send(topic, value, key=f"k{i}".encode(), headers=headers)
    await producer.flush()
    await producer.stop()

    handler = SelfTestHandler(peer_url=url, idempotency=idempotency, out_topic=f"{topic}.out")
    worker = Worker(Flow("selftest", topic, handler, peer="selftest-peer"), s, audit)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: worker.stats["dead_lettered"] == 5, timeout=30, what="5 dead letters")
        dead = await collect(s, topic, DlqFilter(reason="retries_exhausted"))
        assert len(dead) == 5
        assert summarise(dead) == {(topic, "retries_exhausted"): 5}
        only_two = await collect(s, topic, DlqFilter(dossier_code="selftest-00000002"))
        assert len(only_two) == 1

        recorder.down = False
        n = await redrive(s, dead, operator="chi.tran", reason="DVCQG back up", audit=audit, rate_per_s=1000)
        assert n == 5
        await wait_for(lambda: worker.stats["delivered"] == 5, timeout=30, what="5 redriven deliveries")
    finally:
        await worker.stop()
        await task
        await handler.close()

    assert len(recorder.applied) == 5 and set(recorder.applied.values()) == {1}
    redriven = await consume_all(s.bootstrap_servers, topic, expect=10)
    again = [dict(r.headers) for r in redriven[5:]] if len(redriven) == 10 else []
    by_cause = {h["causation_id"].decode(): h["ce_id"].decode() for h in (dict(r.headers) for r in redriven)
                if "causation_id" in h}  # fmt: skip
    assert set(by_cause) == set(sent_ids)
    assert all(new != old for old, new in by_cause.items())
    assert all(not any(k.startswith("lt_") for k in h) for h in again)
    actions = [r async for r in audit.store.records() if r.flow == "ops"]
    assert [a.outcome for a in actions].count("redriven") == 5
    assert all("chi.tran" in a.detail and "DVCQG back up" in a.detail for a in actions)
    assert (await verify_chain(audit.store)).ok


async def test_dry_run_filter_matches_nothing_outside_the_time_range(settings, topic) -> None:
    dead = await collect(settings, topic, DlqFilter(since_ms=0, until_ms=1))
    assert dead == []


# -- re-drive with an edit (RFC 6902 JSON Patch) ------------------------------------------------------------


async def lienthong_cli(settings, *args: str) -> tuple[int, str, str]:
    """The `lienthong` command as its own process (an operator's shell) on the test's broker and state dir."""
    import os
    import sys

    env = {**os.environ, "LIENTHONG_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "LIENTHONG_STATE_DIR": str(settings.state_dir), "LIENTHONG_OPERATOR": "an.nguyen"}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lienthong.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_dead_letter_redriven_with_a_patch_is_delivered_edited_once_and_audited(
    settings, topic, audit, peer, idempotency, tmp_path
) -> None:
    import hashlib
    import json

    import orjson

    from lienthong.bus.envelope import new_envelope

    recorder, url = peer
    # seq must be an integer: the handler refuses this payload for good (permanent -> DLQ).
    bad = orjson.dumps({"id": "selftest-patch-1", "seq": "bảy", "body": "x"})
    env = new_envelope(type="vn.gov.lienthong.selftest.v1", source="/lienthong/selftest", subject="selftest-patch-1")
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    await producer.send_and_wait(topic, bad, key=b"k", headers=env.to_headers())
    await producer.stop()

    handler = SelfTestHandler(peer_url=url, idempotency=idempotency, out_topic=f"{topic}.out")
    worker = Worker(Flow("selftest", topic, handler, peer="selftest-peer"), settings, audit)
    await worker.start()
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: worker.stats["dead_lettered"] == 1, timeout=30, what="the dead letter")
        [dead] = await collect(settings, topic, DlqFilter())
        position = f"{dead.topic}/{dead.partition}/{dead.offset}"

        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps([{"op": "remove", "path": "/no/such/field"}]))
        code, _, stderr = await lienthong_cli(settings, "dlq", "redrive", "--position", position, "--patch",
                                              str(wrong), "--why", "try")  # fmt: skip
        assert code == 2, stderr
        assert "nothing redriven" in stderr and "does not apply" in stderr

        fix = tmp_path / "fix.json"
        fix.write_text(json.dumps([{"op": "replace", "path": "/seq", "value": 7}]))
        code, _, stderr = await lienthong_cli(settings, "dlq", "redrive", "--position", position, "--patch",
                                              str(fix), "--why", "seq typed as text by the desk")  # fmt: skip
        assert code == 0, stderr
        await wait_for(lambda: worker.stats["delivered"] == 1, timeout=30, what="the edited record delivered")
    finally:
        await worker.stop()
        await task
        await handler.close()

    assert sum(recorder.applied.values()) == 1
    records = await consume_all(settings.bootstrap_servers, topic, expect=2)
    assert len(records) == 2  # the original and one edited copy: the failed patch published nothing
    edited = records[1]
    assert orjson.loads(edited.value)["seq"] == 7
    headers = dict(edited.headers)
    assert headers["ce_causationid"] == env.id.encode()
    assert headers["ce_id"] != env.id.encode()

    actions = [r async for r in audit.store.records() if r.outcome == "redriven_edited"]
    assert len(actions) == 1
    detail = json.loads(actions[0].detail)
    assert detail["original_digest"] == hashlib.sha256(bad).hexdigest()
    assert detail["operator"] == "an.nguyen"
    assert detail["reason"] == "seq typed as text by the desk"
    assert detail["original_id"] == env.id
    assert detail["patch"]["ops"] == [
        {"op": "replace", "path": "/seq", "value_sha256": hashlib.sha256(b"7").hexdigest()}
    ]
    assert (await verify_chain(audit.store)).ok
