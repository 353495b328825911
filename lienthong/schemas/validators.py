"""Shared validators of the one-stop domain (REFERENCE section 4) and the one timezone constant.

The single home of the identifier rules (dossier, agency, procedure and tax codes, personal IDs) used by
the canonical models (`lienthong.schemas`) and the mappings (`lienthong.mappings` re-exports them), so
neither package imports the other for them. Also `VN_TZ`, the zone of every dossier clock and wire time.

Every validator returns a parsed value or raises `InvalidIdentifier` (a `ValueError`). A message names
the rule that failed; it never contains a full personal ID or tax code (Decree 13/2023/NĐ-CP): those
are masked to their last three characters with `mask_identifier`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

from lienthong.errors import PermanentError

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""Asia/Ho_Chi_Minh (UTC+07:00, no daylight saving since 1975): the zone of every dossier clock and
of every wire time. The one timezone constant of lienthong; `lienthong.calendar.config.VIETNAM_TZ` and
`lienthong.mappings.wire.VN_TZ` are this object."""


class MappingError(PermanentError, ValueError):
    """A message cannot be mapped to or from the canonical model: its content breaks a rule.

    A `PermanentError` (the same input fails the same way) and a `ValueError` (pydantic validators
    raise it). Messages name fields and rules; they never echo personal data.
    """


class InvalidIdentifier(MappingError):  # noqa: N818 - the domain name callers catch; reads as a noun
    """An identifier (dossier, agency, procedure or tax code, personal ID) is malformed."""


AGENCY_CODE_MAX_LEN = 35
"""Longest agency code allowed since the 2022 amendment of QCVN 102:2016/BTTTT."""

DOSSIER_SEQUENCE_MAX = 99999
"""The dossier code's running number has four digits (Circular 01/2018/TT-VPCP), five in real systems
past 9999 dossiers per unit per day: at most 99999."""

# V1V2V3.Z1Z2.Y1Y2.MX1X2; the 2022 amendment's longer codes are accepted as extra trailing levels.
_AGENCY_RE = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}(?:\.[0-9A-Z]{1,8})*")
_DOSSIER_RE = re.compile(r"(?P<agency>[0-9A-Z.]+)-(?P<yy>[0-9]{2})(?P<mm>[0-9]{2})(?P<dd>[0-9]{2})-(?P<seq>[0-9]{4,5})")
_PROCEDURE_BASE_RE = re.compile(r"[0-9]\.[0-9]{6}")
_UNIT_LETTER_CODE_RE = re.compile(r"[A-Z][0-9]{2}")
_TAX_RE = re.compile(r"[0-9]{10}(?:-?[0-9]{3})?")
PERSONAL_TAX_CODE_SINCE = date(2025, 7, 1)
"""Since this day the 12-digit personal ID is the tax code of individuals and households (Circular
86/2024/TT-BTC art. 5(5))."""

# Province-of-birth-registration codes of the personal ID (Circular 59/2021/TT-BCA): the 63 GSO
# province codes from before the 2025 merger, three digits. The merger kept 34 of them.
_BIRTH_PROVINCE_CODES = frozenset(
    f"{n:03d}"
    for n in (
        1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36, 37, 38,
        40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74, 75, 77, 79, 80,
        82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
    )
)  # fmt: skip


def mask_identifier(value: object, keep: int = 3) -> str:
    """`*********345`: every character but the last `keep` replaced; short values are masked whole."""
    if not isinstance(value, str):
        return "<not a string>"
    if len(value) <= keep + 3:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


def _show(value: object) -> str:
    # Never the value itself: refusals reach callers and logs, and a value may be personal data.
    if isinstance(value, str):
        return f"(a text of {len(value)} characters)"
    return f"(a {type(value).__name__})"


def validate_agency_code(s: str) -> str:
    """Check an agency code (QCVN 102:2016/BTTTT amended 2022), e.g. `000.00.12.H52`; return it.

    Form `V1V2V3.Z1Z2.Y1Y2.MX1X2` (3, 2 and 2 digits, a capital letter and 2 digits), optionally
    followed by further dot-separated levels, at most 35 characters.
    """
    if not isinstance(s, str) or _AGENCY_RE.fullmatch(s) is None:
        raise InvalidIdentifier(f"invalid agency code {_show(s)}: expected V1V2V3.Z1Z2.Y1Y2.MX1X2, e.g. 000.00.12.H52")
    if len(s) > AGENCY_CODE_MAX_LEN:
        raise InvalidIdentifier(f"invalid agency code {_show(s)}: longer than {AGENCY_CODE_MAX_LEN} characters")
    return s


