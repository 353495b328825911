"""The topic catalogue: every topic lienthong owns, in one place, with its retry and DLQ companions.

Other systems integrate by producing to / consuming from these topics; `asyncapi_document()` describes
them (served at `/asyncapi.json`), and `create_topics()` creates them idempotently.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lienthong.bus.producer import MAX_RECORD_BYTES
from lienthong.errors import ConfigurationError

DAY_MS = 24 * 3600 * 1000
_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class TopicSpec:
    """One main topic and what travels on it."""

    name: str
    """Topic name, e.g. `dossier.events`."""
    key: str
    """What the record key is (it decides ordering): e.g. the dossier code."""
    description: str
    """What the topic carries, who produces and who consumes."""
    payload: str
    """Dotted path of the canonical pydantic model of the payload (resolved lazily)."""
    event_types: tuple[str, ...]
    """CloudEvents `ce_type` values that appear on the topic."""
    partitions: int | None = None
    """Partitions; None = the `LIENTHONG_PARTITIONS` setting."""
    retention_ms: int = 7 * DAY_MS
    """How long records are kept (milliseconds)."""
    dlq_retention_ms: int = -1
    """How long dead letters are kept: -1 = until deleted on purpose (nothing is lost by expiry)."""
    companions: bool = True
    """Whether the topic has `.retry` and `.dlq` companions (consumed topics do)."""
    config: dict[str, str] = field(default_factory=dict)
    """Extra topic configs."""

    @property
    def retry(self) -> str:
        """The retry topic: failed records wait here for their not-before time."""
        return f"{self.name}.retry"

    @property
    def dlq(self) -> str:
        """The dead-letter topic: original bytes and headers plus error headers."""
        return f"{self.name}.dlq"

    def payload_model(self) -> Any:
        """The payload's pydantic class."""
        module, _, attr = self.payload.rpartition(".")
        return getattr(importlib.import_module(module), attr)


_DOSSIER = "lienthong.schemas.dossier.DossierEvent"

CORE_TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        TopicSpec(
            "dossier.events",
            key="dossier code (MaHoSo)",
            description="Every change of a dossier in the one-stop system, with its full state and a "
            "monotonic version. Produced by the one-stop connector (webhook or topic); consumed by "
            "the DVCQG sync worker, the KPI/SLA watch and national monitoring.",
            payload=_DOSSIER,
            event_types=(
                "vn.gov.lienthong.dossier.created.v1",
                "vn.gov.lienthong.dossier.updated.v1",
                "vn.gov.lienthong.dossier.status_changed.v1",
                "vn.gov.lienthong.dossier.step_added.v1",
            ),
        ),
        TopicSpec(
            "dossier.outcomes",
            key="dossier code (MaHoSo)",
            description="Business rejections and delivery results reported back to the source system "
            "(e.g. DVCQG refused a dossier's content, or an invalid status transition).",
            payload="lienthong.bus.worker.RejectionEvent",
            event_types=("vn.gov.lienthong.dossier.rejected.v1",),
            companions=False,
        ),
        TopicSpec(
            "dossier.alerts",
            key="dossier code (MaHoSo)",
            description="SLA alerts: one working day left, and overdue (published by the SLA watch).",
            payload="lienthong.kpi.sla.SlaAlert",
            event_types=("vn.gov.lienthong.dossier.due_soon.v1", "vn.gov.lienthong.dossier.overdue.v1"),
            companions=False,
        ),
        TopicSpec(
            "bus.selftest",
            key="message id",
            description="Self-test traffic of the bus (the foundation demo and benchmark).",
            payload="lienthong.bus.selftest.SelfTestMessage",
            event_types=("vn.gov.lienthong.selftest.v1",),
            retention_ms=DAY_MS,
        ),
        TopicSpec(
            "bus.selftest.out",
            key="message id",
            description="Mapped self-test records (the pipeline's output in the demo and benchmark).",
            payload="lienthong.bus.selftest.MappedMessage",
            event_types=("vn.gov.lienthong.selftest.mapped.v1",),
            retention_ms=DAY_MS,
            companions=False,
        ),
    )
}


