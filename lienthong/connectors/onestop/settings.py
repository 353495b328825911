"""Settings of the one-stop connector: `LIENTHONG_ONESTOP_*` environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class OnestopSettings(BaseSettings):
    """How lienthong reaches the provincial one-stop system and how the system reaches lienthong."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_ONESTOP_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    url: str = "http://127.0.0.1:8092"
    """Base URL of the one-stop system's REST API; notices from DVCQG are posted to `{url}/api/notices`."""
    timeout_s: float = Field(10.0, gt=0)
    """Timeout of one call to the one-stop REST API, seconds (connect, read and write each)."""
    concurrency: int = Field(16, ge=1)
    """Most calls to the one-stop REST API in flight at once from one worker."""
    webhook_token: SecretStr = SecretStr("")
    """Bearer token the one-stop system must send to `POST /onestop/dossier-events`
    (`Authorization: Bearer <token>`, compared in constant time). Empty = no authentication: only for
    loopback demos; set it wherever the webhook is reachable from another host."""
    source_topic: str = "onestop.dossier-events"
    """The one-stop system's own Kafka topic, the alternative to the webhook: CloudEvents binary-mode
    records of type `vn.gov.onestop.dossier_event.v1` whose value is the webhook JSON."""
