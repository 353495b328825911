"""The envelope: CloudEvents 1.0 in Kafka binary mode, plus lienthong's tracing headers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from lienthong.bus.envelope import Envelope, header, new_envelope, with_headers
from lienthong.errors import PermanentError

DOSSIER = "000.00.12.H52-250703-0042"
STATUS_CHANGED = "vn.gov.lienthong.dossier.status_changed.v1"


def full_envelope() -> Envelope:
    return Envelope(
        id="0b9e3c1e-5f0a-4d1c-9a57-3c2b1f0e8d21",
        source="/lienthong/onestop",
        type=STATUS_CHANGED,
        subject=DOSSIER,
        time="2025-07-03T02:15:00.123456Z",
        correlation_id="corr-1",
        causation_id="cause-1",
        mapping_version="onestop-dvcqg/3",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )


def without(headers: list[tuple[str, bytes]], name: str) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in headers if k != name]


def test_headers_round_trip_every_field() -> None:
    env = full_envelope()
    assert Envelope.from_headers(env.to_headers()) == env


def test_headers_round_trip_a_minimal_envelope() -> None:
    env = Envelope(id="e1", source="/s", type="t.v1")
    assert Envelope.from_headers(env.to_headers()) == env


def test_empty_optional_fields_are_not_written_as_headers() -> None:
    names = [k for k, _ in Envelope(id="e1", source="/s", type="t.v1").to_headers()]
    assert names == ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"]


def test_headers_are_utf8_bytes() -> None:
    env = Envelope(id="e1", source="/s", type="t.v1", subject="Hồ sơ 01")
    assert ("ce_subject", "Hồ sơ 01".encode()) in env.to_headers()


def test_headers_that_are_not_the_envelope_are_ignored() -> None:
    env = full_envelope()
    assert Envelope.from_headers([*env.to_headers(), ("x-tenant", b"\xff\xfe")]) == env


@pytest.mark.parametrize("name", ["ce_id", "ce_type", "ce_source", "ce_specversion"])
def test_missing_required_header_is_a_permanent_error_naming_it(name: str) -> None:
    with pytest.raises(PermanentError, match=name):
        Envelope.from_headers(without(full_envelope().to_headers(), name))


def test_record_without_headers_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="not a CloudEvents record"):
        Envelope.from_headers([])


def test_other_specversion_is_a_permanent_error() -> None:
    headers = [*without(full_envelope().to_headers(), "ce_specversion"), ("ce_specversion", b"0.3")]
    with pytest.raises(PermanentError, match="specversion"):
        Envelope.from_headers(headers)


def test_non_utf8_envelope_header_is_a_permanent_error() -> None:
    headers = [*without(full_envelope().to_headers(), "ce_subject"), ("ce_subject", b"\xc3\x28")]
    with pytest.raises(PermanentError, match="UTF-8"):
        Envelope.from_headers(headers)


def test_null_envelope_header_is_a_permanent_error() -> None:
    headers = [*without(full_envelope().to_headers(), "ce_id"), ("ce_id", None)]
    with pytest.raises(PermanentError, match="ce_id"):
        Envelope.from_headers(headers)  # type: ignore[arg-type]


def test_caused_event_keeps_the_correlation_id() -> None:
    parent = full_envelope()
    child = parent.caused(type="vn.gov.lienthong.dossier.rejected.v1", source="/lienthong/dvcqg")
    assert child.correlation_id == parent.correlation_id


def test_caused_event_points_at_its_parent() -> None:
    parent = full_envelope()
    child = parent.caused(type="vn.gov.lienthong.dossier.rejected.v1", source="/lienthong/dvcqg")
    assert child.causation_id == parent.id


def test_caused_event_has_a_new_id() -> None:
    parent = full_envelope()
    child = parent.caused(type="vn.gov.lienthong.dossier.rejected.v1", source="/lienthong/dvcqg")
    assert child.id != parent.id
    assert uuid.UUID(child.id).version == 4


def test_caused_event_takes_the_new_type_and_source_and_keeps_the_subject() -> None:
    parent = full_envelope()
    child = parent.caused(type="vn.gov.lienthong.dossier.rejected.v1", source="/lienthong/dvcqg")
    assert (child.type, child.source, child.subject) == (
        "vn.gov.lienthong.dossier.rejected.v1",
        "/lienthong/dvcqg",
        DOSSIER,
    )


def test_caused_event_keeps_the_trace() -> None:
    parent = full_envelope()
    assert parent.caused(type="t.v1", source="/s").traceparent == parent.traceparent


def test_redriven_event_has_a_new_id_linked_to_the_dead_one() -> None:
    dead = full_envelope()
    again = dead.redriven()
    assert again.id != dead.id
    assert again.causation_id == dead.id


def test_redriven_event_is_otherwise_the_same_event() -> None:
    dead = full_envelope()
    again = dead.redriven()
    assert (again.type, again.source, again.subject, again.time, again.correlation_id) == (
        dead.type,
        dead.source,
        dead.subject,
        dead.time,
        dead.correlation_id,
    )


def test_new_envelope_uses_its_own_id_as_correlation_id() -> None:
    env = new_envelope(type=STATUS_CHANGED, source="/lienthong/onestop", subject=DOSSIER)
    assert env.correlation_id == env.id


def test_new_envelope_keeps_a_given_correlation_id() -> None:
    env = new_envelope(type=STATUS_CHANGED, source="/lienthong/onestop", correlation_id="corr-9")
    assert env.correlation_id == "corr-9"


def test_header_returns_the_last_value_of_a_repeated_header() -> None:
    assert header([("a", b"1"), ("b", b"2"), ("a", b"3")], "a") == "3"


def test_header_returns_none_when_absent() -> None:
    assert header([("a", b"1")], "b") is None


def test_with_headers_replaces_values_and_keeps_the_rest_in_order() -> None:
    headers = [("a", b"1"), ("b", b"2"), ("c", b"3")]
    assert with_headers(headers, b="x") == [("a", b"1"), ("c", b"3"), ("b", b"x")]


def read_with_cloudevents_sdk(env: Envelope) -> Any:
    message = KafkaMessage(headers=dict(env.to_headers()), key=b"k", value=b'{"a":1}')
    return from_binary_event(message)


def test_cloudevents_sdk_reads_the_type() -> None:
    assert read_with_cloudevents_sdk(full_envelope()).get_type() == STATUS_CHANGED


def test_cloudevents_sdk_reads_the_id() -> None:
    env = full_envelope()
    assert read_with_cloudevents_sdk(env).get_id() == env.id


def test_cloudevents_sdk_reads_the_subject() -> None:
    assert read_with_cloudevents_sdk(full_envelope()).get_subject() == DOSSIER


def test_cloudevents_sdk_reads_the_json_data() -> None:
    assert read_with_cloudevents_sdk(full_envelope()).get_data() == {"a": 1}


def test_cloudevents_sdk_reads_a_freshly_made_envelope() -> None:
    env = new_envelope(type=STATUS_CHANGED, source="/lienthong/onestop", subject=DOSSIER)
    event = read_with_cloudevents_sdk(env)
    assert (event.get_id(), event.get_source(), event.get_specversion()) == (
        env.id,
        "/lienthong/onestop",
        "1.0",
    )


# -- CloudEvents extension names (`[a-z0-9]`, sent as `ce_<name>`) and the deprecated ones --------------


def test_extensions_are_written_under_their_cloudevents_names() -> None:
    headers = dict(full_envelope().to_headers())
    assert headers["ce_correlationid"] == b"corr-1"
    assert headers["ce_causationid"] == b"cause-1"
    assert headers["ce_mappingversion"] == b"onestop-dvcqg/3"
    assert headers["ce_traceparent"] == b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_every_ce_header_name_is_a_valid_cloudevents_attribute_name() -> None:
    import re

    for name, _ in full_envelope().to_headers():
        if name.startswith("ce_"):
            assert re.fullmatch(r"[a-z0-9]{1,20}", name.removeprefix("ce_")), name


def test_cloudevents_sdk_sees_the_extensions() -> None:
    event = read_with_cloudevents_sdk(full_envelope())
    assert event.get_extension("correlationid") == "corr-1"
    assert event.get_extension("causationid") == "cause-1"
    assert event.get_extension("mappingversion") == "onestop-dvcqg/3"
    assert event.get_extension("traceparent") == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_record_with_only_the_deprecated_names_is_still_read() -> None:
    old = [(b"ce_specversion", "1.0"), (b"ce_id", "e1"), (b"ce_source", "/s"), (b"ce_type", "t.v1"),
           (b"correlation_id", "c-old"), (b"causation_id", "p-old"), (b"mapping_version", "m-old"),
           (b"traceparent", "tp-old")]  # fmt: skip
    env = Envelope.from_headers([(k.decode(), v.encode()) for k, v in old])
    assert (env.correlation_id, env.causation_id, env.mapping_version, env.traceparent) == (
        "c-old", "p-old", "m-old", "tp-old",
    )  # fmt: skip


@pytest.mark.parametrize("new_first", [True, False])
def test_the_cloudevents_name_wins_over_the_deprecated_one(new_first: bool) -> None:
    base = [("ce_specversion", b"1.0"), ("ce_id", b"e1"), ("ce_source", b"/s"), ("ce_type", b"t.v1")]
    pair = [("ce_correlationid", b"new"), ("correlation_id", b"old")]
    env = Envelope.from_headers(base + (pair if new_first else pair[::-1]))
    assert env.correlation_id == "new"


def test_dataschema_points_at_the_served_json_schema_of_the_payload() -> None:
    headers = dict(full_envelope().to_headers())
    assert headers["ce_dataschema"].decode().endswith("/schemas/DossierEvent.json")
    assert read_with_cloudevents_sdk(full_envelope()).get_dataschema().endswith("/schemas/DossierEvent.json")


def test_an_unknown_event_type_has_no_dataschema() -> None:
    assert "ce_dataschema" not in dict(Envelope(id="e1", source="/s", type="x.unknown.v1").to_headers())


def test_an_explicit_dataschema_round_trips() -> None:
    env = Envelope(id="e1", source="/s", type="t.v1", dataschema="https://example.org/s.json")
    assert Envelope.from_headers(env.to_headers()) == env
