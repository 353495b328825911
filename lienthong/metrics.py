"""Prometheus metrics (served at /metrics). Labels never carry personal data: topics, peers, reasons."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("lienthong_consumed_total", "Records consumed by workers", ["topic"])
PRODUCED = Counter("lienthong_produced_total", "Records published", ["topic"])
RETRIED = Counter("lienthong_retried_total", "Records sent to the retry topic", ["topic"])
DEAD_LETTERED = Counter("lienthong_dead_lettered_total", "Records sent to the DLQ", ["topic", "reason"])
REJECTED = Counter("lienthong_rejected_total", "Business rejections reported back", ["topic"])
AUDIT_APPENDED = Counter("lienthong_audit_appended_total", "Audit records made durable")
AUDIT_LAG = Gauge("lienthong_audit_pending", "Audit entries waiting for their group commit")
CONSUMER_LAG = Gauge("lienthong_consumer_lag", "Highwater minus committed offset", ["topic", "partition"])
CIRCUIT_OPEN = Gauge("lienthong_circuit_open", "1 while a peer's circuit keeps consumers paused", ["peer"])
PEER_CALLS = Counter("lienthong_peer_calls_total", "Calls to external systems", ["peer", "operation", "result"])
PEER_LATENCY = Histogram("lienthong_peer_call_seconds", "Latency of calls to external systems", ["peer", "operation"])
HTTP_INBOUND = Counter("lienthong_http_inbound_total", "Inbound HTTP requests", ["route", "status"])
