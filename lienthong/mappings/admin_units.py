"""The 1 July 2025 merger of administrative units (Resolution 202/2025/QH15): 63 provinces became 34
and the district level was abolished. Codes are re-mapped by the dossier's receipt date: a dossier
received before the merger keeps its old codes; one received on or after it gets the new codes, and
both generations are accepted as input.

Tables are versioned JSON files, operator-editable: `province_merger_2025.json` (old -> new province
code, checked against the 34 provinces of the `vietnam-provinces` package) and
`agency_remap_2025.json` (agency codes of merged-away provinces -> successors). Loading is the only
I/O here; the remap functions are pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from vietnam_provinces import Province, ProvinceCode

from lienthong.errors import ConfigurationError
from lienthong.mappings.errors import InvalidIdentifier
from lienthong.mappings.identifiers import ProcedureCodeKind, validate_agency_code, validate_procedure_code

MERGER_DATE = date(2025, 7, 1)
"""Resolution 202/2025/QH15 took effect on this day."""

_DATA = "data"
PROVINCE_MERGER_FILE = "province_merger_2025.json"
AGENCY_REMAP_FILE = "agency_remap_2025.json"


@dataclass(frozen=True, slots=True)
class ProvinceMergerTable:
    """Old -> new province codes, two-digit GSO codes as strings."""

    version: str
    """Version of the table, written into audit records with the mapping version."""
    effective_from: date
    """First receipt date that uses new codes."""
    old_to_new: Mapping[str, str]
    """Every old code (63) -> its new code (one of 34)."""
    old_names: Mapping[str, str]
    """Old code -> name of the province before the merger."""

    @property
    def new_codes(self) -> frozenset[str]:
        """The province codes in use since the merger."""
        return frozenset(self.old_to_new.values())


@dataclass(frozen=True, slots=True)
class AgencyRemapTable:
    """Agency codes closed by the merger (Decision 09/2025/QĐ-TTg) -> their successors."""

    version: str
    """Version of the table."""
    effective_from: date
    """First receipt date that uses successor codes."""
    exact: Mapping[str, str]
    """Whole agency code -> successor agency code (wins over `unit_letter_codes`)."""
    unit_letter_codes: Mapping[str, str]
    """`MX1X2` group of a merged-away province (e.g. `H08`) -> the successor's; other groups kept."""


def _read_json(path: Path | None, default_name: str) -> tuple[dict[str, Any], str]:
    if path is None:
        source = resources.files("lienthong.mappings").joinpath(_DATA, default_name)
        text, where = source.read_text(encoding="utf-8"), f"packaged {default_name}"
    else:
        text, where = path.read_text(encoding="utf-8"), str(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{where}: not valid JSON ({exc}); fix the file or remove the setting") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: expected a JSON object at the top level")
    return data, where


def _date_field(data: Mapping[str, Any], where: str) -> date:
    try:
        return date.fromisoformat(str(data["effective_from"]))
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(f"{where}: 'effective_from' must be a date YYYY-MM-DD") from exc


def _two_digits(code: object) -> str | None:
    if isinstance(code, str) and 1 <= len(code) <= 3 and code.isascii() and code.isdigit():
        return f"{int(code):02d}"
    return None


def load_province_merger(path: Path | None = None) -> ProvinceMergerTable:
    """Load and check a province merger table (default: the packaged one).

    Raises `ConfigurationError` when a code is malformed, the new codes are not exactly the 34
    provinces of `vietnam-provinces`, or a new code does not map to itself (which would make the
    "both generations accepted" rule ambiguous).
    """
    data, where = _read_json(path, PROVINCE_MERGER_FILE)
    old_to_new: dict[str, str] = {}
    old_names: dict[str, str] = {}
    for row in data.get("provinces", []):
        old, new = _two_digits(row.get("old_code")), _two_digits(row.get("new_code"))
        if old is None or new is None:
            raise ConfigurationError(f"{where}: row {row!r} needs two-digit 'old_code' and 'new_code'")
        old_to_new[old] = new
        old_names[old] = str(row.get("old_name", ""))
    package_codes = {f"{p.code.value:02d}" for p in Province.iter_all()}
    if set(old_to_new.values()) != package_codes:
        raise ConfigurationError(
            f"{where}: new codes must be the {len(package_codes)} provinces of vietnam-provinces; "
            f"differences: {sorted(set(old_to_new.values()) ^ package_codes)}"
        )
    not_fixed = sorted(code for code in package_codes if old_to_new.get(code, code) != code)
    if not_fixed:
        raise ConfigurationError(f"{where}: new codes {not_fixed} must map to themselves")
    return ProvinceMergerTable(str(data.get("version", "")), _date_field(data, where), old_to_new, old_names)


