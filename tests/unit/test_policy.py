"""Delivery policy: failure classes, the retry-topic schedule, and what a retry or dead letter carries."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.bus.policy import (
    Failure,
    RetrySchedule,
    SourceRef,
    attempt_of,
    classify,
    failure_headers,
    not_before_ms,
)
from lienthong.errors import BusinessRejection, PermanentError, TransientError

SOURCE = SourceRef(topic="dossier.events", partition=3, offset=1042)
ORIGINAL = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"e-1"),
    ("x-binary", b"\x00\xff\xfe"),
    ("ce_type", b"vn.gov.lienthong.dossier.status_changed.v1"),
    ("x-binary", b"repeated"),
]


def lt(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    return {k: v.decode() for k, v in headers if k.startswith("lt_")}


# -- classify ---------------------------------------------------------------------------------------


def test_transient_error_is_classified_transient() -> None:
    assert classify(TransientError("timeout", peer="dvcqg")) is Failure.TRANSIENT


def test_permanent_error_is_classified_permanent() -> None:
    assert classify(PermanentError("schema")) is Failure.PERMANENT


def test_business_rejection_is_classified_as_a_rejection() -> None:
    assert classify(BusinessRejection("refused", peer="dvcqg")) is Failure.REJECTION


def test_any_other_exception_is_unexpected() -> None:
    assert classify(ValueError("bug")) is Failure.UNEXPECTED


# -- retry schedule ---------------------------------------------------------------------------------


@given(
    attempt=st.integers(min_value=1, max_value=64),
    base_s=st.floats(min_value=0.001, max_value=60, allow_nan=False),
    max_s=st.floats(min_value=0.001, max_value=3600, allow_nan=False),
    seed=st.integers(),
)
def test_retry_delay_is_between_half_the_cap_and_the_cap(attempt: int, base_s: float, max_s: float, seed: int) -> None:
    cap = min(max_s, base_s * 2 ** (attempt - 1))
    delay = RetrySchedule(attempts=5, base_s=base_s, max_s=max_s).delay_s(attempt, random.Random(seed))
    assert cap / 2 <= delay <= cap


@given(
    attempt=st.integers(min_value=1, max_value=64),
    base_s=st.floats(min_value=0.001, max_value=60, allow_nan=False),
    max_s=st.floats(min_value=0.001, max_value=3600, allow_nan=False),
    seed=st.integers(),
)
def test_retry_delay_never_exceeds_max_s(attempt: int, base_s: float, max_s: float, seed: int) -> None:
    delay = RetrySchedule(attempts=5, base_s=base_s, max_s=max_s).delay_s(attempt, random.Random(seed))
    assert delay <= max_s


def test_retry_delay_doubles_each_round_until_the_cap() -> None:
    schedule = RetrySchedule(attempts=6, base_s=2.0, max_s=10.0)

    class Top(random.Random):
        def random(self) -> float:
            return 1.0

    assert [schedule.delay_s(n, Top()) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


# -- failure headers --------------------------------------------------------------------------------


def test_failure_headers_keep_the_original_headers_byte_for_byte_and_in_order() -> None:
    out = failure_headers(ORIGINAL, source=SOURCE, failure=Failure.PERMANENT, exc=PermanentError("x"), attempt=0)
    assert [h for h in out if not h[0].startswith("lt_")] == ORIGINAL


def test_failure_headers_put_the_original_headers_first() -> None:
    out = failure_headers(ORIGINAL, source=SOURCE, failure=Failure.PERMANENT, exc=PermanentError("x"), attempt=0)
    assert out[: len(ORIGINAL)] == ORIGINAL


def test_failure_headers_name_the_class_type_message_and_attempt() -> None:
    exc = TransientError("DVCQG timed out", peer="dvcqg", code="-1")
    out = lt(failure_headers(ORIGINAL, source=SOURCE, failure=Failure.TRANSIENT, exc=exc, attempt=2))
    assert {k: out[k] for k in ("lt_error_class", "lt_error_type", "lt_error_message", "lt_attempt")} == {
        "lt_error_class": "transient",
        "lt_error_type": "TransientError",
        "lt_error_message": "DVCQG timed out",
        "lt_attempt": "2",
    }


def test_failure_headers_carry_the_peer_and_its_error_code() -> None:
    exc = BusinessRejection("refused", peer="dvcqg", code="3")
    out = lt(failure_headers(ORIGINAL, source=SOURCE, failure=Failure.REJECTION, exc=exc, attempt=0))
    assert (out["lt_error_peer"], out["lt_error_code"]) == ("dvcqg", "3")


def test_failure_headers_name_the_source_position_of_a_first_failure() -> None:
    out = lt(failure_headers(ORIGINAL, source=SOURCE, failure=Failure.PERMANENT, exc=PermanentError("x"), attempt=0))
    assert (out["lt_source_topic"], out["lt_source_partition"], out["lt_source_offset"]) == (
        "dossier.events",
        "3",
        "1042",
    )


def test_failure_headers_stamp_first_and_last_failure_now_on_a_first_failure() -> None:
    before = int(time.time() * 1000)
    out = lt(failure_headers(ORIGINAL, source=SOURCE, failure=Failure.PERMANENT, exc=PermanentError("x"), attempt=0))
    after = int(time.time() * 1000)
    assert before <= int(out["lt_first_failure"]) == int(out["lt_last_failure"]) <= after


def test_failure_headers_carry_the_not_before_time_of_a_retry() -> None:
    out = failure_headers(
        ORIGINAL, source=SOURCE, failure=Failure.TRANSIENT, exc=TransientError("x"), attempt=1, not_before_ms=123
    )
    assert not_before_ms(out) == 123


def second_round() -> list[tuple[str, bytes]]:
    """Headers of a record failing again when consumed from the retry topic (at 7/99) after its first round."""
    first = [
        *ORIGINAL,
        ("lt_error_class", b"transient"),
        ("lt_error_type", b"TransientError"),
        ("lt_error_message", b"first failure"),
        ("lt_error_peer", b"dvcqg"),
        ("lt_attempt", b"1"),
        ("lt_first_failure", b"1700000000000"),
        ("lt_last_failure", b"1700000000000"),
        ("lt_source_topic", b"dossier.events"),
        ("lt_source_partition", b"3"),
        ("lt_source_offset", b"1042"),
        ("lt_not_before", b"1700000002000"),
    ]
    retry_position = SourceRef(topic="dossier.events.retry", partition=7, offset=99)
    return failure_headers(
        first, source=retry_position, failure=Failure.RETRIES_EXHAUSTED, exc=PermanentError("gave up"), attempt=2
    )


def test_a_later_round_keeps_the_original_headers_unchanged() -> None:
    assert [h for h in second_round() if not h[0].startswith("lt_")] == ORIGINAL


def test_a_later_round_writes_each_bookkeeping_header_once() -> None:
    names = [k for k, _ in second_round() if k.startswith("lt_")]
    assert len(names) == len(set(names))


def test_a_later_round_replaces_the_error_of_the_earlier_one() -> None:
    out = lt(second_round())
    assert (out["lt_error_class"], out["lt_error_message"], out["lt_attempt"]) == ("retries_exhausted", "gave up", "2")


def test_a_later_round_drops_the_earlier_peer_and_not_before_time() -> None:
    out = lt(second_round())
    assert "lt_error_peer" not in out
    assert "lt_not_before" not in out


def test_a_later_round_keeps_the_first_failure_time() -> None:
    assert lt(second_round())["lt_first_failure"] == "1700000000000"


def test_a_later_round_keeps_the_first_source_position() -> None:
    out = lt(second_round())
    assert (out["lt_source_topic"], out["lt_source_partition"], out["lt_source_offset"]) == (
        "dossier.events",
        "3",
        "1042",
    )


def test_a_later_round_updates_the_last_failure_time() -> None:
    assert int(lt(second_round())["lt_last_failure"]) > 1700000000000


def test_failure_headers_mask_a_personal_id_in_the_error_message() -> None:
    exc = PermanentError("DVCQG: SoDinhDanh 001203012345 không hợp lệ")
    out = lt(failure_headers(ORIGINAL, source=SOURCE, failure=Failure.PERMANENT, exc=exc, attempt=0))
    assert "001203012345" not in out["lt_error_message"]
    assert "không hợp lệ" in out["lt_error_message"]


def test_failure_headers_bound_the_error_message() -> None:
    exc = PermanentError("x" * 10_000)
    out = lt(failure_headers(ORIGINAL, source=SOURCE, failure=Failure.PERMANENT, exc=exc, attempt=0))
    assert len(out["lt_error_message"]) == 500


# -- attempt_of, not_before_ms ----------------------------------------------------------------------


def test_attempt_of_reads_lt_attempt() -> None:
    assert attempt_of([("lt_attempt", b"3")]) == 3


def test_attempt_of_a_fresh_record_is_zero() -> None:
    assert attempt_of(ORIGINAL) == 0


def test_not_before_ms_reads_lt_not_before() -> None:
    assert not_before_ms([("lt_not_before", b"1700000002000")]) == 1700000002000


def test_not_before_ms_of_a_fresh_record_is_zero() -> None:
    assert not_before_ms(ORIGINAL) == 0


@pytest.mark.parametrize("value", [b"", b"-1", b"soon", b"1.5", b"\xff"])
def test_unreadable_attempt_counts_as_zero(value: bytes) -> None:
    assert attempt_of([("lt_attempt", value)]) == 0


@pytest.mark.parametrize("value", [b"", b"-1", b"soon", b"1.5", b"\xff"])
def test_unreadable_not_before_counts_as_zero(value: bytes) -> None:
    assert not_before_ms([("lt_not_before", value)]) == 0


def test_non_ascii_digit_attempt_counts_as_zero() -> None:
    assert attempt_of([("lt_attempt", "²".encode())]) == 0


def test_null_attempt_header_counts_as_zero() -> None:
    assert attempt_of([("lt_attempt", None)]) == 0  # type: ignore[list-item]
