"""The per-peer circuit breaker, driven by a fake clock (no sleeping)."""

from __future__ import annotations

from lienthong.bus.circuit import Circuit, CircuitState

THRESHOLD = 3
OPEN_S = 5.0
MAX_S = 12.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_circuit(clock: FakeClock) -> Circuit:
    return Circuit("dvcqg", threshold=THRESHOLD, open_s=OPEN_S, max_s=MAX_S, clock=clock)


def fail(circuit: Circuit, times: int) -> None:
    for _ in range(times):
        circuit.failure()


def opened(clock: FakeClock) -> Circuit:
    circuit = make_circuit(clock)
    fail(circuit, THRESHOLD)
    return circuit


def test_a_new_circuit_is_closed_and_allows_calls() -> None:
    circuit = make_circuit(FakeClock())
    assert circuit.state is CircuitState.CLOSED
    assert circuit.allow()


def test_failures_below_the_threshold_keep_it_closed() -> None:
    circuit = make_circuit(FakeClock())
    fail(circuit, THRESHOLD - 1)
    assert circuit.state is CircuitState.CLOSED
    assert circuit.allow()


def test_threshold_consecutive_failures_open_it() -> None:
    circuit = opened(FakeClock())
    assert circuit.state is CircuitState.OPEN
    assert circuit.is_open


def test_opening_is_counted() -> None:
    assert opened(FakeClock()).opened_count == 1


def test_a_success_resets_the_failure_count() -> None:
    circuit = make_circuit(FakeClock())
    fail(circuit, THRESHOLD - 1)
    circuit.success()
    fail(circuit, THRESHOLD - 1)
    assert circuit.state is CircuitState.CLOSED


def test_an_open_circuit_refuses_calls() -> None:
    assert not opened(FakeClock()).allow()


def test_an_open_circuit_refuses_calls_until_open_s_passes() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(OPEN_S - 0.001)
    assert not circuit.allow()


def test_an_open_circuit_says_how_long_until_the_probe() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(2.0)
    assert circuit.remaining_s() == OPEN_S - 2.0


def test_a_closed_circuit_has_nothing_remaining() -> None:
    assert make_circuit(FakeClock()).remaining_s() == 0.0


def test_after_open_s_exactly_one_probe_is_allowed() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(OPEN_S)
    assert [circuit.allow() for _ in range(3)] == [True, False, False]


def test_during_the_probe_the_circuit_is_half_open() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(OPEN_S)
    circuit.allow()
    assert circuit.state is CircuitState.HALF_OPEN
    assert circuit.is_open


def test_a_successful_probe_closes_the_circuit() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(OPEN_S)
    circuit.allow()
    circuit.success()
    assert circuit.state is CircuitState.CLOSED
    assert [circuit.allow() for _ in range(3)] == [True, True, True]


def test_after_a_successful_probe_it_takes_threshold_failures_to_open_again() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(OPEN_S)
    circuit.allow()
    circuit.success()
    fail(circuit, THRESHOLD - 1)
    assert circuit.state is CircuitState.CLOSED


def test_a_failed_probe_reopens_the_circuit() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(OPEN_S)
    circuit.allow()
    circuit.failure()
    assert circuit.state is CircuitState.OPEN
    assert not circuit.allow()


def test_a_failed_probe_doubles_the_open_interval() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(OPEN_S)
    circuit.allow()
    circuit.failure()
    assert circuit.remaining_s() == 2 * OPEN_S
    clock.advance(2 * OPEN_S - 0.001)
    assert not circuit.allow()
    clock.advance(0.001)
    assert circuit.allow()


def test_the_open_interval_is_capped_at_max_s() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    intervals = []
    for _ in range(4):
        clock.advance(circuit.remaining_s())
        assert circuit.allow()
        circuit.failure()
        intervals.append(circuit.remaining_s())
    assert intervals == [10.0, MAX_S, MAX_S, MAX_S]


def test_a_successful_probe_resets_the_open_interval() -> None:
    clock = FakeClock()
    circuit = opened(clock)
    clock.advance(OPEN_S)
    circuit.allow()
    circuit.failure()
    clock.advance(circuit.remaining_s())
    circuit.allow()
    circuit.success()
    fail(circuit, THRESHOLD)
    assert circuit.remaining_s() == OPEN_S
