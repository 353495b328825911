"""docker-compose.yml agrees with the code: services, Kafka quorum, ports and every LIENTHONG_* variable.

No Docker engine runs here, so the file is checked as data: a variable the settings module does not know
would be silently ignored by pydantic-settings (`extra="ignore"`), which is exactly the mistake to catch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lienthong.settings import Settings, env_names, settings_classes

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
KAFKA_SERVICES = ("kafka-1", "kafka-2", "kafka-3")
LIENTHONG_SERVICES = ("lienthong-init", "lienthong-worker", "lienthong-api")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whether written as a mapping or a `KEY=value` list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def listener_addresses(listeners: str) -> dict[str, str]:
    """`NAME://host:port,...` as {NAME: "host:port"}."""
    return dict(item.split("://", 1) for item in listeners.split(","))


def settings_of(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The Settings a service's container would build from its environment."""
    for var in [v for v in os.environ if v.startswith("LIENTHONG_")]:
        monkeypatch.delenv(var)
    for var, value in environment(service).items():
        monkeypatch.setenv(var, value)
    return Settings()


def setting_names() -> set[str]:
    return {var for cls in settings_classes() for var in env_names(cls)}


def test_compose_defines_three_kafka_nodes_postgres_and_the_lienthong_services(services: dict[str, Any]) -> None:
    expected = {*KAFKA_SERVICES, "postgres", *LIENTHONG_SERVICES}
    assert expected <= set(services)


def test_kafka_nodes_run_apache_kafka_4_1_1_as_combined_kraft_nodes(services: dict[str, Any]) -> None:
    for name in KAFKA_SERVICES:
        assert services[name]["image"] == "apache/kafka:4.1.1"
        assert environment(services[name])["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_kafka_node_ids_are_one_to_three(services: dict[str, Any]) -> None:
    ids = sorted(int(environment(services[name])["KAFKA_NODE_ID"]) for name in KAFKA_SERVICES)
    assert ids == [1, 2, 3]


def test_kafka_nodes_share_one_voters_list_naming_all_three(services: dict[str, Any]) -> None:
    voters = {environment(services[name])["KAFKA_CONTROLLER_QUORUM_VOTERS"] for name in KAFKA_SERVICES}
    assert len(voters) == 1
    named = dict(v.split("@", 1) for v in voters.pop().split(","))
    for name in KAFKA_SERVICES:
        node_id = environment(services[name])["KAFKA_NODE_ID"]
        host, _, port = named[node_id].rpartition(":")
        assert host == name
        controller = listener_addresses(environment(services[name])["KAFKA_LISTENERS"])["CONTROLLER"]
        assert controller.endswith(f":{port}")


def test_kafka_nodes_share_one_cluster_id(services: dict[str, Any]) -> None:
    ids = {environment(services[name])["CLUSTER_ID"] for name in KAFKA_SERVICES}
    assert len(ids) == 1
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", ids.pop())


def test_kafka_nodes_have_an_internal_and_an_external_listener(services: dict[str, Any]) -> None:
    for name in KAFKA_SERVICES:
        env = environment(services[name])
        advertised = listener_addresses(env["KAFKA_ADVERTISED_LISTENERS"])
        internal = env["KAFKA_INTER_BROKER_LISTENER_NAME"]
        assert advertised[internal].startswith(f"{name}:")
        external = [listener for listener in advertised if listener != internal]
        assert len(external) == 1
        host_port = advertised[external[0]].rpartition(":")[2]
        assert any(str(p).split(":")[-2] == host_port for p in services[name]["ports"])


def test_kafka_replicates_every_partition_three_times_with_two_in_sync(services: dict[str, Any]) -> None:
    for name in KAFKA_SERVICES:
        env = environment(services[name])
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"


def test_kafka_does_not_create_topics_on_first_use(services: dict[str, Any]) -> None:
    for name in KAFKA_SERVICES:
        assert environment(services[name])["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_postgres_is_version_15_with_a_volume_and_a_healthcheck(services: dict[str, Any]) -> None:
    pg = services["postgres"]
    assert pg["image"] == "postgres:15"
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])


@pytest.mark.parametrize("name", LIENTHONG_SERVICES)
def test_lienthong_services_are_built_from_the_docker_dockerfile(services: dict[str, Any], name: str) -> None:
    build = services[name]["build"]
    assert build["dockerfile"] == "docker/Dockerfile"
    assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).is_file()


def test_every_lienthong_variable_in_the_file_is_a_settings_field(services: dict[str, Any]) -> None:
    known = setting_names()
    unknown = {
        (service, var)
        for service, spec in services.items()
        for var in environment(spec)
        if var.startswith("LIENTHONG_") and var not in known
    }
    assert unknown == set()


def test_no_lienthong_variable_hides_outside_an_environment_block() -> None:
    # Catches a variable in a command, an anchor or an env_file line the per-service check cannot see.
    mentioned = set(re.findall(r"LIENTHONG_[A-Z0-9_]+", COMPOSE_FILE.read_text(encoding="utf-8")))
    assert mentioned - setting_names() == set()


def test_init_creates_the_topics_once(services: dict[str, Any]) -> None:
    init = services["lienthong-init"]
    assert init["command"] == ["lienthong", "topics", "create"]
    assert init.get("restart", "no") == "no"
    assert {f"kafka-{i}" for i in (1, 2, 3)} <= set(init["depends_on"])