def catalogue() -> dict[str, TopicSpec]:
    """Every topic lienthong owns: the core's (`CORE_TOPICS`) and each registered connector's."""
    from lienthong.connectors.registry import connector_topics

    specs = dict(CORE_TOPICS)
    for spec in connector_topics():
        if spec.name in specs:
            raise ValueError(f"topic {spec.name!r} is declared twice (core or another connector)")
        specs[spec.name] = spec
    return specs


def all_topic_names(specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Every topic name including retry and DLQ companions."""
    names: list[str] = []
    for spec in specs if specs is not None else catalogue().values():
        names.append(spec.name)
        if spec.companions:
            names += [spec.retry, spec.dlq]
    return names


async def cluster_default_replication(admin: Any) -> int:
    """The cluster's own `default.replication.factor` (what `-1` means), capped at its broker count.

    aiokafka speaks CreateTopics v3, which cannot say "the broker's default" (-1, KIP-464), so it is
    read from a broker's configuration instead.
    """
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    cluster = await admin.describe_cluster()
    brokers = [b["node_id"] for b in cluster["brokers"]]
    node = cluster.get("controller_id") if cluster.get("controller_id") in brokers else brokers[0]
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.BROKER, str(node), configs={"default.replication.factor": None})]
    )
    value = 1
    for response in responses:
        for res in response.to_object()["resources"]:
            for entry in res["config_entries"]:
                if entry["config_names"] == "default.replication.factor" and str(entry["config_value"]).isdecimal():
                    value = int(entry["config_value"])
    return max(1, min(value, len(brokers)))


async def create_topics(
    bootstrap: str,
    *,
    partitions: int = 6,
    replication_factor: int = -1,
    specs: Iterable[TopicSpec] | None = None,
) -> list[str]:
    """Create missing catalogue topics (existing ones are left alone). Returns the names created.

    `replication_factor` -1 = the cluster's own `default.replication.factor`. A topic the broker refuses
    to create (other than "already exists", a concurrent creator) raises `ConfigurationError`.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        if replication_factor == -1:
            replication_factor = await cluster_default_replication(admin)
        existing = set(await admin.list_topics())
        wanted: list[Any] = []
        for spec in specs if specs is not None else catalogue().values():
            n = spec.partitions or partitions
            base = {"retention.ms": str(spec.retention_ms), "max.message.bytes": str(MAX_RECORD_BYTES), **spec.config}
            wanted.append(NewTopic(spec.name, n, replication_factor, topic_configs=base))
            if spec.companions:
                wanted.append(NewTopic(spec.retry, n, replication_factor, topic_configs=base))
                dlq_cfg = {"retention.ms": str(spec.dlq_retention_ms), "max.message.bytes": str(MAX_RECORD_BYTES)}
                wanted.append(NewTopic(spec.dlq, n, replication_factor, topic_configs=dlq_cfg))
        new = [t for t in wanted if t.name not in existing]
        if new:
            response = await admin.create_topics(new)
            refused = [
                f"{err[0]}: {err[2] or err[1]}"
                for err in getattr(response, "topic_errors", [])
                if err[1] not in (0, _TOPIC_ALREADY_EXISTS)
            ]
            if refused:
                raise ConfigurationError(f"Kafka refused to create topic(s): {'; '.join(refused)}")
        return [t.name for t in new]
    finally:
        await admin.close()


def payload_schemas() -> dict[str, dict[str, Any]]:
    """Standalone JSON Schema of every catalogue payload model, by model name (served at /schemas/<name>.json
    and named by records' `ce_dataschema`)."""
    found: dict[str, dict[str, Any]] = {}
    for spec in catalogue().values():
        model = spec.payload_model()
        if model.__name__ not in found:
            schema = model.model_json_schema()
            schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
            schema.setdefault("$id", f"/schemas/{model.__name__}.json")
            found[model.__name__] = schema
    return found


_CE_HEADERS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ce_specversion", "CloudEvents spec version, always 1.0", {"const": "1.0"}),
    ("ce_id", "Event id; unique per event, deterministic for events caused by another (derived ids)", {}),
    ("ce_source", "URI-reference of the producing system, e.g. /lienthong/onestop", {"format": "uri-reference"}),
    ("ce_type", "Versioned event type, e.g. vn.gov.lienthong.dossier.status_changed.v1", {}),
    ("ce_subject", "Business key: the dossier code (MaHoSo) or payment reference", {}),
    (
        "ce_time",
        "When the event happened (RFC 3339, UTC). Per key, order by the record offset; ce_time "
        "orders events only across keys",
        {"format": "date-time"},
    ),
    ("ce_dataschema", "URI of the payload's JSON Schema (served at /schemas/<Model>.json)", {"format": "uri"}),
    ("content-type", "Payload media type: application/json", {"const": "application/json"}),
    ("ce_correlationid", "Extension: id shared by every message of one business exchange", {}),
    ("ce_causationid", "Extension: ce_id of the event that caused this one (redrive: the dead letter's id)", {}),
    ("ce_mappingversion", "Extension: version of the mapping that produced the payload", {}),
    ("ce_traceparent", "Extension: W3C trace context, carried through unchanged", {}),
)
_DEPRECATED_HEADERS = ("correlation_id", "causation_id", "mapping_version", "traceparent")
_RETRY_HEADERS = (
    ("lt_attempt", "Retry rounds behind the record (1 on its first retry)"),
    ("lt_not_before", "Epoch milliseconds before which the record is not tried again"),
)
_DLQ_HEADERS = (
    ("lt_error_class", "transient, permanent, retries_exhausted or unexpected"),
    ("lt_error_type", "Exception class"),
    ("lt_error_message", "What failed (personal data masked)"),
    ("lt_attempt", "Attempts made"),
    ("lt_first_failure", "Epoch milliseconds of the first failure"),
    ("lt_last_failure", "Epoch milliseconds of the last failure"),
    ("lt_source_topic", "Topic the record was first consumed from"),
    ("lt_source_partition", "Its partition"),
    ("lt_source_offset", "Its offset"),
)


