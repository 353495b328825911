"""The payment events as built from stored records: the confirmed event resumes the dossier's clock."""

from __future__ import annotations

from datetime import datetime

from lienthong.bus.envelope import header
from lienthong.connectors.payment.events import DOSSIER_ATTRIBUTE, event_of, event_record
from lienthong.connectors.payment.store import PaymentRecord
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.payment import FeeLine, PaymentChannel, PaymentEventKind, PaymentState

CODE = "000.00.12.H52-250707-0001"


def record(**changes: object) -> PaymentRecord:
    base: dict[str, object] = {
        "reference": f"{CODE}-TT01", "dossier_code": CODE, "attempt": 1, "channel": PaymentChannel.ONLINE,
        "state": PaymentState.PAID, "amount_vnd": 150000, "currency": "VND",
        "fees": (FeeLine(name="Lệ phí", amount_vnd=150000, code="LP-1"),), "created_ms": 0,
        "confirmed_by": "callback", "transaction_id": "GD1",
        "paused_at": datetime(2025, 7, 7, 10, 0, tzinfo=VN_TZ).isoformat(),
        "previous_due_at": datetime(2025, 7, 8, 16, 0, tzinfo=VN_TZ).isoformat(),
        "paid_at": datetime(2025, 7, 9, 9, 0, tzinfo=VN_TZ).isoformat(),
    }  # fmt: skip
    base.update(changes)
    return PaymentRecord(**base)  # type: ignore[arg-type]


def test_confirmed_event_moves_the_due_date_by_the_working_time_paused_in_status_6() -> None:
    # Pause Mon 7 Jul 10:00 -> paid Wed 9 Jul 09:00 = 15 working hours (1.5 + 3.5 + 8 + 2);
    # due Tue 8 Jul 16:00 + 15 h = Thu 10 Jul 15:00 (Tue 1 h, Wed 8 h, Thu 4.5 h + 1.5 h).
    event = event_of(record(), PaymentEventKind.CONFIRMED, online_method=1, counter_method=2)
    assert event.previous_due_at == datetime(2025, 7, 8, 16, 0, tzinfo=VN_TZ)
    assert event.new_due_at == datetime(2025, 7, 10, 15, 0, tzinfo=VN_TZ)


def test_confirmed_online_and_counter_payments_carry_their_collection_method() -> None:
    online = event_of(record(), PaymentEventKind.CONFIRMED, online_method=1, counter_method=2)
    counter = event_of(
        record(channel=PaymentChannel.COUNTER, confirmed_by="counter"),
        PaymentEventKind.CONFIRMED, online_method=1, counter_method=2,
    )  # fmt: skip
    assert [f.collection_method for f in online.fees] == [1]
    assert [f.collection_method for f in counter.fees] == [2]


def test_a_requested_event_has_no_collection_method_and_no_new_due_date() -> None:
    event = event_of(record(state=PaymentState.PENDING, paid_at=None), PaymentEventKind.REQUESTED,
                     online_method=1, counter_method=2)  # fmt: skip
    assert event.state is PaymentState.PENDING
    assert event.new_due_at is None
    assert [f.collection_method for f in event.fees] == [None]


def test_the_record_is_keyed_by_reference_with_a_deterministic_id_and_the_dossier_attribute() -> None:
    event = event_of(record(), PaymentEventKind.CONFIRMED, online_method=1, counter_method=2)
    a, b = event_record(event), event_record(event)
    assert a.key == f"{CODE}-TT01".encode()
    assert header(a.headers, "ce_id") == header(b.headers, "ce_id")
    assert header(a.headers, "ce_type") == "vn.gov.lienthong.payment.confirmed.v1"
    assert header(a.headers, "ce_subject") == CODE
    assert header(a.headers, DOSSIER_ATTRIBUTE) == CODE
    failed = event_record(event_of(record(state=PaymentState.FAILED), PaymentEventKind.FAILED, online_method=1,
                                   counter_method=2))  # fmt: skip
    assert header(failed.headers, "ce_id") != header(a.headers, "ce_id")
