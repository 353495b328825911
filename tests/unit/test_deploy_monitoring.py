"""deploy/: the Grafana dashboard and the Prometheus alert rules name only metrics lienthong exports, and the
four alerts the on-call needs exist (DLQ growing, circuit open > 10 min, lag growing, audit writer stalled)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from lienthong import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\blienthong_[a-z0-9_]+\b")


def exported_series() -> set[str]:
    """Every series name lienthong's collectors expose, derived from the collector types (not from a list)."""
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Histogram):
            names |= {f"{value._name}_{suffix}" for suffix in ("bucket", "count", "sum")}
        elif isinstance(value, Gauge):
            names.add(value._name)
    return names


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "lienthong.json").read_text(encoding="utf-8"))
    return [target["expr"] for panel in dash["panels"] for target in panel.get("targets", [])]


def test_the_series_list_is_not_empty_and_knows_the_http_counter() -> None:
    assert "lienthong_http_inbound_total" in exported_series()
    assert "lienthong_http_request_duration_seconds_bucket" in exported_series()


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_named_exists(source: str) -> None:
    exprs = [r["expr"] for r in alert_rules()] if source == "alerts" else dashboard_exprs()
    named = {m for expr in exprs for m in METRIC.findall(expr)}
    assert named
    assert named - exported_series() == set()


def test_the_dashboard_shows_lag_dlq_retry_circuit_and_http() -> None:
    named = {m for expr in dashboard_exprs() for m in METRIC.findall(expr)}
    assert {"lienthong_consumer_lag", "lienthong_dlq_depth", "lienthong_retry_depth", "lienthong_circuit_open",
            "lienthong_http_inbound_total", "lienthong_http_request_duration_seconds_bucket"} <= named  # fmt: skip


@pytest.mark.parametrize(
    ("metric", "needle"),
    [("lienthong_dlq_depth", "delta("), ("lienthong_circuit_open_since_seconds", "600"),
     ("lienthong_consumer_lag", "deriv("), ("lienthong_audit_appended_total", "== 0")],
)  # fmt: skip
def test_the_four_on_call_alerts_exist(metric: str, needle: str) -> None:
    assert any(metric in rule["expr"] and needle in rule["expr"] for rule in alert_rules())


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]


def test_prometheus_loads_the_alert_rules_and_scrapes_the_api_and_the_worker_metrics_port() -> None:
    from lienthong.settings import Settings

    conf = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert "/etc/prometheus/alerts.yml" in conf["rule_files"]
    jobs = {job["job_name"]: job for job in conf["scrape_configs"]}
    assert jobs["lienthong-api"]["static_configs"][0]["targets"] == ["lienthong-api:8080"]
    assert jobs["lienthong-worker"]["dns_sd_configs"][0]["port"] == Settings().metrics_port
