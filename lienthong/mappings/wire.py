"""Value conventions of the Vietnamese wire records (DVCQG `DongBoHoSoMC` and the one-stop system).

Public implementations send every value as a string: codes as digit strings (`"4"`), flags as
`"0"`/`"1"`, amounts as digit strings and times as `yyyyMMddHHmmss` in Asia/Ho_Chi_Minh. We write
exactly that, and read leniently where it is unambiguous (a code may also arrive as a JSON integer,
a flag as a boolean). An absent optional value is written as JSON `null` and read from `null`, `""`
or a missing key.

The annotated types below carry these conventions into pydantic models: they validate the wire
value, serialise it back to the wire form and describe the wire form in the JSON Schema.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from lienthong.mappings.errors import MappingError
from lienthong.schemas.validators import VN_TZ as VN_TZ  # noqa: PLC0414 - explicit re-export for mypy

DVCQG_DATE_FORMAT = "%Y%m%d%H%M%S"
"""`strftime` form of the wire time format `yyyyMMddHHmmss` (local time in Asia/Ho_Chi_Minh)."""

_TIME_RE = re.compile(r"[0-9]{14}")
_SHOW_MAX = 40


def _show(value: object) -> str:
    """What a refused value looks like, without the value: error messages reach callers and logs, and a
    caller's own value is never echoed (it may be personal data in the wrong field)."""
    if isinstance(value, str):
        return f"(a text of {len(value)} characters)"
    return f"(a {type(value).__name__})"


def format_dvcqg_time(dt: datetime) -> str:
    """Format an aware datetime as `yyyyMMddHHmmss` in Asia/Ho_Chi_Minh. Sub-seconds are dropped.

    Raises `MappingError` for a naive datetime: its zone would be a guess.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise MappingError("a timezone-aware datetime is required to format a DVCQG time")
    local = dt.astimezone(VN_TZ)
    return f"{local.year:04d}{local:%m%d%H%M%S}"


def parse_dvcqg_time(s: str) -> datetime:
    """Parse exactly 14 ASCII digits `yyyyMMddHHmmss` (Asia/Ho_Chi_Minh) into an aware datetime.

    Raises `MappingError` (a `ValueError`) naming the expected format for anything else, including
    separators, a wrong length and impossible dates such as `20250230...`.
    """
    if not isinstance(s, str) or _TIME_RE.fullmatch(s) is None:
        raise MappingError(
            f"invalid DVCQG time {_show(s)}: expected yyyyMMddHHmmss, exactly 14 digits "
            "(Asia/Ho_Chi_Minh), e.g. 20250703091500"
        )
    try:
        parsed = datetime(
            int(s[0:4]), int(s[4:6]), int(s[6:8]), int(s[8:10]), int(s[10:12]), int(s[12:14]), tzinfo=VN_TZ
        )
    except ValueError as exc:
        raise MappingError(f"invalid DVCQG time {_show(s)}: not a real date and time") from exc
    return check_year(parsed)


YEAR_MIN, YEAR_MAX = 1900, 2200
"""Years a time on the wire may carry; anything else is a typo or an attack, refused before publishing."""


def check_year(value: datetime) -> datetime:
    """`value` if its year is within `YEAR_MIN`..`YEAR_MAX`, else `MappingError`."""
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise MappingError(f"a time must fall in the years {YEAR_MIN}-{YEAR_MAX}")
    return value


def format_flag(value: bool) -> str:
    """A flag on the wire: `"1"` for true, `"0"` for false."""
    return "1" if value else "0"


def parse_flag(value: Any) -> bool:
    """Read a flag sent as `"0"`/`"1"`, `0`/`1`, a JSON boolean or `"true"`/`"false"`."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("0", "false"):
            return False
    raise MappingError(f'invalid flag {_show(value)}: expected "0" or "1"')


def parse_code(value: Any) -> int:
    """Read a numeric code sent as a digit string (`"4"`) or a JSON integer (`4`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and 0 < len(value) <= 9 and value.isascii() and value.isdigit():
        return int(value)
    raise MappingError(f'invalid code {_show(value)}: expected a number written as digits, e.g. "4"')


def _read_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise MappingError("a timezone-aware datetime is required")
        return value
    return parse_dvcqg_time(value)


def _read_optional_time(value: Any) -> datetime | None:
    return None if value is None or value == "" else _read_time(value)


def _format_optional_time(value: datetime | None) -> str | None:
    return None if value is None else format_dvcqg_time(value)


def _read_optional_code(value: Any) -> int | None:
    return None if value is None or value == "" else parse_code(value)


def _format_optional_code(value: int | None) -> str | None:
    return None if value is None else str(int(value))


def _read_text(value: Any) -> Any:
    # Identifiers such as TepDinhKemId or MaCSDL are sometimes sent as JSON numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _read_optional_text(value: Any) -> Any:
    return None if value == "" else _read_text(value)


def _read_amount(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,15}(?:\.0+)?", value):
        return int(value.split(".", 1)[0])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise MappingError(f'invalid amount {_show(value)}: expected whole dong as digits, e.g. "50000"')


_TIME_SCHEMA = {
    "type": "string",
    "pattern": "^[0-9]{14}$",
    "description": "yyyyMMddHHmmss, local time in Asia/Ho_Chi_Minh",
    "examples": ["20250703091500"],
}
_CODE_SCHEMA = {
    "type": "string",
    "pattern": "^[0-9]+$",
    "description": "numeric code written as a string; a JSON integer is accepted too",
}

WireTime = Annotated[
    datetime,
    BeforeValidator(_read_time),
    PlainSerializer(format_dvcqg_time, return_type=str),
    WithJsonSchema(_TIME_SCHEMA),
]
"""A required wire time: `yyyyMMddHHmmss` string <-> aware datetime."""

WireOptionalTime = Annotated[
    datetime | None,
    BeforeValidator(_read_optional_time),
    PlainSerializer(_format_optional_time, return_type=str | None),
    WithJsonSchema({**_TIME_SCHEMA, "type": ["string", "null"], "pattern": "^([0-9]{14})?$"}),
]
"""An optional wire time: `null` or `""` when absent."""

WireCode = Annotated[
    int,
    BeforeValidator(parse_code),
    PlainSerializer(lambda v: str(int(v)), return_type=str),
    WithJsonSchema(_CODE_SCHEMA),
]
"""A required numeric code: `"4"` <-> 4."""

WireOptionalCode = Annotated[
    int | None,
    BeforeValidator(_read_optional_code),
    PlainSerializer(_format_optional_code, return_type=str | None),
    WithJsonSchema({**_CODE_SCHEMA, "type": ["string", "null"], "pattern": "^([0-9]+)?$"}),
]
"""An optional numeric code whose value set the reference does not fix (passed through)."""

WireFlag = Annotated[
    bool,
    BeforeValidator(parse_flag),
    PlainSerializer(format_flag, return_type=str),
    WithJsonSchema({"type": "string", "enum": ["0", "1"], "description": '"1" yes, "0" no'}),
]
"""A yes/no flag: `"1"`/`"0"` <-> bool."""

WireText = Annotated[str, BeforeValidator(_read_text)]
"""Required text (a JSON number is read as its digits)."""

WireOptionalText = Annotated[str | None, BeforeValidator(_read_optional_text)]
"""Optional text: `null` or `""` when absent."""

WireAmount = Annotated[
    int,
    BeforeValidator(_read_amount),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]+$", "description": "whole Vietnamese dong"}),
]
"""An amount in whole dong: `"50000"` <-> 50000."""
