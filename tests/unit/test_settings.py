"""Settings: safe embedded defaults on loopback, LIENTHONG_* overrides, the README table."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest

from lienthong.settings import Settings, default_state_dir, settings_classes, settings_markdown_table


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LIENTHONG_* variable of the machine running the tests leaks into them."""
    for var in [v for v in os.environ if v.startswith("LIENTHONG_")]:
        monkeypatch.delenv(var)
    yield


def test_default_bootstrap_is_the_embedded_broker_on_loopback() -> None:
    assert Settings().bootstrap_servers == "127.0.0.1:9092"


def test_default_http_listener_is_loopback_only() -> None:
    assert Settings().http_host == "127.0.0.1"


def test_default_stores_are_embedded_sqlite_files_under_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    assert settings.resolved_audit_dsn() == f"sqlite:///{tmp_path / 'audit.db'}"
    assert settings.resolved_idempotency_dsn() == f"sqlite:///{tmp_path / 'idempotency.db'}"


def test_default_state_dir_is_the_user_cache() -> None:
    assert Settings().state_dir == default_state_dir() == Path.home() / ".cache" / "lienthong"


def test_default_replication_factor_is_the_clusters_own_default() -> None:
    # -1: `create_topics` reads the cluster's default.replication.factor (1 on one node, 3 on three).
    assert Settings().replication_factor == -1


def test_replication_factor_zero_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        Settings(replication_factor=0)


def test_audit_bodies_are_not_kept_unless_a_key_is_set() -> None:
    assert Settings().audit_encryption_key == ""


def test_a_given_dsn_is_used_as_it_is() -> None:
    settings = Settings(audit_dsn="postgresql://u@db/lt", idempotency_dsn="postgresql://u@db/idem")
    assert (settings.resolved_audit_dsn(), settings.resolved_idempotency_dsn()) == (
        "postgresql://u@db/lt",
        "postgresql://u@db/idem",
    )


def test_bootstrap_servers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    assert Settings().bootstrap_servers == "kafka-1:9092,kafka-2:9092"


def test_numbers_from_the_environment_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("LIENTHONG_RETRY_MAX_S", "120.5")
    settings = Settings()
    assert (settings.replication_factor, settings.retry_max_s) == (3, 120.5)


def test_environment_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("lienthong_http_port", "9000")
    assert Settings().http_port == 9000


def test_an_out_of_range_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_REPLICATION_FACTOR", "0")
    with pytest.raises(pydantic.ValidationError, match="replication_factor"):
        Settings()


def test_an_unknown_log_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_LOG_FORMAT", "xml")
    with pytest.raises(pydantic.ValidationError, match="log_format"):
        Settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.bootstrap_servers = "elsewhere:9092"  # type: ignore[misc]


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_field_has_a_description(name: str) -> None:
    assert Settings.model_fields[name].description


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_markdown_table_lists_every_field_as_its_variable(name: str) -> None:
    assert f"| `LIENTHONG_{name.upper()}` |" in settings_markdown_table()


def test_markdown_table_has_a_header_and_one_row_per_field() -> None:
    lines = settings_markdown_table().splitlines()
    assert lines[:2] == ["| Variable | Default | Meaning |", "|---|---|---|"]
    assert len(lines) == 2 + sum(len(cls.model_fields) for cls in settings_classes())


def test_markdown_table_shows_the_default_and_the_meaning() -> None:
    row = next(line for line in settings_markdown_table().splitlines() if "LIENTHONG_BOOTSTRAP_SERVERS" in line)
    assert "`'127.0.0.1:9092'`" in row
    assert f"| {Settings.model_fields['bootstrap_servers'].description} |" in row


def test_markdown_table_marks_computed_defaults() -> None:
    row = next(line for line in settings_markdown_table().splitlines() if "LIENTHONG_STATE_DIR" in line)
    assert "`(computed)`" in row