def _headers_schema(extra: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    props: dict[str, Any] = {name: {"type": "string", "description": desc, **more} for name, desc, more in _CE_HEADERS}
    for name in _DEPRECATED_HEADERS:
        new = "ce_" + name.replace("_", "")
        props[name] = {"type": "string", "deprecated": True, "description": f"Deprecated name of {new}"}
    props.update({name: {"type": "string", "description": desc} for name, desc in extra})
    return {"type": "object", "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"], "properties": props}


def _consumed_topics() -> dict[str, list[str]]:
    """Topic → the flows consuming it (core and connectors)."""
    from lienthong.app import all_flows

    found: dict[str, list[str]] = {}
    for name, spec in all_flows().items():
        found.setdefault(spec.topic, []).append(name)
    return found


def asyncapi_document(bootstrap: str | None = None) -> dict[str, Any]:
    """An AsyncAPI 3.0 document of the catalogue: one channel per topic (retry and DLQ companions included),
    the operations lienthong performs on them, messages with CloudEvents headers and JSON Schema payloads.

    `bootstrap` (default: LIENTHONG_BOOTSTRAP_SERVERS) names the servers. FastStream's generator was tried
    for this document and describes less (no message headers, no record key, no topic configuration), so
    this one stays; `lienthong.sdk` consumers get FastStream's view of their own app from FastStream.
    """
    if bootstrap is None:
        from lienthong.settings import Settings

        bootstrap = Settings().bootstrap_servers
    hosts = [h.strip() for h in bootstrap.split(",") if h.strip()]
    servers = {("kafka" if i == 0 else f"kafka-{i + 1}"): {"host": h, "protocol": "kafka"} for i, h in enumerate(hosts)}
    consumed = _consumed_topics()
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def channel(cid: str, address: str, description: str, spec: TopicSpec, headers: dict[str, Any],
                retention_ms: int, *, receive: list[str]) -> None:  # fmt: skip
        model = spec.payload_model()
        messages[cid] = {
            "name": model.__name__,
            "title": f"{model.__name__} on {address}",
            "contentType": "application/json",
            "headers": headers,
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            "correlationId": {"location": "$message.header#/ce_correlationid"},
            "bindings": {"kafka": {"key": {"type": "string", "description": spec.key}}},
            "x-event-types": list(spec.event_types),
        }
        channels[cid] = {
            "address": address,
            "description": description,
            "messages": {cid: {"$ref": f"#/components/messages/{cid}"}},
            "bindings": {"kafka": {
                "topic": address,
                **({"partitions": spec.partitions} if spec.partitions else {}),
                "topicConfiguration": {"retention.ms": retention_ms},
            }},
        }  # fmt: skip
        ref = {"$ref": f"#/channels/{cid}"}
        msg = [{"$ref": f"#/channels/{cid}/messages/{cid}"}]
        operations[f"send_{cid}"] = {"action": "send", "channel": ref, "messages": msg,
                                     "summary": f"lienthong publishes to {address}"}  # fmt: skip
        if receive:
            operations[f"receive_{cid}"] = {"action": "receive", "channel": ref, "messages": msg,
                                            "summary": f"flow(s) {', '.join(receive)} consume {address}"}  # fmt: skip

    for spec in catalogue().values():
        model = spec.payload_model()
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        cid = spec.name.replace(".", "_")
        flows = consumed.get(spec.name, [])
        channel(cid, spec.name, spec.description, spec, _headers_schema(), spec.retention_ms, receive=flows)
        channels[cid]["x-retry-topic"] = spec.retry if spec.companions else None
        channels[cid]["x-dlq-topic"] = spec.dlq if spec.companions else None
        if spec.companions:
            channel(
                f"{cid}_retry",
                spec.retry,
                f"Records of {spec.name} that failed transiently, waiting for "
                "their not-before time (lt_not_before); consumed again by the same flows.",
                spec,
                _headers_schema(_RETRY_HEADERS),
                spec.retention_ms,
                receive=flows or [f"{spec.name} consumers"],
            )
            channel(f"{cid}_dlq", spec.dlq, f"Dead letters of {spec.name}: the original bytes and headers plus "
                    "lt_error_* headers; kept until deleted. `lienthong dlq` lists, shows and redrives them.", spec,
                    _headers_schema(_DLQ_HEADERS), spec.dlq_retention_ms, receive=[])  # fmt: skip
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "lienthong topics",
            "version": "2",
            "description": "Kafka topics of the lienthong integration hub. Records are CloudEvents 1.0 "
            "in Kafka binary mode (extension attributes ce_correlationid, ce_causationid, ce_mappingversion, "
            "ce_traceparent); payloads are JSON (schemas also at /schemas). Order: per record key (the dossier "
            "code), by offset. Retry topics carry `lt_not_before` (epoch ms) and `lt_attempt`; DLQ records keep "
            "the original bytes and headers plus `lt_error_*` headers. Consumers: `lienthong.sdk`.",
        },
        "defaultContentType": "application/json",
        "servers": servers,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


async def partitions_of(consumer: Any, topic: str) -> list[int]:
    """Partition numbers of `topic` as a started consumer sees them (empty when the topic is missing).

    A consumer without a subscription has no topic metadata until it is asked for all of it.
    """
    parts = consumer.partitions_for_topic(topic)
    if parts is None:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    return sorted(parts or ())