def test_workers_run_the_dossier_flows_in_two_replicas_after_topic_creation(services: dict[str, Any]) -> None:
    from lienthong.app import all_flows

    worker = services["lienthong-worker"]
    assert worker["command"][:3] == ["lienthong", "run", "--flows"]
    assert set(worker["command"][3].split(",")) <= set(all_flows()) | {"selftest"}
    assert "dossier_sync" in worker["command"][3]
    assert worker["deploy"]["replicas"] == 2
    assert worker["depends_on"]["lienthong-init"]["condition"] == "service_completed_successfully"


def test_api_listens_on_all_interfaces_on_8080(services: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_of(services["lienthong-api"], monkeypatch)
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8080)


def test_api_publishes_the_port_it_listens_on(services: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    api = services["lienthong-api"]
    port = settings_of(api, monkeypatch).http_port
    assert api["ports"] == [f"{port}:{port}"]


@pytest.mark.parametrize("name", LIENTHONG_SERVICES)
def test_bootstrap_servers_are_the_kafka_internal_listeners(services: dict[str, Any], name: str) -> None:
    internal = set()
    for node in KAFKA_SERVICES:
        env = environment(services[node])
        internal.add(listener_addresses(env["KAFKA_ADVERTISED_LISTENERS"])[env["KAFKA_INTER_BROKER_LISTENER_NAME"]])
    bootstrap = environment(services[name])["LIENTHONG_BOOTSTRAP_SERVERS"]
    assert set(bootstrap.split(",")) == internal


@pytest.mark.parametrize("name", LIENTHONG_SERVICES)
def test_lienthong_creates_topics_with_replication_factor_three(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    assert settings_of(services[name], monkeypatch).replication_factor == 3


@pytest.mark.parametrize("name", LIENTHONG_SERVICES)
def test_lienthong_services_store_audit_and_idempotency_in_postgres(services: dict[str, Any], name: str) -> None:
    env = environment(services[name])
    for var in ("LIENTHONG_AUDIT_DSN", "LIENTHONG_IDEMPOTENCY_DSN"):
        assert env[var].startswith("postgresql://")
        assert "@postgres:5432/" in env[var]


@pytest.mark.parametrize("name", LIENTHONG_SERVICES)
def test_lienthong_services_log_json(services: dict[str, Any], name: str) -> None:
    assert environment(services[name])["LIENTHONG_LOG_FORMAT"] == "json"


@pytest.mark.parametrize("name", LIENTHONG_SERVICES)
def test_every_lienthong_value_parses_as_its_setting(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    settings = settings_of(services[name], monkeypatch)
    for var, value in environment(services[name]).items():
        field = var.removeprefix("LIENTHONG_").lower()
        if field in Settings.model_fields:  # unknown ones fail the test above
            assert str(getattr(settings, field)) == value


def test_the_dockerfile_runs_lienthong_as_a_non_root_user() -> None:
    dockerfile = (COMPOSE_FILE.parent / "docker" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users
    assert users[-1] not in ("root", "0")


# -- production hardening and monitoring --------------------------------------------------------------------

SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY")


def test_every_secret_is_required_never_defaulted() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    references = re.findall(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}", text)
    secrets = [(name, rest) for name, rest in references if any(w in name for w in SECRET_WORDS)]
    assert {name for name, _ in secrets} >= {"POSTGRES_PASSWORD", "DVCQG_PASSWORD", "ONESTOP_WEBHOOK_TOKEN",
                                             "DVCQG_PUSH_TOKEN", "GRAFANA_ADMIN_PASSWORD"}  # fmt: skip
    assert [(name, rest) for name, rest in secrets if not rest.startswith(":?")] == []


def test_workers_get_the_portal_account_from_required_variables(services: dict[str, Any]) -> None:
    env = environment(services["lienthong-worker"])
    assert env["LIENTHONG_DVCQG_USERNAME"].startswith("${DVCQG_USERNAME:?")
    assert env["LIENTHONG_DVCQG_PASSWORD"].startswith("${DVCQG_PASSWORD:?")


def test_workers_serve_metrics_where_prometheus_scrapes_them(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(services["lienthong-worker"], monkeypatch)
    prometheus = yaml.safe_load((COMPOSE_FILE.parent / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [worker_job] = [job for job in prometheus["scrape_configs"] if job["job_name"] == "lienthong-worker"]
    assert worker_job["dns_sd_configs"][0]["port"] == settings.metrics_port != 0
    assert worker_job["dns_sd_configs"][0]["names"] == ["lienthong-worker"]
    assert settings.http_host == "0.0.0.0"
    assert str(settings.metrics_port) in " ".join(services["lienthong-worker"]["healthcheck"]["test"])


def test_prometheus_runs_with_the_deploy_config_and_alert_rules(services: dict[str, Any]) -> None:
    prom = services["prometheus"]
    assert prom["image"].startswith("prom/prometheus:")
    assert "./deploy/prometheus:/etc/prometheus:ro" in prom["volumes"]
    assert (COMPOSE_FILE.parent / "deploy" / "prometheus" / "alerts.yml").is_file()
    assert prom["ports"] == ["127.0.0.1:9090:9090"]


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboard(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"] if v.startswith("./")}
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load(
        (COMPOSE_FILE.parent / "deploy/grafana/provisioning/dashboards/lienthong.yml").read_text()
    )
    assert mounts["./deploy/grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    assert environment(grafana)["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
