"""lienthong.sdk's public API is pinned; the ordering rule and the seen-id window behave as documented."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import lienthong.sdk as sdk
from lienthong.sdk import CloudEvent, IdempotentConsumer, MemorySeenIds, OrderGuard

T0 = datetime(2025, 7, 3, 2, 0, tzinfo=UTC)


def ce(event_id: str, subject: str, at: datetime | None) -> CloudEvent:
    return CloudEvent(event_id, "/s", "t.v1", subject, at, "", "", "", "", "")


def test_public_api_is_pinned() -> None:
    assert sorted(sdk.__all__) == sorted([
        "PAYLOADS", "Attributes", "CloudEvent", "DossierEvent", "IdempotentConsumer", "MemorySeenIds", "OrderGuard",
        "RejectionEvent", "SeenIds", "StoreSeenIds", "cloudevent_of", "lienthong_broker", "payload_model",
        "standard_event",
    ])  # fmt: skip


def test_an_older_event_of_the_same_subject_is_stale() -> None:
    guard = OrderGuard()
    assert not guard.is_stale(ce("1", "A", T0))
    assert guard.is_stale(ce("2", "A", T0 - timedelta(seconds=1)))


def test_an_equal_time_is_not_stale_and_other_subjects_are_independent() -> None:
    guard = OrderGuard()
    assert not guard.is_stale(ce("1", "A", T0))
    assert not guard.is_stale(ce("2", "A", T0))
    assert not guard.is_stale(ce("3", "B", T0 - timedelta(days=1)))


def test_an_event_without_time_is_never_stale() -> None:
    guard = OrderGuard()
    guard.is_stale(ce("1", "A", T0))
    assert not guard.is_stale(ce("2", "A", None))


def test_the_effect_runs_once_per_id_and_the_window_forgets_the_oldest() -> None:
    calls: list[str] = []

    async def scenario() -> None:
        once = IdempotentConsumer(MemorySeenIds(capacity=2))
        for event_id in ["a", "a", "b", "c", "a"]:  # "a" fell out of the 2-id window before its last delivery
            await once.run(ce(event_id, "S", T0), lambda i=event_id: calls.append(i))

    asyncio.run(scenario())
    assert calls == ["a", "b", "c", "a"]


def test_a_failed_effect_is_not_remembered() -> None:
    async def scenario() -> list[bool]:
        once = IdempotentConsumer()

        def boom() -> None:
            raise RuntimeError("peer down")

        with contextlib.suppress(RuntimeError):
            await once.run(ce("x", "S", T0), boom)
        return [await once.run(ce("x", "S", T0), lambda: None)]

    assert asyncio.run(scenario()) == [True]
