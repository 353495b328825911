"""Settings of the ministry SOAP endpoint: `LIENTHONG_SOAP_*` environment variables.

The accounts file (`LIENTHONG_SOAP_ACCOUNTS`) is a YAML list of ministry accounts::

    - username: bo-tu-phap
      password: "..."                 # needed in clear: PasswordDigest is checked against it
      operations: [TraCuuHoSo, GuiKetQuaXuLy]
      certificate: certs/bo-tu-phap.pem   # optional; relative to the file; requests must then be signed
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MinistrySettings(BaseSettings):
    """How ministries reach lienthong's SOAP endpoint `/soap/ministry`."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_SOAP_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    accounts: SecretStr = SecretStr("")
    """Path of the YAML file of ministry accounts (`username`, `password`, `operations`, optional
    `certificate`). Empty = no account, every call is refused; `lienthong api` refuses to listen beyond
    loopback without it."""
    state_dsn: str = Field("", repr=False)
    """Store of accepted message ids (`MaThongDiep`, idempotency) and of the dossier view answered by
    `TraCuuHoSo`: `sqlite:///path.db` or `postgresql://...`. Empty = SQLite `ministry.db` under
    `LIENTHONG_STATE_DIR`. API replicas must share it (PostgreSQL)."""
    replay_window_s: float = Field(300.0, gt=0)
    """Accepted clock difference for a UsernameToken's `Created` and a signed `Timestamp`, seconds;
    nonces are remembered for twice this long."""
    max_depth: int = Field(32, ge=4, le=256)
    """Deepest XML element nesting accepted in a request."""
    publish_timeout_s: float = Field(10.0, gt=0)
    """Longest wait for the bus and the audit store before a `soap:Server` fault (send again later)."""
    claim_lease_s: float = Field(30.0, gt=0)
    """A message id claimed by a request that never finished (a killed process) may be taken over by
    a repeated request after this many seconds."""

    def resolved_state_dsn(self, state_dir: Path) -> str:
        """The state DSN, defaulting to the embedded SQLite file under `state_dir`."""
        return self.state_dsn or f"sqlite:///{state_dir / 'ministry.db'}"


__all__ = ["MinistrySettings"]
