"""The topic catalogue and its AsyncAPI 3.0 document."""

from __future__ import annotations

from typing import Any

import pytest

from lienthong.bus.topics import TopicSpec, all_topic_names, asyncapi_document, catalogue

CONSUMED = [spec for spec in catalogue().values() if spec.companions]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document("kafka-1:9092")


def resolve(document: dict[str, Any], ref: str) -> Any:
    """Follow a local JSON pointer (`#/a/b`) inside the document."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs_in(node: Any) -> list[str]:
    """Every `$ref` value anywhere under `node`."""
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in refs_in(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs_in(value)]
    return []


EXPECTED_TOPICS = {
    # Written by hand from the design's flow table (DESIGN.md section 1) and the registered connectors.
    "dossier.events", "dossier.inbound", "dossier.outcomes", "dossier.alerts", "onestop.dossier-events",
    "payment.events", "lookup.requests", "lookup.results", "ministry.results", "bus.selftest", "bus.selftest.out",
}  # fmt: skip


def test_catalogue_holds_every_topic_of_the_core_and_the_registered_connectors() -> None:
    assert set(catalogue()) == EXPECTED_TOPICS


def test_a_topic_declared_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import lienthong.connectors.registry as registry

    twin = TopicSpec("dossier.events", key="k", description="d", payload="x.y", event_types=())
    monkeypatch.setattr(registry, "connector_topics", lambda: [twin])
    with pytest.raises(ValueError, match="declared twice"):
        catalogue()


@pytest.mark.parametrize("spec", CONSUMED, ids=lambda s: s.name)
def test_a_consumed_topic_has_retry_and_dlq_companions(spec: TopicSpec) -> None:
    assert (spec.retry, spec.dlq) == (f"{spec.name}.retry", f"{spec.name}.dlq")
    names = all_topic_names()
    assert spec.retry in names
    assert spec.dlq in names


def test_topics_without_companions_get_no_retry_or_dlq_topic() -> None:
    names = set(all_topic_names())
    for spec in catalogue().values():
        if not spec.companions:
            assert spec.retry not in names
            assert spec.dlq not in names


def test_all_topic_names_lists_each_topic_once() -> None:
    names = all_topic_names()
    assert len(names) == len(set(names)) == len(catalogue()) + 2 * len(CONSUMED)


def test_the_dossier_flows_have_catalogue_topics() -> None:
    assert {"dossier.events", "dossier.inbound", "dossier.outcomes", "dossier.alerts"} <= set(catalogue())


def test_dead_letters_never_expire() -> None:
    # -1 = kept until an operator deletes them: a dead letter must not be lost by retention.
    for spec in CONSUMED:
        assert spec.dlq_retention_ms == -1


@pytest.mark.parametrize("spec", list(catalogue().values()), ids=lambda s: s.name)
def test_every_event_type_is_versioned(spec: TopicSpec) -> None:
    assert spec.event_types
    for event_type in spec.event_types:
        # Ours are vn.gov.lienthong.*; an input topic owned by another system carries that system's types.
        assert event_type.startswith(("vn.gov.lienthong.", "vn.gov.onestop."))
        assert event_type.rsplit(".", 1)[-1].startswith("v")


@pytest.mark.parametrize("spec", list(catalogue().values()), ids=lambda s: s.name)
def test_every_payload_model_resolves_to_a_pydantic_model(spec: TopicSpec) -> None:
    assert hasattr(spec.payload_model(), "model_json_schema")


def test_document_is_asyncapi_3_0_0(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"]
    assert document["info"]["version"]


def test_document_names_the_kafka_server_it_was_built_for(document: dict[str, Any]) -> None:
    assert document["servers"]["kafka"] == {"host": "kafka-1:9092", "protocol": "kafka"}


def test_every_bootstrap_server_is_a_server() -> None:
    doc = asyncapi_document("kafka-1:9092,kafka-2:9092,kafka-3:9092")
    assert sorted(s["host"] for s in doc["servers"].values()) == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]


def test_without_an_argument_the_server_is_the_configured_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_BOOTSTRAP_SERVERS", "broker.internal:19092")
    assert asyncapi_document()["servers"]["kafka"]["host"] == "broker.internal:19092"


def test_document_has_one_channel_per_topic_retry_and_dlq_included(document: dict[str, Any]) -> None:
    addresses = sorted(channel["address"] for channel in document["channels"].values())
    assert addresses == sorted(all_topic_names())


def test_every_flow_input_topic_is_a_channel(document: dict[str, Any]) -> None:
    from lienthong.app import all_flows

    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {spec.topic for spec in all_flows().values()} <= addresses
    assert "onestop.dossier-events" in addresses


def test_consumed_topics_and_their_retry_topics_have_receive_operations(document: dict[str, Any]) -> None:
    received = {resolve(document, op["channel"]["$ref"])["address"]
                for op in document["operations"].values() if op["action"] == "receive"}  # fmt: skip
    assert {"dossier.events", "dossier.events.retry", "dossier.inbound", "dossier.inbound.retry"} <= received
    assert "dossier.events.dlq" not in received


def test_every_channel_has_a_send_operation_with_its_message(document: dict[str, Any]) -> None:
    sent = {op["channel"]["$ref"] for op in document["operations"].values() if op["action"] == "send"}
    assert sent == {f"#/channels/{cid}" for cid in document["channels"]}
    for op in document["operations"].values():
        for ref in op["messages"]:
            assert ref["$ref"].startswith(op["channel"]["$ref"] + "/messages/")


def test_ce_time_is_declared_as_a_date_time(document: dict[str, Any]) -> None:
    for message in document["components"]["messages"].values():
        assert message["headers"]["properties"]["ce_time"]["format"] == "date-time"


def test_extension_headers_use_cloudevents_names_and_old_names_are_deprecated(document: dict[str, Any]) -> None:
    props = document["components"]["messages"]["dossier_events"]["headers"]["properties"]
    assert {"ce_correlationid", "ce_causationid", "ce_mappingversion", "ce_traceparent", "ce_dataschema"} <= set(props)
    assert props["correlation_id"]["deprecated"] is True


def test_dlq_messages_declare_the_error_headers(document: dict[str, Any]) -> None:
    props = document["components"]["messages"]["dossier_events_dlq"]["headers"]["properties"]
    assert {"lt_error_class", "lt_source_topic", "lt_source_offset"} <= set(props)


@pytest.mark.parametrize("spec", list(catalogue().values()), ids=lambda s: s.name)
def test_channel_address_is_the_topic_name(document: dict[str, Any], spec: TopicSpec) -> None:
    [channel] = [c for c in document["channels"].values() if c["address"] == spec.name]
    assert channel["bindings"]["kafka"]["topic"] == spec.name


def test_kafka_channel_binding_partitions_are_positive_integers_or_absent(document: dict[str, Any]) -> None:
    for channel in document["channels"].values():
        binding = channel["bindings"]["kafka"]
        assert "partitions" not in binding or (isinstance(binding["partitions"], int) and binding["partitions"] > 0)


@pytest.mark.parametrize("spec", list(catalogue().values()), ids=lambda s: s.name)
def test_channel_names_its_retry_and_dlq_topics(document: dict[str, Any], spec: TopicSpec) -> None:
    [channel] = [c for c in document["channels"].values() if c["address"] == spec.name]
    expected = (spec.retry, spec.dlq) if spec.companions else (None, None)
    assert (channel["x-retry-topic"], channel["x-dlq-topic"]) == expected


@pytest.mark.parametrize("spec", list(catalogue().values()), ids=lambda s: s.name)
def test_channel_message_payload_resolves_to_the_topic_payload_schema(
    document: dict[str, Any], spec: TopicSpec
) -> None:
    [channel] = [c for c in document["channels"].values() if c["address"] == spec.name]
    for message_ref in channel["messages"].values():
        message = resolve(document, message_ref["$ref"])
        ref = message["payload"]["$ref"]
        assert ref.startswith("#/components/schemas/")
        schema = resolve(document, ref)
        assert schema["title"] == spec.payload_model().model_json_schema()["title"]
        assert schema["type"] == "object"


@pytest.mark.parametrize("spec", list(catalogue().values()), ids=lambda s: s.name)
def test_message_lists_the_topic_event_types(document: dict[str, Any], spec: TopicSpec) -> None:
    [channel] = [c for c in document["channels"].values() if c["address"] == spec.name]
    [message_ref] = channel["messages"].values()
    assert resolve(document, message_ref["$ref"])["x-event-types"] == list(spec.event_types)


def test_message_headers_require_the_cloudevents_core(document: dict[str, Any]) -> None:
    for message in document["components"]["messages"].values():
        assert set(message["headers"]["required"]) == {"ce_specversion", "ce_id", "ce_source", "ce_type"}


def test_every_ref_in_the_document_resolves_inside_it(document: dict[str, Any]) -> None:
    refs = refs_in(document)
    assert refs
    for ref in refs:
        resolve(document, ref)


def test_no_schema_keeps_a_local_defs_section(document: dict[str, Any]) -> None:
    # Nested models are hoisted to components/schemas, where the rewritten $refs point.
    assert all("$defs" not in schema for schema in document["components"]["schemas"].values())
