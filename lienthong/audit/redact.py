"""Personal-data masking (Decree 13/2023/NĐ-CP): ID numbers, names and phone numbers never leave in clear.

Two layers: values under keys known to hold personal data are masked whole (names cannot be found by
pattern), and every other string is scanned for ID-number and phone-number patterns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SENSITIVE_KEYS: frozenset[str] = frozenset(
    k.lower()
    for k in (
        # Vietnamese wire names (REFERENCE section 2)
        "ChuHoSo", "HoVaTen", "HoTenNguoiNop", "SoCMNDNguoiNop", "SoDinhDanh", "SoCMND",
        "SoDienThoai", "SoGiayToChuHoSo", "DiaChiNguoiNop", "NguoiYeuCauBoSung", "Email",
        "Ho", "ChuDem", "Ten", "DiaChiChiTiet",
        # canonical English names
        "name", "full_name", "applicant_name", "id_number", "personal_id", "phone", "email",
        "address", "payer_name", "payer_id",
    )
)  # fmt: skip
"""Keys whose values are personal data whatever they look like (compared case-insensitively)."""

# 12-digit personal ID / 9-digit old ID card, not inside a longer digit run (dossier codes, amounts).
_ID_RE = re.compile(r"(?<!\d)(\d{9}|\d{12})(?!\d)")
# Vietnamese mobile/landline: 0 or +84 then 9 digits (spaces/dots allowed between groups).
_PHONE_RE = re.compile(r"(?<![\d+])(?:\+84|0)(?:[ .\-]?\d){9}(?!\d)")
MASK = "***"


def mask_value(value: str) -> str:
    """Mask a known personal value. Numbers keep their last two digits (enough to tell two apart in a
    log); anything else (a name, an address) is masked whole."""
    digits = value.replace(" ", "").replace(".", "").replace("-", "").lstrip("+")
    if len(value) <= 4 or not digits.isdecimal():
        return MASK
    return f"{MASK}{value[-2:]}"


_WORD_RE = re.compile(r"\w+", re.UNICODE)


def _looks_like_name_word(word: str) -> bool:
    return len(word) > 1 and word[0].isupper() and word[1:].islower() and word.isalpha()


def mask_names(text: str) -> str:
    """Mask runs of two or more capitalised words ("Nguyễn Văn An"): a peer's free text may name a
    person and no list of names is complete. Over-masks place names too, which is the safe side."""
    words = list(_WORD_RE.finditer(text))
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j = i
        while (
            j < len(words)
            and _looks_like_name_word(words[j].group(0))
            and (j == i or text[words[j - 1].end() : words[j].start()].isspace())
        ):
            j += 1
        if j - i >= 2:
            spans.append((words[i].start(), words[j - 1].end()))
        i = max(j, i + 1)
    for start, end in reversed(spans):
        text = text[:start] + MASK + text[end:]
    return text


def mask_text(text: str) -> str:
    """Replace phone numbers, ID numbers and name-like word runs found in free text."""
    text = _PHONE_RE.sub(lambda m: mask_value(m.group(0)), text)
    return mask_names(_ID_RE.sub(lambda m: mask_value(m.group(0)), text))


def redact(obj: Any, *, _sensitive: bool = False) -> Any:
    """A copy of `obj` (JSON-like) with personal data masked; structure and other values unchanged.

    Everything below a sensitive key is masked, however deeply nested (an address object, a list of IDs).
    """
    if isinstance(obj, Mapping):
        return {k: redact(v, _sensitive=_sensitive or str(k).lower() in SENSITIVE_KEYS) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact(v, _sensitive=_sensitive) for v in obj]
    if isinstance(obj, str):
        return mask_value(obj) if _sensitive else mask_text(obj)
    if isinstance(obj, int | float) and not isinstance(obj, bool) and _sensitive:
        return MASK
    return obj
