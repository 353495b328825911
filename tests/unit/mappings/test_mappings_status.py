"""Status table, transitions, clock effects and national-monitoring codes."""

from __future__ import annotations

import random
from datetime import datetime

import pytest

from lienthong.demo.workload import synthetic_dossier
from lienthong.mappings.status import (
    ALLOWED_TRANSITIONS,
    STATUS_TABLE,
    MonitoringPaymentForm,
    MonitoringReceptionForm,
    MonitoringStatus,
    can_transition,
    monitoring_payment_form,
    monitoring_reception_form,
    monitoring_status,
    status_info,
)
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import Channel, ClockEffect, DossierStatus, Fee

S = DossierStatus


def test_status_table_has_every_code_from_one_to_ten_with_both_labels():
    assert sorted(STATUS_TABLE) == list(range(1, 11))
    assert all(row.label_vi and row.label_en for row in STATUS_TABLE.values())
    assert status_info(5).label_vi == "Yêu cầu bổ sung giấy tờ"


def test_clock_effects_follow_the_reference():
    effects = {int(s): row.clock_effect for s, row in STATUS_TABLE.items()}
    assert effects == {
        1: ClockEffect.NOT_STARTED, 2: ClockEffect.STARTS, 3: ClockEffect.NONE, 4: ClockEffect.RUNS,
        5: ClockEffect.PAUSED, 6: ClockEffect.PAUSED, 7: ClockEffect.STOPS, 8: ClockEffect.STOPS,
        9: ClockEffect.STOPS, 10: ClockEffect.NONE,
    }  # fmt: skip


def test_terminal_statuses_are_refused_withdrawn_stopped_and_returned():
    assert {s for s in DossierStatus if s.is_terminal} == {S.REFUSED, S.WITHDRAWN, S.STOPPED, S.RETURNED}


@pytest.mark.parametrize(
    ("old", "new"),
    [(1, 2), (1, 3), (1, 7), (2, 4), (2, 9), (4, 5), (4, 6), (5, 4), (6, 4), (6, 9), (9, 10), (4, 8)],
)
def test_usual_transitions_are_allowed(old, new):
    assert can_transition(old, new)


@pytest.mark.parametrize(("old", "new"), [(10, 4), (9, 4), (3, 2), (7, 4), (1, 4), (5, 9), (2, 1), (4, 2)])
def test_transitions_backwards_or_out_of_a_terminal_status_are_refused(old, new):
    assert not can_transition(old, new)


@pytest.mark.parametrize("status", list(DossierStatus))
def test_the_same_status_again_is_allowed_as_an_idempotent_update(status):
    assert can_transition(status, status)


def test_every_status_is_reachable_from_submitted_or_accepted():
    reached, frontier = {S.SUBMITTED, S.ACCEPTED}, [S.SUBMITTED, S.ACCEPTED]
    while frontier:
        for nxt in ALLOWED_TRANSITIONS[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(DossierStatus)


def test_transition_check_refuses_codes_outside_one_to_ten():
    with pytest.raises(ValueError, match="11"):
        can_transition(4, 11)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (1, MonitoringStatus.OTHER), (2, MonitoringStatus.RECEIVED), (3, MonitoringStatus.OTHER),
        (4, MonitoringStatus.PROCESSING), (5, MonitoringStatus.PROCESSING), (6, MonitoringStatus.PROCESSING),
        (7, MonitoringStatus.OTHER), (8, MonitoringStatus.OTHER), (9, MonitoringStatus.PROCESSING),
        (10, MonitoringStatus.RETURNED),
    ],
)  # fmt: skip
def test_dossier_status_maps_to_the_monitoring_status(status, expected):
    assert monitoring_status(status) is expected


def test_handing_a_processing_dossier_to_a_handler_is_reported_as_assigned():
    assert monitoring_status(4, assigned=True) is MonitoringStatus.ASSIGNED
    assert monitoring_status(5, assigned=True) is MonitoringStatus.PROCESSING


def test_monitoring_reception_form_is_online_only_for_online_dossiers():
    assert monitoring_reception_form(Channel.ONLINE) is MonitoringReceptionForm.ONLINE
    assert monitoring_reception_form(Channel.COUNTER) is MonitoringReceptionForm.DIRECT
    assert monitoring_reception_form(Channel.POST) is MonitoringReceptionForm.DIRECT


def test_monitoring_payment_form_depends_on_fees_and_online_payment():
    dossier = synthetic_dossier(
        random.Random(1), agency_code="000.00.12.H52", received_at=datetime(2025, 7, 3, 9, tzinfo=VN_TZ), seq=1,
        channel="online",
    )  # fmt: skip
    free = dossier.model_copy(update={"fees": ()})
    fee = (Fee(name="Lệ phí", amount_vnd=50_000),)
    assert monitoring_payment_form(free) is MonitoringPaymentForm.NONE
    assert monitoring_payment_form(free.model_copy(update={"fees": fee, "paid_online": True})) is (
        MonitoringPaymentForm.ONLINE
    )
    assert monitoring_payment_form(free.model_copy(update={"fees": fee, "paid_online": False})) is (
        MonitoringPaymentForm.DIRECT
    )