@dataclass(frozen=True, slots=True)
class DossierCode:
    """A parsed dossier code `<agency code>-<YYMMDD>-<NNNN>` (Circular 01/2018/TT-VPCP)."""

    agency_code: str
    """Agency code of the receiving unit, e.g. `000.00.12.H52`."""
    received_on: date
    """Receipt date (local date in Asia/Ho_Chi_Minh)."""
    sequence: int
    """Running number of the dossier within the unit and day, 0..99999."""
    digits: int = 4
    """How many digits the running number is written with: 4, or 5 as some real systems write it."""

    @property
    def value(self) -> str:
        """The code as written, e.g. `000.00.12.H52-250703-0042`."""
        return f"{self.agency_code}-{self.received_on:%y%m%d}-{self.sequence:0{max(self.digits, 4)}d}"

    def __str__(self) -> str:
        return self.value


def validate_dossier_code(s: str) -> DossierCode:
    """Parse a dossier code such as `000.00.12.H52-250703-0042`; the date must be a real date (20YY).

    The running number has 4 digits, or 5 as real systems write it past 9999 (`...-250703-10042`)."""
    match = _DOSSIER_RE.fullmatch(s) if isinstance(s, str) else None
    if match is None:
        raise InvalidIdentifier(
            f"invalid dossier code {_show(s)}: expected <agency code>-<YYMMDD>-<NNNN>, e.g. 000.00.12.H52-250703-0042"
        )
    try:
        agency = validate_agency_code(match["agency"])
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(f"invalid dossier code {_show(s)}: {exc}") from exc
    try:
        day = date(2000 + int(match["yy"]), int(match["mm"]), int(match["dd"]))
    except ValueError as exc:
        raise InvalidIdentifier(f"invalid dossier code {_show(s)}: YYMMDD is not a real date") from exc
    return DossierCode(agency, day, int(match["seq"]), len(match["seq"]))


class ProcedureCodeKind(StrEnum):
    """Where a procedure code comes from."""

    NATIONAL = "national"
    """National catalogue code, e.g. `1.001234`."""
    PROVINCE_INSTANCE = "province_instance"
    """A national procedure as implemented by one agency, e.g. `1.003560.000.00.00.H56`."""
    LOCAL = "local"
    """A procedure only one province has, e.g. `2.002621.H56`."""


@dataclass(frozen=True, slots=True)
class ProcedureCode:
    """A parsed administrative-procedure code (mã TTHC)."""

    value: str
    """The code as written."""
    kind: ProcedureCodeKind
    """National, province instance or local."""
    base: str
    """The catalogue part `d.dddddd`, e.g. `1.003560`."""
    agency_code: str | None
    """For a province instance: the implementing agency's code, e.g. `000.00.00.H56`."""
    unit_letter_code: str | None
    """The `MX1X2` group naming the province, e.g. `H56`; None for a national code."""


def validate_procedure_code(s: str) -> ProcedureCode:
    """Parse a procedure code (mã TTHC).

    National `1.001234`, province instance `1.003560.000.00.00.H56` (code + agency code) or local-only
    `2.002621.H56` (code + the province's `MX1X2` group).
    """
    hint = "expected e.g. 1.001234, 1.003560.000.00.00.H56 or 2.002621.H56"
    if not isinstance(s, str) or _PROCEDURE_BASE_RE.match(s) is None:
        raise InvalidIdentifier(f"invalid procedure code {_show(s)}: {hint}")
    base, rest = s[:8], s[8:]
    if rest == "":
        return ProcedureCode(s, ProcedureCodeKind.NATIONAL, base, None, None)
    if not rest.startswith("."):
        raise InvalidIdentifier(f"invalid procedure code {_show(s)}: {hint}")
    suffix = rest[1:]
    if _UNIT_LETTER_CODE_RE.fullmatch(suffix):
        return ProcedureCode(s, ProcedureCodeKind.LOCAL, base, None, suffix)
    try:
        agency = validate_agency_code(suffix)
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(f"invalid procedure code {_show(s)}: {hint}") from exc
    return ProcedureCode(s, ProcedureCodeKind.PROVINCE_INSTANCE, base, agency, agency.split(".")[3])


