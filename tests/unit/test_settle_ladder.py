"""The worker's one decision ladder (`Worker._settle`), record by record, without a broker.

Each outcome of a handler takes exactly one route and leaves exactly one worker audit entry: delivered
(outputs published), retry topic (with a not-before time), business rejection (a status event on the
flow's outcomes topic), or the DLQ (original bytes, error headers).
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from aiokafka import ConsumerRecord

from lienthong.audit.record import AuditEntry, digest
from lienthong.bus.envelope import Envelope, new_envelope
from lienthong.bus.producer import Outbound
from lienthong.bus.worker import Flow, Inbound, Outcome, Worker
from lienthong.errors import BusinessRejection, PermanentError, TransientError
from lienthong.settings import Settings

TOPIC = "orders"
VALUE = b'{"n": 1}'


async def _no_handler(batch: object) -> list[object]:
    raise AssertionError("the ladder never calls the handler")


def worker(tmp_path: Path, *, retry_attempts: int = 3, **flow_fields: object) -> Worker:
    settings = Settings(state_dir=tmp_path, retry_attempts=retry_attempts, retry_base_s=10.0, retry_max_s=60.0)
    flow = Flow(name="orders_sync", topic=TOPIC, handler=_no_handler, peer="shop", **flow_fields)  # type: ignore[arg-type]
    return Worker(flow, settings, audit=None)  # type: ignore[arg-type] - the ladder only builds entries


def record(env: Envelope, *, attempt: int = 0, topic: str = TOPIC) -> tuple[ConsumerRecord, Inbound]:
    headers = [*env.to_headers(), *([("lt_attempt", str(attempt).encode())] if attempt else [])]
    rec = ConsumerRecord(
        topic=topic, partition=2, offset=41, timestamp=0, timestamp_type=0, key=b"K-1", value=VALUE,
        checksum=None, serialized_key_size=3, serialized_value_size=len(VALUE), headers=headers,
    )  # fmt: skip
    return rec, Inbound(rec, env, attempt)


def settle(w: Worker, rec: ConsumerRecord, msg: Inbound, result: object) -> tuple[list[Outbound], list[AuditEntry]]:
    publish: list[Outbound] = []
    audit: list[AuditEntry] = []
    w._settle(rec, msg, result, publish, audit)  # type: ignore[arg-type]
    return publish, audit


@pytest.fixture
def env() -> Envelope:
    return new_envelope(type="vn.gov.lienthong.order.placed.v1", source="/test", subject="K-1")


async def test_success_publishes_the_outputs_and_audits_delivered(tmp_path, env) -> None:
    w = worker(tmp_path)
    rec, msg = record(env)
    out = Outbound("orders.out", b"x", b"K-1", [])
    peer_entry = AuditEntry(flow="orders_sync", direction="out", peer="shop", outcome="sent", dossier_code="K-1",
                            correlation_id="", event_type="", digest="d", detail={})  # fmt: skip
    publish, audit = settle(w, rec, msg, Outcome(publish=[out], audit=[peer_entry], result="delivered"))
    assert publish == [out]
    assert [a.outcome for a in audit] == ["sent", "delivered"]
    assert audit[-1].detail == {"topic": TOPIC, "partition": 2, "offset": 41}
    assert audit[-1].digest == digest(VALUE)
    assert w.stats["delivered"] == 1


async def test_a_transient_failure_goes_to_the_retry_topic_with_a_not_before_time(tmp_path, env) -> None:
    w = worker(tmp_path)
    rec, msg = record(env)
    before = time.time() * 1000
    publish, audit = settle(w, rec, msg, TransientError("timeout", peer="shop"))
    [retry] = publish
    headers = dict(retry.headers)
    assert retry.topic == "orders.retry"
    assert (retry.value, retry.key) == (VALUE, b"K-1")
    assert headers["lt_attempt"] == b"1"
    # Attempt 1 waits at most the base delay (10 s, full jitter), never less than now.
    assert before <= int(headers["lt_not_before"]) <= before + 10_000 + 1000
    assert [a.outcome for a in audit] == ["retried"]
    assert w.stats["retried"] == 1


async def test_a_transient_failure_past_the_last_round_is_dead_lettered_as_retries_exhausted(tmp_path, env) -> None:
    w = worker(tmp_path, retry_attempts=3)
    rec, msg = record(env, attempt=3, topic="orders.retry")
    publish, audit = settle(w, rec, msg, TransientError("still down", peer="shop"))
    [dead] = publish
    headers = dict(dead.headers)
    assert dead.topic == "orders.dlq"
    assert dead.value == VALUE
    assert headers["lt_error_class"] == b"retries_exhausted"
    assert headers["lt_attempt"] == b"4"
    assert headers["lt_source_topic"] == b"orders.retry"
    assert headers["lt_source_offset"] == b"41"
    assert headers["ce_id"] == env.id.encode()  # the original headers stay
    assert [a.outcome for a in audit] == ["dead_lettered"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [(PermanentError("HTTP 400", peer="shop"), b"permanent"), (KeyError("bug"), b"unexpected")],
    ids=["permanent", "handler-bug"],
)
async def test_a_permanent_failure_or_a_bug_goes_straight_to_the_dlq(tmp_path, env, error, reason) -> None:
    w = worker(tmp_path)
    rec, msg = record(env)
    publish, audit = settle(w, rec, msg, error)
    assert [a.outcome for a in audit] == ["dead_lettered"]
    [dead] = publish
    assert dead.topic == "orders.dlq"
    assert dict(dead.headers)["lt_error_class"] == reason
    assert dict(dead.headers)["lt_attempt"] == b"1"
    assert w.stats == {**w.stats, "dead_lettered": 1, "retried": 0}


async def test_a_business_rejection_is_a_status_event_on_the_flows_outcomes_topic(tmp_path, env) -> None:
    w = worker(tmp_path, rejection_topic="orders.outcomes", rejection_type="vn.gov.lienthong.order.rejected.v1",
               subject_is_dossier=False)  # fmt: skip
    rec, msg = record(env)
    publish, audit = settle(w, rec, msg, BusinessRejection("amount differs", peer="shop", code="07"))
    [event] = publish
    headers = dict(event.headers)
    body = orjson.loads(event.value)
    assert event.topic == "orders.outcomes"
    assert headers["ce_type"] == b"vn.gov.lienthong.order.rejected.v1"
    assert body["rejected_event_id"] == env.id
    assert (body["subject"], body["dossier_code"], body["code"], body["peer"]) == ("K-1", "", "07", "shop")
    assert [a.outcome for a in audit] == ["rejected"]
    assert w.stats["dead_lettered"] == 0


async def test_a_rejection_on_a_dossier_flow_names_the_dossier(tmp_path) -> None:
    env = new_envelope(type="vn.gov.lienthong.dossier.updated.v1", source="/t", subject="000.00.12.H52-250703-0042")
    w = worker(tmp_path)
    rec, msg = record(env)
    publish, _ = settle(w, rec, msg, BusinessRejection("refused", peer="dvcqg", code="-1"))
    assert orjson.loads(publish[0].value)["dossier_code"] == "000.00.12.H52-250703-0042"
    assert publish[0].topic == "dossier.outcomes"
