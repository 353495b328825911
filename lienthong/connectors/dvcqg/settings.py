"""Settings of the DVCQG connector: `LIENTHONG_DVCQG_*` environment variables.

Defaults reach the sandbox simulator on loopback (`python -m lienthong.connectors.dvcqg.sandbox --port
8091`) with its demo account; production sets the portal's URL, the province's account and agency code,
and a PostgreSQL `state_dsn` shared by every worker.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DSTCODE = "VN:GOV:000.00.00.G22:vpcpdvcprovider"
"""X-Road-style address of the portal's provider subsystem (REFERENCE 1)."""


class DvcqgSettings(BaseSettings):
    """How lienthong reaches the National Public Service Portal (DVCQG) for dossier sync."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_DVCQG_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    url: str = "http://127.0.0.1:8091"
    """Base URL of the portal's JSON API; `login_path` and `service_path` are appended to it."""
    login_path: str = "/mapi/login?dstcode={dstcode}"
    """Path (and query) of the session login (`LayPhienLamViec`) below `url`; `{dstcode}` is replaced by
    the `dstcode` setting. Public implementations use `.../mapi/login?dstcode=...`."""
    service_path: str = "/mapi/g"
    """Path of every service call (`TraCuuHoSo`, `DongBoHoSoMC`, ...) below `url`; public
    implementations use `.../mapi/g`."""
    lookup_field: str = "mahoso"
    """Body field carrying the dossier code in `TraCuuHoSo` (public code sends lower-case `mahoso`)."""
    username: str = "lienthong"
    """Account of the province for `LayPhienLamViec` (session login); the default is the sandbox's."""
    password: SecretStr = SecretStr("sandbox-secret")
    """Password of that account; the default is the sandbox's. Never logged."""
    agency_code: str = "000.00.12.H52"
    """`madonvi`: the province's agency code (QCVN 102), sent at login and in every call."""
    dstcode: str = DSTCODE
    """Value of the `dstcode` header on every call (the portal's X-Road member/subsystem address)."""
    timeout_s: float = Field(2.0, gt=0)
    """Timeout of one HTTP call, seconds (connect, read and write each); a timeout is a transient failure."""
    max_items_per_call: int = Field(200, ge=1)
    """Most dossiers in one `DongBoHoSoMC` call (a whole batch is refused if one item is, so smaller
    calls isolate a refusal with fewer extra calls; larger calls mean fewer round trips)."""
    concurrency: int = Field(4, ge=1)
    """Most calls to the portal in flight at once from one worker (logins excluded)."""
    exists_error_codes: tuple[int, ...] = (3, -3)
    """`error_code` values that, with a message containing "đã tồn tại", mean "this dossier exists":
    the create is retried as an update. Public implementations use 3 or -3. As JSON: `[3, -3]`."""
    session_refresh_margin_s: float = Field(60.0, ge=0)
    """Log in again this many seconds before the session's `expires_in` runs out (capped at half the
    session's lifetime), so no call meets an expired session in the normal course."""
    session_max_age_s: float = Field(1800.0, gt=0)
    """Age, seconds, after which a session whose login answer carried no `expires_in` is renewed
    (a session is never cached forever)."""
    session_error_codes: tuple[int, ...] = (-2,)
    """`error_code` values that mean "session unknown or expired": the client logs in again and resends
    once. Messages naming the session or login (`session_error_markers`) and HTTP 401/403 count too,
    since the portal's own code is not public. As JSON: `[-2]`."""
    session_error_markers: tuple[str, ...] = ("phiên làm việc", "phien lam viec", "session", "token", "đăng nhập")
    """Lower-case message fragments of an authentication failure answer (matched on the NFC message)."""
    strict_transitions: bool = False
    """False (real systems' behaviour): a status change the reference table does not list (2->10, 5<->6,
    9->4, ...) is forwarded with a warning and an audit note. True: it is refused as a business
    rejection on `dossier.outcomes`."""
    push_token: SecretStr = SecretStr("")
    """Bearer token DVCQG must send to `POST /dvcqg/push`. Empty = no check (loopback only: `lienthong
    api` refuses to listen elsewhere without it)."""
    state_dsn: str = Field("", repr=False)
    """Store of the sync state (last version, status and steps sent per dossier: the version guard):
    `sqlite:///path.db` or `postgresql://...`. Empty = SQLite file `dvcqg_sync.db` under
    `LIENTHONG_STATE_DIR`. Workers sharing a consumer group must share this store (PostgreSQL)."""

    def resolved_state_dsn(self, state_dir: Path) -> str:
        """The state DSN, defaulting to the embedded SQLite file under `state_dir`."""
        return self.state_dsn or f"sqlite:///{state_dir / 'dvcqg_sync.db'}"


__all__ = ["DSTCODE", "DvcqgSettings"]