class Sex(StrEnum):
    """Sex as encoded in the fourth digit of a personal ID."""

    MALE = "male"
    FEMALE = "female"


@cache
def _country_codes() -> frozenset[str]:
    import pycountry

    return frozenset(str(c.numeric) for c in pycountry.countries)


@dataclass(frozen=True, slots=True)
class PersonalId:
    """A decoded 12-digit personal ID (căn cước). Its repr never shows the full number."""

    number: str = field(repr=False)
    """The 12 digits."""
    birth_province_code: str = field(repr=False)
    """Three-digit code of the province where the birth was registered (pre-2025 GSO code), or, for a
    birth registered abroad, the country's ISO 3166-1 numeric code (see `born_abroad`)."""
    sex: Sex
    """From the sex/century digit: even male, odd female."""
    birth_year: int
    """Full year of birth, from the century digit and the two year digits."""
    born_abroad: bool = False
    """The first three digits are a country code, not a province code (Decree 137/2015 art. 13)."""

    def __repr__(self) -> str:
        masked = mask_identifier(self.number)
        return f"PersonalId(number={masked!r}, sex={self.sex.value!r}, birth_year={self.birth_year})"


def validate_personal_id(s: str, *, as_of: date | None = None) -> PersonalId:
    """Decode a 12-digit personal ID: province of birth registration (3 digits), sex and century (1),
    year of birth (2) and 6 random digits. There is no check digit. For a birth registered abroad the
    first 3 digits are the country's ISO 3166-1 numeric code instead (Decree 137/2015/NĐ-CP art. 13).

    The century digit gives 0/1 male/female born 1900-1999, 2/3 2000-2099, 4/5 2100-2199 and so on.
    With `as_of`, a birth year after `as_of.year` is refused.
    """
    masked = mask_identifier(s)
    if not (isinstance(s, str) and len(s) == 12 and s.isascii() and s.isdigit()):
        raise InvalidIdentifier(f"invalid personal ID {masked}: expected exactly 12 digits")
    abroad = s[:3] not in _BIRTH_PROVINCE_CODES
    if abroad and s[:3] not in _country_codes():
        raise InvalidIdentifier(
            f"invalid personal ID {masked}: first 3 digits are neither a province nor a country code"
        )
    century_digit = int(s[3])
    birth_year = 1900 + 100 * (century_digit // 2) + int(s[4:6])
    if as_of is not None and birth_year > as_of.year:
        raise InvalidIdentifier(f"invalid personal ID {masked}: year of birth is in the future")
    sex = Sex.MALE if century_digit % 2 == 0 else Sex.FEMALE
    return PersonalId(s, s[:3], sex, birth_year, abroad)


def validate_old_id_card(s: str) -> str:
    """Check an old 9-digit identity card number (CMND) and return it."""
    if not (isinstance(s, str) and len(s) == 9 and s.isascii() and s.isdigit()):
        raise InvalidIdentifier(f"invalid old ID card number {mask_identifier(s)}: expected exactly 9 digits")
    return s


def validate_tax_code(s: str) -> str:
    """Check a tax code (`MaSoThue`) and return it unchanged: an enterprise's 10 digits, or 13 for a
    branch, also written `NNNNNNNNNN-NNN`; or, since 1 Jul 2025, an individual's or household's 12-digit
    personal ID (Circular 86/2024/TT-BTC art. 5(5)), checked as a personal ID.

    No check digit is verified (the reference does not give one).
    """
    if isinstance(s, str) and len(s) == 12 and s.isascii() and s.isdigit():
        try:
            validate_personal_id(s)
        except InvalidIdentifier as exc:
            raise InvalidIdentifier(f"invalid tax code {mask_identifier(s)}: 12 digits but {exc}") from exc
        return s
    if not isinstance(s, str) or _TAX_RE.fullmatch(s) is None:
        raise InvalidIdentifier(
            f"invalid tax code {mask_identifier(s)}: expected 10 digits, 13 digits, NNNNNNNNNN-NNN or a "
            "12-digit personal ID"
        )
    return s
