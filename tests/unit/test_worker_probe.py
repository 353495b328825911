"""The half-open probe closes a circuit only when it really reached the peer; flows share a peer's circuit."""

from __future__ import annotations

from pathlib import Path

from aiokafka import ConsumerRecord

from lienthong.audit.record import AuditEntry
from lienthong.bus.circuit import Circuit, CircuitState
from lienthong.bus.envelope import new_envelope
from lienthong.bus.worker import BatchResult, Flow, Inbound, Outcome, Worker
from lienthong.errors import PermanentError
from lienthong.settings import Settings

SENT = AuditEntry(flow="f", direction="out", peer="shop", outcome="sent", dossier_code="K-1", correlation_id="",
                  event_type="POST /orders", digest="d", detail={})  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def half_open_worker(tmp_path: Path, results: list[BatchResult]) -> tuple[Worker, Circuit, list[int]]:
    """A worker whose circuit is due for its probe, and a handler answering `results` (counting calls)."""
    calls: list[int] = []

    async def handler(batch: list[Inbound]) -> list[BatchResult]:
        calls.append(len(batch))
        return results[: len(batch)]

    clock = Clock()
    circuit = Circuit("shop", threshold=1, open_s=5, clock=clock)
    circuit.failure()
    clock.now = 10.0
    settings = Settings(state_dir=tmp_path, consumer_group=f"g-{tmp_path.name}")
    worker = Worker(Flow("orders_sync", "orders", handler, peer="shop"), settings, audit=None, circuit=circuit)  # type: ignore[arg-type]
    return worker, circuit, calls


def batch(n: int) -> list[Inbound]:
    out = []
    for i in range(n):
        env = new_envelope(type="t.v1", source="/t", subject=f"K-{i}")
        rec = ConsumerRecord(
            topic="orders", partition=0, offset=i, timestamp=0, timestamp_type=0, key=b"K", value=b"{}",
            checksum=None, serialized_key_size=1, serialized_value_size=2, headers=env.to_headers(),
        )  # fmt: skip
        out.append(Inbound(rec, env, 0))
    return out


async def test_a_probe_that_reached_the_peer_closes_the_circuit(tmp_path) -> None:
    worker, circuit, calls = half_open_worker(tmp_path, [Outcome(audit=[SENT])])
    results = await worker._run_handler(batch(3))
    assert calls == [1]  # the single probe; the others are rewound and polled again, now with the circuit closed
    assert circuit.state is CircuitState.CLOSED
    assert isinstance(results[0], Outcome)
    assert [type(r).__name__ for r in results[1:]] == ["_Paused", "_Paused"]


async def test_a_probe_skipped_without_calling_the_peer_does_not_close_the_circuit(tmp_path) -> None:
    worker, circuit, calls = half_open_worker(tmp_path, [Outcome(result="skipped_duplicate")])
    results = await worker._run_handler(batch(3))
    assert circuit.state is CircuitState.HALF_OPEN
    # The skipped record is settled; the records after it were not tried and stay paused (rewound).
    assert isinstance(results[0], Outcome)
    assert calls[0] == 1


async def test_our_own_validation_refusal_says_nothing_about_the_peer(tmp_path) -> None:
    worker, circuit, _ = half_open_worker(tmp_path, [PermanentError("invalid body")])
    await worker._run_handler(batch(1))
    assert circuit.state is CircuitState.HALF_OPEN


async def test_the_peers_own_refusal_shows_it_is_up(tmp_path) -> None:
    worker, circuit, _ = half_open_worker(tmp_path, [PermanentError("HTTP 400", peer="shop", code="400")])
    await worker._run_handler(batch(1))
    assert circuit.state is CircuitState.CLOSED


async def test_flows_calling_one_peer_share_its_circuit(tmp_path) -> None:
    async def handler(batch: list[Inbound]) -> list[BatchResult]:
        return []

    settings = Settings(state_dir=tmp_path, consumer_group=f"g-{tmp_path.name}")
    a = Worker(Flow("sync", "a", handler, peer="shop"), settings, audit=None)  # type: ignore[arg-type]
    b = Worker(Flow("notices", "b", handler, peer="shop"), settings, audit=None)  # type: ignore[arg-type]
    c = Worker(Flow("other", "c", handler, peer="bank"), settings, audit=None)  # type: ignore[arg-type]
    d = Worker(Flow("intake", "d", handler, peer="-"), settings, audit=None)  # type: ignore[arg-type]
    e = Worker(Flow("intake2", "e", handler, peer="-"), settings, audit=None)  # type: ignore[arg-type]
    assert a.circuit is b.circuit
    assert a.circuit is not c.circuit
    assert d.circuit is not e.circuit
