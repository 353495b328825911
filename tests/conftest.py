"""Test harness: a real Apache Kafka broker and a real PostgreSQL cluster per session, loopback only."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lienthong.settings import Settings
from lienthong.testing import EmbeddedKafka, PostgresCluster, free_port

_real_connect = socket.socket.connect


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration is marked `integration` (a `pytestmark` in a conftest has no effect)."""
    del config
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


def _loopback_only(self: socket.socket, address: object) -> object:
    # Tests never reach beyond this machine (zeep's conftest does the same).
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        host = address[0]
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            raise RuntimeError(f"test tried to reach {host}: only loopback is allowed")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def _forbid_network() -> Iterator[None]:
    socket.socket.connect = _loopback_only  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap of a real single-node Kafka (KRaft) started for this test session."""
    broker = EmbeddedKafka(tmp_path_factory.mktemp("kafka"), port=free_port(), controller_port=free_port())
    bootstrap = broker.start()
    yield bootstrap
    broker.stop()


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a real PostgreSQL: LIENTHONG_TEST_PG_DSN, else a throw-away cluster."""
    env = os.environ.get("LIENTHONG_TEST_PG_DSN")
    if env:
        yield env
        return
    # Not under pytest's tmp dir: that is private to root, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="lienthong-pg-"))
    cluster = PostgresCluster(base)
    yield cluster.start()
    cluster.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def settings(kafka: str, tmp_path: Path) -> Settings:
    """Settings for one test: the session broker, its own state dir and consumer group, fast retries."""
    return Settings(
        bootstrap_servers=kafka,
        state_dir=tmp_path,
        consumer_group=f"t-{tmp_path.name}",
        retry_base_s=0.2,
        retry_max_s=1.0,
        inprocess_backoff_max_s=0.05,
        circuit_open_s=0.5,
        partitions=3,
    )
