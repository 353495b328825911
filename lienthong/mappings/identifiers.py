"""Identifiers of the one-stop domain (REFERENCE section 4): the validators (re-exported from their one
home, `lienthong.schemas.validators`) and the per-unit daily dossier-code sequence.

Every validator returns a parsed value or raises `InvalidIdentifier` (a `ValueError`). A message names
the rule that failed; it never contains a full personal ID or tax code (Decree 13/2023/NĐ-CP): those
are masked to their last three characters with `mask_identifier`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime

from lienthong.schemas.validators import (
    AGENCY_CODE_MAX_LEN,
    DOSSIER_SEQUENCE_MAX,
    VN_TZ,
    DossierCode,
    InvalidIdentifier,
    MappingError,
    PersonalId,
    ProcedureCode,
    ProcedureCodeKind,
    Sex,
    mask_identifier,
    validate_agency_code,
    validate_dossier_code,
    validate_old_id_card,
    validate_personal_id,
    validate_procedure_code,
    validate_tax_code,
)

__all__ = [
    "AGENCY_CODE_MAX_LEN",
    "DOSSIER_SEQUENCE_MAX",
    "DossierCode",
    "DossierCodeGenerator",
    "InvalidIdentifier",
    "PersonalId",
    "ProcedureCode",
    "ProcedureCodeKind",
    "Sex",
    "mask_identifier",
    "validate_agency_code",
    "validate_dossier_code",
    "validate_old_id_card",
    "validate_personal_id",
    "validate_procedure_code",
    "validate_tax_code",
]


def _local_day(received: date | datetime) -> date:
    if isinstance(received, datetime):
        if received.tzinfo is None:
            raise MappingError("a timezone-aware receipt time is required to derive the dossier code's date")
        return received.astimezone(VN_TZ).date()
    return received


class DossierCodeGenerator:
    """Issues dossier codes `<agency>-<YYMMDD>-<NNNN>`: one sequence per receiving unit per local day.

    In memory and pure (no I/O); safe to share between threads and coroutines (a lock guards each
    increment and nothing awaits while holding it). To survive restarts, seed it with `start` from
    the last codes issued and persist `snapshot()`.
    """

    def __init__(self, start: Mapping[tuple[str, date], int] | None = None) -> None:
        """`start` maps (agency code, local day) to the last sequence already used there."""
        self._last: dict[tuple[str, date], int] = {}
        for (agency, day), last in (start or {}).items():
            if not 0 <= last <= DOSSIER_SEQUENCE_MAX:
                raise MappingError(f"starting sequence for {agency} on {day} must be 0..{DOSSIER_SEQUENCE_MAX}")
            self._last[(validate_agency_code(agency), day)] = last
        self._lock = threading.Lock()

    def next_code(self, agency_code: str, received: date | datetime) -> str:
        """The next code of `agency_code` for the local day of `received` (aware datetime or date)."""
        key = (validate_agency_code(agency_code), _local_day(received))
        with self._lock:
            sequence = self._last.get(key, 0) + 1
            if sequence > DOSSIER_SEQUENCE_MAX:
                raise MappingError(
                    f"dossier sequence of {agency_code} on {key[1]} is exhausted ({DOSSIER_SEQUENCE_MAX} codes issued)"
                )
            self._last[key] = sequence
        return DossierCode(key[0], key[1], sequence).value

    def snapshot(self) -> dict[tuple[str, date], int]:
        """A copy of the last sequence used per (agency code, day)."""
        with self._lock:
            return dict(self._last)

    def forget_before(self, day: date) -> None:
        """Drop the counters of days before `day` (they can no longer be used)."""
        with self._lock:
            self._last = {key: last for key, last in self._last.items() if key[1] >= day}
