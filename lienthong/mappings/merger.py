"""The 2025 merger applied to dossiers in the flow (pure): pre-merger codes arriving after 1 July 2025 mapped.

For a dossier received on or after `MERGER_DATE` (Resolution 202/2025/QH15):

- the applicant's address: an old province code becomes its successor (`province_merger_2025.json`); a
  commune code is kept when it is one of the new communes of `vietnam-provinces` (that package, 2025.10.1,
  has the 3,321 new communes but no old -> new commune table), else passed through with a warning;
- the procedure code's agency suffix and the agency codes of the remap table (`agency_remap_2025.json`,
  or the operator's file named by `LIENTHONG_MERGER_AGENCY_REMAP`) become their successors;
- the dossier code (`MaHoSo`) is never changed: it is the dossier's identity in both systems.

An unknown old code is never dropped: it is passed through unchanged with a warning. Warnings name codes
and rules only (administrative codes are not personal data).
"""

from __future__ import annotations

import os
from datetime import date
from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict
from vietnam_provinces import Ward

from lienthong.mappings.admin_units import (
    MERGER_DATE,
    AgencyRemapTable,
    ProvinceMergerTable,
    default_agency_remap,
    default_province_merger,
    load_agency_remap,
    remap_procedure_code,
)
from lienthong.schemas.dossier import Address, Dossier, InboundNotice
from lienthong.schemas.validators import VN_TZ, InvalidIdentifier, validate_dossier_code

__all__ = ["MergerSettings", "agency_remap_table", "remap_address", "remap_dossier", "remap_notice"]


class MergerSettings(BaseSettings):
    """Merger tables (`LIENTHONG_MERGER_*`)."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_MERGER_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    agency_remap: Path | None = None
    """Agency-code remap table (JSON: `exact` codes and `unit_letter_codes` groups of merged-away provinces
    -> successors, as `agency_remap_2025.json`). Empty = the packaged table (empty until a province fills it)."""


@cache
def _remap_from(path: str) -> AgencyRemapTable:
    return load_agency_remap(Path(path)) if path else default_agency_remap()


def agency_remap_table() -> AgencyRemapTable:
    """The agency remap table in use: the operator's file (`LIENTHONG_MERGER_AGENCY_REMAP`) or the packaged one."""
    # Called for every inbound dossier: building MergerSettings (an environment scan) each time cost 8% of the
    # webhook's CPU, so only the one variable is read here and the settings class is built once per value.
    return _remap_for(os.environ.get(_REMAP_ENV, ""))


_REMAP_ENV = "LIENTHONG_MERGER_AGENCY_REMAP"


@cache
def _remap_for(raw: str) -> AgencyRemapTable:
    path = MergerSettings().agency_remap if raw else None
    return _remap_from(str(path) if path else "")


@cache
def _new_communes() -> dict[str, int]:
    return {f"{w.code.value:05d}": w.province_code.value for w in Ward.iter_all()}


def remap_address(
    address: Address, *, received_on: date, provinces: ProvinceMergerTable | None = None
) -> tuple[Address, list[str]]:
    """`address` with post-merger codes for a dossier received on `received_on`, and the warnings."""
    table = provinces or default_province_merger()
    if received_on < table.effective_from:
        return address, []
    notes: list[str] = []
    province = address.province_code
    if province is not None:
        normal = f"{int(province):02d}" if province.isascii() and province.isdigit() and len(province) <= 3 else None
        if normal is None or normal not in table.old_to_new:
            notes.append(f"province code {province[:8]!r} is not in the merger table; passed through unchanged")
        else:
            province = table.old_to_new[normal]
    commune = address.commune_code
    if commune is not None:
        key = f"{int(commune):05d}" if commune.isascii() and commune.isdigit() and len(commune) <= 5 else None
        new_province = _new_communes().get(key) if key is not None else None
        if new_province is None:
            notes.append(
                f"commune code {commune[:8]!r} is not a post-merger commune and no old->new commune table is "
                "available; passed through unchanged"
            )
        elif province is not None and province.isdigit() and int(province) != new_province:
            notes.append(f"commune code {commune[:8]!r} belongs to province {new_province:02d}, not {province}")
    changed = address.model_copy(update={"province_code": province})
    return changed, notes


def remap_dossier(
    d: Dossier, *, provinces: ProvinceMergerTable | None = None, agencies: AgencyRemapTable | None = None
) -> tuple[Dossier, list[str]]:
    """`d` with pre-merger codes mapped when it was received on or after the merger, and the warnings."""
    received = d.received_at or d.submitted_at
    try:
        received_on = (
            received.astimezone(VN_TZ).date() if received is not None else validate_dossier_code(d.code).received_on
        )
    except InvalidIdentifier:
        return d, []
    if received_on < MERGER_DATE:
        return d, []
    notes: list[str] = []
    updates: dict[str, object] = {}
    try:
        table = agencies or agency_remap_table()
        procedure = remap_procedure_code(d.procedure_code, received_on=received_on, table=table)
    except InvalidIdentifier as exc:
        notes.append(f"procedure code not remapped: {exc}; passed through unchanged")
        procedure = d.procedure_code
    if procedure != d.procedure_code:
        updates["procedure_code"] = procedure
        notes.append(f"procedure code {d.procedure_code} remapped to {procedure} (agency merged 1 Jul 2025)")
    address = d.applicant.address
    if address is not None:
        new_address, address_notes = remap_address(address, received_on=received_on, provinces=provinces)
        notes += address_notes
        if new_address != address:
            updates["applicant"] = d.applicant.model_copy(update={"address": new_address})
            notes.append(f"applicant's province code {address.province_code} remapped to {new_address.province_code}")
    return (d.model_copy(update=updates) if updates else d), notes


def remap_notice(
    notice: InboundNotice, *, provinces: ProvinceMergerTable | None = None
) -> tuple[InboundNotice, list[str]]:
    """A DVCQG push with its items' enterprise addresses mapped (by each item's `NgayNopHoSo`)."""
    notes: list[str] = []
    items = []
    for index, item in enumerate(notice.items):
        address = item.enterprise_address
        if address is None or item.submitted_at is None:
            items.append(item)
            continue
        new, item_notes = remap_address(address, received_on=item.submitted_at.astimezone(VN_TZ).date(),
                                        provinces=provinces)  # fmt: skip
        notes += [f"data[{index}]: {n}" for n in item_notes]
        items.append(item.model_copy(update={"enterprise_address": new}) if new != address else item)
    return notice.model_copy(update={"items": tuple(items)}), notes
