"""Ministry accounts of the SOAP endpoint, read from the YAML file named by `LIENTHONG_SOAP_ACCOUNTS`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from lienthong.errors import ConfigurationError

OPERATIONS = frozenset({"TraCuuHoSo", "GuiKetQuaXuLy"})
"""Operations of the service an account may be allowed."""


@dataclass(frozen=True, slots=True)
class MinistryAccount:
    """One ministry's account."""

    username: str
    """WS-Security `Username`; also names the ministry in audit records."""
    password: str
    """Shared secret of PasswordDigest (kept in memory only; never logged)."""
    operations: frozenset[str]
    """Operations this ministry may call."""
    certificate: bytes | None = None
    """PEM certificate: when set, every request of this account must carry an X.509 signature."""

    def __repr__(self) -> str:
        return f"MinistryAccount({self.username!r}, operations={sorted(self.operations)})"


def load_accounts(path: str) -> dict[str, MinistryAccount]:
    """Accounts by username from the YAML file at `path` (empty path: none); `ConfigurationError` if bad."""
    if not path:
        return {}
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"LIENTHONG_SOAP_ACCOUNTS: cannot read {file}: {type(exc).__name__}") from exc
    if not isinstance(data, list):
        raise ConfigurationError("LIENTHONG_SOAP_ACCOUNTS: the file must hold a YAML list of accounts")
    accounts: dict[str, MinistryAccount] = {}
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict) or not item.get("username") or not item.get("password"):
            raise ConfigurationError(f"LIENTHONG_SOAP_ACCOUNTS: account {n} needs username and password")
        ops = frozenset(str(o) for o in item.get("operations") or ())
        unknown = ops - OPERATIONS
        if unknown or not ops:
            raise ConfigurationError(
                f"LIENTHONG_SOAP_ACCOUNTS: account {n} operations must be among {sorted(OPERATIONS)}"
            )
        cert = None
        if item.get("certificate"):
            cert_path = Path(str(item["certificate"]))
            if not cert_path.is_absolute():
                cert_path = file.parent / cert_path
            try:
                cert = cert_path.read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"LIENTHONG_SOAP_ACCOUNTS: account {n}: cannot read its certificate") from exc
        username = str(item["username"])
        if username in accounts:
            raise ConfigurationError(f"LIENTHONG_SOAP_ACCOUNTS: username of account {n} is listed twice")
        accounts[username] = MinistryAccount(username, str(item["password"]), ops, cert)
    return accounts


__all__ = ["OPERATIONS", "MinistryAccount", "load_accounts"]
