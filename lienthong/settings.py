"""Configuration: every knob is a `LIENTHONG_*` environment variable (pydantic-settings).

The README's configuration table is generated from this module (`lienthong config --markdown`), and a test
checks that docker-compose.yml sets only variables that exist here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_state_dir() -> Path:
    """Where the embedded broker, its artifacts and the embedded audit store live by default."""
    return Path.home() / ".cache" / "lienthong"


class Settings(BaseSettings):
    """All of lienthong's settings. Safe defaults: the embedded single-node set-up on loopback."""

    model_config = SettingsConfigDict(env_prefix="LIENTHONG_", extra="ignore", frozen=True)

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port.")
    state_dir: Path = Field(
        default_factory=default_state_dir,
        description="Directory for the embedded broker's data, cached Kafka jars and the embedded audit DB.",
    )
    kafka_version: str = Field("4.1.1", description="Apache Kafka version resolved from Maven Central.")
    audit_dsn: str = Field(
        "",
        description="Audit store: `sqlite:///path.db` or `postgresql://user:pw@host/db`. "
        "Empty = SQLite file `audit.db` under the state directory.",
    )
    idempotency_dsn: str = Field(
        "",
        description="Idempotency store DSN (same forms as the audit DSN). Empty = `idempotency.db` "
        "under the state directory.",
    )
    kpi_dsn: str = Field(
        "",
        description="KPI projection store DSN (same forms as the audit DSN). Empty = `kpi.db` under the "
        "state directory. Workers in one consumer group must share it.",
    )
    audit_encryption_key: str = Field(
        "",
        description="Base64 32-byte key; when set, audit records also keep the message body encrypted "
        "(AES-GCM). Empty = digest only.",
    )
    audit_batch_max: int = Field(2000, ge=1, description="Most audit records written in one group-commit transaction.")
    consumer_group: str = Field("lienthong", description="Kafka consumer group id of the workers.")
    consume_batch_max: int = Field(
        1000, ge=1, description="Most records taken from Kafka per poll (one batch, one commit)."
    )
    producer_linger_ms: int = Field(5, ge=0, description="Producer linger: how long to wait to fill a batch.")
    producer_batch_bytes: int = Field(
        262144, ge=16384, description="Producer batch size in bytes (256 KiB measured best here)."
    )
    max_poll_interval_ms: int = Field(
        300000, description="Kafka max.poll.interval.ms; in-process retries stay well below it."
    )
    inprocess_attempts: int = Field(
        3, ge=1, description="Attempts of a transient failure inside the worker before the retry topic."
    )
    inprocess_backoff_max_s: float = Field(0.5, gt=0, description="Longest wait between in-process attempts, seconds.")
    retry_attempts: int = Field(5, ge=0, description="Rounds through the `<topic>.retry` topic before the DLQ.")
    retry_base_s: float = Field(
        2.0, gt=0, description="First retry-topic delay in seconds; doubles each round, with jitter."
    )
    retry_max_s: float = Field(300.0, gt=0, description="Longest retry-topic delay, seconds.")
    circuit_failure_threshold: int = Field(
        5, ge=1, description="Consecutive transient failures of one peer that open its circuit."
    )
    circuit_open_s: float = Field(
        5.0, gt=0, description="How long an open circuit keeps consumers paused before a probe."
    )
    circuit_open_max_s: float = Field(60.0, gt=0, description="Longest pause between probes, seconds.")
    http_host: str = Field("127.0.0.1", description="Address the ASGI app listens on.")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the ASGI app (REST, SOAP, /metrics).")
    public_url: str = Field(
        "http://127.0.0.1:8080",
        description="Base URL where consumers reach lienthong's API; records' `ce_dataschema` is "
        "`{public_url}/schemas/<PayloadModel>.json`, served there.",
    )
    http_header_timeout_s: float = Field(
        10.0, gt=0, description="A client whose request headers take longer than this is disconnected (slowloris)."
    )
    http_body_timeout_s: float = Field(
        10.0, gt=0, description="A client whose request body takes longer than this after its headers gets 408."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest accepted HTTP/XML request body; larger gets 413."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="Log rendering: JSON when not a terminal (auto), or forced."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Log level name: DEBUG, INFO, WARNING, ERROR or CRITICAL (any case)."
    )
    metrics_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="Port where `lienthong run` serves /metrics, /healthz and /readyz of its workers "
        "(on LIENTHONG_HTTP_HOST); 0 = do not serve.",
    )
    broker_controller_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="KRaft controller port of the embedded broker's first node (`lienthong broker start`); "
        "0 = the client port + 100.",
    )
    operator: str = Field("", description="Operator name recorded in the audit chain for ops actions (default: $USER).")
    partitions: int = Field(6, ge=1, description="Partitions of each main topic created by lienthong.")
    replication_factor: int = Field(
        -1,
        ge=-1,
        description="Replication factor of created topics; -1 = the cluster's own `default.replication.factor`.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("replication_factor")
    @classmethod
    def _not_zero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("0 is not a replication factor: use -1 (the cluster's default) or 1 and more")
        return v

    def resolved_audit_dsn(self) -> str:
        """The audit DSN, defaulting to the embedded SQLite file."""
        return self.audit_dsn or f"sqlite:///{self.state_dir / 'audit.db'}"

    def resolved_idempotency_dsn(self) -> str:
        """The idempotency DSN, defaulting to the embedded SQLite file."""
        return self.idempotency_dsn or f"sqlite:///{self.state_dir / 'idempotency.db'}"


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class: the hub's own and each registered connector's (`LIENTHONG_<CONNECTOR>_*`)."""
    from lienthong.calendar.settings import CalendarSettings
    from lienthong.connectors.registry import connectors
    from lienthong.mappings.merger import MergerSettings

    return [Settings, CalendarSettings, MergerSettings, *(c.settings_class for c in connectors())]


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """Environment variable → field name of one settings class."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    return {f"{prefix}{name}".upper(): name for name in cls.model_fields}


def settings_markdown_table() -> str:
    """The README configuration table: variable, default, meaning, for every settings class."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for cls in settings_classes():
        for var, name in env_names(cls).items():
            field = cls.model_fields[name]
            default = "(computed)" if field.default_factory is not None else repr(field.default)
            if isinstance(field.default, SecretStr) or any(w in name for w in ("password", "token", "secret")):
                shown = field.default.get_secret_value() if isinstance(field.default, SecretStr) else field.default
                default = "(secret)" if shown else "''"
            description = (field.description or "").replace("\n", " ")
            rows.append(f"| `{var}` | `{default}` | {description} |")
    return "\n".join(rows)
