"""A circuit breaker per peer: a peer that keeps failing pauses its consumers instead of burning attempts."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class CircuitState(str, Enum):
    """closed: calls go through; open: consumers paused; half_open: one probe allowed."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Circuit:
    """Opens after `threshold` consecutive transient failures; probes after `open_s` (doubling to `max_s`)."""

    def __init__(
        self,
        peer: str,
        *,
        threshold: int = 5,
        open_s: float = 5.0,
        max_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.peer = peer
        self.threshold = threshold
        self.base_open_s = open_s
        self.max_s = max_s
        self.clock = clock
        self.state = CircuitState.CLOSED
        self.failures = 0
        self.open_s = open_s
        self.open_until = 0.0
        self._probe_out = False
        self.opened_count = 0
        """How many times the circuit opened (for metrics and the demo summary)."""

    def allow(self) -> bool:
        """May a call go to the peer now? In half-open state exactly one caller gets True (the probe)."""
        if self.state is CircuitState.CLOSED:
            return True
        if self.state is CircuitState.OPEN:
            if self.clock() < self.open_until:
                return False
            self.state = CircuitState.HALF_OPEN
            self._probe_out = False
        if self._probe_out:
            return False
        self._probe_out = True
        return True

    def remaining_s(self) -> float:
        """Seconds until the next probe is allowed (0 unless open)."""
        return max(0.0, self.open_until - self.clock()) if self.state is CircuitState.OPEN else 0.0

    def success(self) -> None:
        """A call succeeded: close and forget failures."""
        self.state = CircuitState.CLOSED
        self.failures = 0
        self.open_s = self.base_open_s
        self._probe_out = False

    def inconclusive(self) -> None:
        """The probe's record never reached the peer (skipped as a duplicate, refused by our own validation):
        it says nothing about the peer, so the circuit stays half-open and the next record probes."""
        if self.state is CircuitState.HALF_OPEN:
            self._probe_out = False

    def failure(self) -> None:
        """A call failed transiently."""
        if self.state is CircuitState.HALF_OPEN:
            self.open_s = min(self.max_s, self.open_s * 2)
            self._open()
            return
        self.failures += 1
        if self.state is CircuitState.CLOSED and self.failures >= self.threshold:
            self._open()

    def _open(self) -> None:
        self.state = CircuitState.OPEN
        self.open_until = self.clock() + self.open_s
        self._probe_out = False
        self.opened_count += 1

    @property
    def is_open(self) -> bool:
        """True while calls are held back (open, or half-open with the probe out)."""
        return self.state is not CircuitState.CLOSED


_SHARED: dict[tuple[str, str], Circuit] = {}


def shared_circuit(peer: str, scope: str, make: Callable[[], Circuit]) -> Circuit:
    """The one circuit of `peer` within `scope` (a process's consumer group): every flow that calls the same
    peer shares it, so one flow finding the peer down pauses the others too instead of each burning its own
    attempts. `make` builds it the first time."""
    key = (peer, scope)
    circuit = _SHARED.get(key)
    if circuit is None:
        circuit = _SHARED[key] = make()
    return circuit