def load_agency_remap(path: Path | None = None) -> AgencyRemapTable:
    """Load and check an agency-code remap table (default: the packaged one, empty until filled)."""
    data, where = _read_json(path, AGENCY_REMAP_FILE)
    exact = data.get("exact", {})
    letters = data.get("unit_letter_codes", {})
    if not isinstance(exact, dict) or not isinstance(letters, dict):
        raise ConfigurationError(f"{where}: 'exact' and 'unit_letter_codes' must be JSON objects")
    try:
        for old, new in exact.items():
            validate_agency_code(old)
            validate_agency_code(new)
    except InvalidIdentifier as exc:
        raise ConfigurationError(f"{where}: 'exact': {exc}") from exc
    for old, new in letters.items():
        if not all(isinstance(c, str) and len(c) == 3 and c[0].isupper() and c[1:].isdigit() for c in (old, new)):
            raise ConfigurationError(f'{where}: \'unit_letter_codes\' entries look like "H08": "H21"')
    return AgencyRemapTable(str(data.get("version", "")), _date_field(data, where), dict(exact), dict(letters))


@cache
def default_province_merger() -> ProvinceMergerTable:
    """The packaged province merger table, loaded once."""
    return load_province_merger()


@cache
def default_agency_remap() -> AgencyRemapTable:
    """The packaged agency remap table, loaded once."""
    return load_agency_remap()


def remap_province(code: str, *, received_on: date, table: ProvinceMergerTable | None = None) -> str:
    """The province code to use for a dossier received on `received_on`.

    Before the merger the (old) code is kept; from the merger on, an old code becomes its successor
    and a new code stays. `code` may be written with 1-3 digits (`"1"`, `"01"`, `"001"`); the
    result has two. Raises `InvalidIdentifier` for a code that never existed.
    """
    table = table or default_province_merger()
    normal = _two_digits(code)
    if normal is None or normal not in table.old_to_new:
        raise InvalidIdentifier(f"unknown province code {code!r}")
    if received_on < table.effective_from:
        return normal
    return table.old_to_new[normal]


def province_name(code: str, *, received_on: date, table: ProvinceMergerTable | None = None) -> str:
    """Name of the province a code meant on `received_on` (old name before the merger)."""
    table = table or default_province_merger()
    mapped = remap_province(code, received_on=received_on, table=table)
    if received_on < table.effective_from:
        return table.old_names[mapped]
    return str(Province.from_code(ProvinceCode(int(mapped))).name)


def remap_agency_code(code: str, *, received_on: date, table: AgencyRemapTable | None = None) -> str:
    """The agency code to use on `received_on`: unchanged before the table's date, else its successor
    (exact entry first, then the `MX1X2` group rule), else unchanged."""
    table = table or default_agency_remap()
    validate_agency_code(code)
    if received_on < table.effective_from:
        return code
    if code in table.exact:
        return table.exact[code]
    groups = code.split(".")
    successor = table.unit_letter_codes.get(groups[3])
    if successor is None:
        return code
    groups[3] = successor
    return validate_agency_code(".".join(groups))


def remap_procedure_code(code: str, *, received_on: date, table: AgencyRemapTable | None = None) -> str:
    """Remap the agency suffix of a province-instance or local procedure code; national codes stay."""
    table = table or default_agency_remap()
    parsed = validate_procedure_code(code)
    if received_on < table.effective_from or parsed.kind is ProcedureCodeKind.NATIONAL:
        return code
    if parsed.kind is ProcedureCodeKind.PROVINCE_INSTANCE and parsed.agency_code is not None:
        return f"{parsed.base}.{remap_agency_code(parsed.agency_code, received_on=received_on, table=table)}"
    letter = parsed.unit_letter_code or ""
    return f"{parsed.base}.{table.unit_letter_codes.get(letter, letter)}"
