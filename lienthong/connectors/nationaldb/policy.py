"""The rules every look-up follows, in one place: a stated purpose, the procedure's field list, a
per-officer rate limit, and the keyed hash that records which citizen was looked at."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import yaml

from lienthong.errors import ConfigurationError
from lienthong.mappings.errors import MappingError
from lienthong.mappings.identifiers import validate_dossier_code
from lienthong.schemas.lookup import LookupPurpose, Register

FIELDS_FILE = Path(__file__).with_name("fields.yaml")
"""The shipped per-procedure field lists."""
_BASE_CODE = re.compile(r"^([0-9]\.[0-9]{6})(?:\.[0-9A-Z.]+)?$")


class LookupRefused(Exception):  # noqa: N818 - a refusal, answered to the caller
    """A look-up broke a rule; `reason` names the rule (never a value), `http_status` the REST answer."""

    def __init__(self, reason: str, http_status: int = 422) -> None:
        super().__init__(reason)
        self.reason = reason
        self.http_status = http_status


@dataclass(frozen=True, slots=True)
class FieldPolicy:
    """Per procedure (base code) and register, the fields it may receive."""

    allowed: dict[str, dict[Register, tuple[str, ...]]]

    @classmethod
    def load(cls, path: str | Path = "") -> FieldPolicy:
        """Read the YAML field lists (the shipped file when `path` is empty)."""
        file = Path(path) if path else FIELDS_FILE
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
            allowed: dict[str, dict[Register, tuple[str, ...]]] = {}
            for code, entry in (data.get("procedures") or {}).items():
                allowed[str(code)] = {Register(k): tuple(str(f) for f in v) for k, v in entry.items() if k != "name"}
        except (OSError, yaml.YAMLError, AttributeError, ValueError, TypeError) as exc:
            raise ConfigurationError(f"look-up field lists {file}: {type(exc).__name__}: {exc}") from exc
        return cls(allowed)

    def fields_for(self, procedure_code: str, register: Register) -> tuple[str, ...]:
        """The fields `procedure_code` may receive from `register`; `LookupRefused` (403) when none."""
        m = _BASE_CODE.match(procedure_code)
        if m is None:
            raise LookupRefused("purpose.procedure_code is not a procedure code (e.g. 1.001193)")
        fields = self.allowed.get(m.group(1), {}).get(register)
        if not fields:
            raise LookupRefused(f"procedure {m.group(1)} may not look up the {register.value} register", 403)
        return fields


def check_purpose(purpose: LookupPurpose | None) -> LookupPurpose:
    """The purpose, or `LookupRefused` when it is missing or its dossier code is not one."""
    if purpose is None:
        raise LookupRefused(
            "a look-up must state its purpose: purpose.procedure_code, purpose.dossier_code, "
            "purpose.officer_id and purpose.legal_basis",
            400,
        )
    try:
        validate_dossier_code(purpose.dossier_code)
    except (MappingError, ValueError):
        raise LookupRefused("purpose.dossier_code is not a dossier code (agency-YYMMDD-NNNN)") from None
    return purpose


class OfficerRateLimit:
    """At most `per_minute` look-ups per officer in a sliding minute (this process)."""

    def __init__(self, per_minute: int, *, clock: object = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, officer_id: str) -> None:
        """Count one look-up of `officer_id`, or `LookupRefused` (429) when over the limit."""
        now = self._clock()  # type: ignore[operator]
        with self._lock:
            calls = self._calls.setdefault(officer_id, deque())
            while calls and calls[0] <= now - 60.0:
                calls.popleft()
            if len(calls) >= self.per_minute:
                raise LookupRefused(f"officer over {self.per_minute} look-ups per minute; try again shortly", 429)
            calls.append(now)


def subject_hash(key: bytes, register: Register, subject: str) -> str:
    """Keyed hash (HMAC-SHA256, hex) of the looked-up subject: the log can be searched by it, never read."""
    return hmac.new(key, f"{register.value}\x1f{subject}".encode(), hashlib.sha256).hexdigest()


def hash_key(secret: str, state_dir: Path) -> bytes:
    """The HMAC key: the configured secret, else one derived from the state directory (demo only)."""
    if secret:
        return secret.encode()
    return hashlib.sha256(b"lienthong-lookups-demo-key\x1f" + str(state_dir.resolve()).encode()).digest()


__all__ = ["FIELDS_FILE", "FieldPolicy", "LookupRefused", "OfficerRateLimit", "check_purpose", "hash_key",
           "subject_hash"]  # fmt: skip
