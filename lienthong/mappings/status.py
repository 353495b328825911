"""Dossier status table (REFERENCE section 3) and the national-monitoring codes (section 2G).

The status codes, clock effects and allowed transitions are defined with the canonical model in
`lienthong.schemas.dossier`; this module adds the labels and the mapping to the national monitoring
push (`Status`, `FormsReception`, `FormsPayments`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from lienthong.schemas.dossier import (
    ALLOWED_TRANSITIONS,
    Channel,
    ClockEffect,
    Dossier,
    DossierStatus,
    can_transition,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "STATUS_TABLE",
    "MonitoringPaymentForm",
    "MonitoringReceptionForm",
    "MonitoringStatus",
    "StatusInfo",
    "can_transition",
    "monitoring_payment_form",
    "monitoring_reception_form",
    "monitoring_status",
    "status_info",
]


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """One row of the status table."""

    status: DossierStatus
    """The status (its value is the wire code 1..10)."""
    label_vi: str
    """Vietnamese label as the one-stop systems show it."""
    label_en: str
    """English label."""
    clock_effect: ClockEffect
    """Effect on the processing clock."""


_LABELS: dict[DossierStatus, tuple[str, str]] = {
    DossierStatus.SUBMITTED: ("Mới đăng ký", "Submitted online, awaiting intake"),
    DossierStatus.ACCEPTED: ("Được tiếp nhận", "Accepted"),
    DossierStatus.REFUSED: ("Không được tiếp nhận", "Refused at intake"),
    DossierStatus.PROCESSING: ("Đang xử lý", "Processing"),
    DossierStatus.SUPPLEMENT_REQUESTED: ("Yêu cầu bổ sung giấy tờ", "Supplement requested"),
    DossierStatus.PAYMENT_REQUESTED: ("Yêu cầu thực hiện nghĩa vụ tài chính", "Payment requested"),
    DossierStatus.WITHDRAWN: ("Công dân yêu cầu rút hồ sơ", "Withdrawn by the applicant"),
    DossierStatus.STOPPED: ("Dừng xử lý", "Processing stopped"),
    DossierStatus.FINISHED: ("Đã xử lý xong", "Processing finished, result ready"),
    DossierStatus.RETURNED: ("Đã trả kết quả", "Result returned"),
}

STATUS_TABLE: Mapping[DossierStatus, StatusInfo] = {
    status: StatusInfo(status, vi, en, status.clock_effect) for status, (vi, en) in _LABELS.items()
}
"""Status code -> labels and clock effect, for every code 1..10."""


def status_info(code: int) -> StatusInfo:
    """The table row of a status code; `ValueError` outside 1..10."""
    return STATUS_TABLE[DossierStatus(code)]


class MonitoringStatus(IntEnum):
    """`Status` of the national monitoring push."""

    OTHER = 0
    RECEIVED = 1
    PROCESSING = 2
    RETURNED = 3
    ASSIGNED = 4


class MonitoringReceptionForm(IntEnum):
    """`FormsReception` of the national monitoring push."""

    ONLINE = 1
    DIRECT = 2


class MonitoringPaymentForm(IntEnum):
    """`FormsPayments` of the national monitoring push."""

    NONE = 0
    ONLINE = 1
    DIRECT = 2


_MONITORING: dict[DossierStatus, MonitoringStatus] = {
    # Not yet accepted, or ended without a result: "other".
    DossierStatus.SUBMITTED: MonitoringStatus.OTHER,
    DossierStatus.REFUSED: MonitoringStatus.OTHER,
    DossierStatus.WITHDRAWN: MonitoringStatus.OTHER,
    DossierStatus.STOPPED: MonitoringStatus.OTHER,
    DossierStatus.ACCEPTED: MonitoringStatus.RECEIVED,
    # Paused and finished dossiers are still with the agency until the result is handed over.
    DossierStatus.PROCESSING: MonitoringStatus.PROCESSING,
    DossierStatus.SUPPLEMENT_REQUESTED: MonitoringStatus.PROCESSING,
    DossierStatus.PAYMENT_REQUESTED: MonitoringStatus.PROCESSING,
    DossierStatus.FINISHED: MonitoringStatus.PROCESSING,
    DossierStatus.RETURNED: MonitoringStatus.RETURNED,
}


def monitoring_status(status: int, *, assigned: bool = False) -> MonitoringStatus:
    """The monitoring `Status` of a dossier status.

    `assigned=True` marks an event that hands a processing dossier to a (new) handler, i.e. a
    `step_added` event whose step leaves the dossier in status 4: that action is reported as
    4 "assigned" rather than 2 "processing".
    """
    mapped = _MONITORING[DossierStatus(status)]
    if assigned and mapped is MonitoringStatus.PROCESSING and status == DossierStatus.PROCESSING:
        return MonitoringStatus.ASSIGNED
    return mapped


def monitoring_reception_form(channel: Channel) -> MonitoringReceptionForm:
    """`FormsReception`: 1 online, 2 direct (counter and post both count as direct)."""
    return MonitoringReceptionForm.ONLINE if channel is Channel.ONLINE else MonitoringReceptionForm.DIRECT


def monitoring_payment_form(d: Dossier) -> MonitoringPaymentForm:
    """`FormsPayments`: 0 when nothing is payable, 1 paid online, 2 otherwise (at the desk)."""
    if not any(fee.amount_vnd > 0 for fee in d.fees):
        return MonitoringPaymentForm.NONE
    return MonitoringPaymentForm.ONLINE if d.paid_online else MonitoringPaymentForm.DIRECT
