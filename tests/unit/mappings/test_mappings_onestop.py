"""The one-stop system's dossier events and notice deliveries."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import orjson
import pytest
from _mapping_strategies import dossier_events
from hypothesis import given, settings
from pydantic import ValidationError

from lienthong.mappings.dvcqg import parse_inbound
from lienthong.mappings.merger import remap_dossier
from lienthong.mappings.onestop import (
    EVENT_TYPES,
    EXAMPLE_EVENT,
    OnestopDossierEventIn,
    canonical_to_onestop,
    notice_to_onestop,
    onestop_event_to_canonical,
)
from lienthong.schemas.dossier import DossierEventKind, DossierStatus


def _event(**dossier_changes):
    body = copy.deepcopy(EXAMPLE_EVENT)
    body["dossier"].update(dossier_changes)
    return body


def _errors(body) -> str:
    with pytest.raises(ValidationError) as info:
        OnestopDossierEventIn.model_validate(body)
    return str(info.value)


def test_one_stop_event_maps_to_the_golden_canonical_event(golden_input, golden):
    body = OnestopDossierEventIn.model_validate(golden_input("onestop_event.in.json"))
    golden("onestop_event.canonical.json", onestop_event_to_canonical(body).model_dump(mode="json"))


def test_canonical_event_maps_to_the_golden_one_stop_event(golden_input, golden):
    event = onestop_event_to_canonical(OnestopDossierEventIn.model_validate(golden_input("onestop_event.in.json")))
    golden("onestop_event.out.json", canonical_to_onestop(event))


def test_one_stop_event_carries_version_steps_tax_code_and_address(golden_input):
    event = onestop_event_to_canonical(OnestopDossierEventIn.model_validate(golden_input("onestop_event.in.json")))
    assert event.kind is DossierEventKind.STEP_ADDED
    assert event.dossier.version == 3
    assert [s.status for s in event.dossier.steps] == [DossierStatus.ACCEPTED, DossierStatus.PROCESSING]
    assert event.dossier.applicant.address is not None
    assert event.dossier.applicant.address.commune_code == "21553"
    assert event.occurred_at == datetime(2025, 7, 3, 7, 5, 0, 250_000, tzinfo=UTC)


def test_the_documented_example_is_a_valid_event():
    event = onestop_event_to_canonical(OnestopDossierEventIn.model_validate(EXAMPLE_EVENT))
    assert event.dossier.code == "000.00.12.H52-250703-0042"
    assert event.event_type == "vn.gov.lienthong.dossier.status_changed.v1"


def test_json_schema_documents_the_example_and_the_wire_names():
    schema = OnestopDossierEventIn.model_json_schema()
    assert schema["examples"] == [EXAMPLE_EVENT]
    assert schema["properties"]["event_type"]["enum"] == list(EVENT_TYPES)
    dossier_schema = schema["$defs"]["OnestopDossierWire"]["properties"]
    assert {"MaHoSo", "TrangThaiHoSo", "TienTrinhXuLy", "MaSoThue", "DiaChiChuHoSo"} <= set(dossier_schema)
    assert dossier_schema["NgayHenTra"]["pattern"] == "^([0-9]{14})?$"
    assert schema["properties"]["version"]["description"].startswith("Version of the dossier")


@settings(max_examples=150, deadline=None)
@given(dossier_events())
def test_one_stop_round_trip_gives_back_the_same_canonical_event(event):
    body = orjson.loads(orjson.dumps(canonical_to_onestop(event)))
    # The wire round trip is exact; the merger remap on the way in is its own concern (tested in
    # test_mappings_merger_in_flows), applied here to the expectation.
    dossier, notes = remap_dossier(event.dossier)
    expected = event.model_copy(update={"dossier": dossier, "notes": tuple(notes)})
    assert onestop_event_to_canonical(OnestopDossierEventIn.model_validate(body)) == expected


def test_malformed_dossier_code_is_refused_with_the_expected_format():
    message = _errors(_event(MaHoSo="000.00.12.H52-250732-0042"))
    assert "dossier.MaHoSo" in message
    assert "YYMMDD is not a real date" in message


def test_status_outside_one_to_ten_is_refused():
    message = _errors(_event(TrangThaiHoSo="11"))
    assert "dossier.TrangThaiHoSo" in message
    assert "less than or equal to 10" in message


def test_date_in_another_format_is_refused_naming_the_expected_format():
    message = _errors(_event(NgayHenTra="04/07/2025"))
    assert "dossier.NgayHenTra" in message
    assert "yyyyMMddHHmmss" in message


def test_occurred_at_without_utc_offset_is_refused():
    body = copy.deepcopy(EXAMPLE_EVENT) | {"occurred_at": "2025-07-03T14:05:00"}
    assert "UTC offset is missing" in _errors(body)


def test_unknown_event_type_is_refused():
    body = copy.deepcopy(EXAMPLE_EVENT) | {"event_type": "dossier.deleted"}
    assert "event_type" in _errors(body)


def test_unknown_envelope_key_is_refused_but_unknown_dossier_key_is_ignored():
    assert "extra" in _errors(copy.deepcopy(EXAMPLE_EVENT) | {"priority": 1}).lower()
    OnestopDossierEventIn.model_validate(_event(GhiChu="ghi chú nội bộ"))


def test_version_must_be_a_json_integer():
    assert "version" in _errors(copy.deepcopy(EXAMPLE_EVENT) | {"version": "3"})


def test_step_added_event_without_steps_is_refused():
    body = _event(TienTrinhXuLy=[]) | {"event_type": "dossier.step_added"}
    assert "at least one step" in _errors(body)


def test_step_of_another_dossier_is_refused():
    steps = copy.deepcopy(EXAMPLE_EVENT["dossier"]["TienTrinhXuLy"])
    steps[0]["MaHoSo"] = "000.00.12.H52-250703-0043"
    assert "differs from the dossier's MaHoSo" in _errors(_event(TienTrinhXuLy=steps))


def test_summary_longer_than_a_thousand_characters_is_accepted_in_full():
    # Real one-stop systems send longer summaries; only the DVCQG copy is cut (test_mappings_real_payloads).
    event = onestop_event_to_canonical(OnestopDossierEventIn.model_validate(_event(TrichYeuHoSo="x" * 1500)))
    assert event.dossier.summary == "x" * 1500


def test_validation_errors_do_not_echo_personal_data():
    message = _errors(_event(SoDienThoai=["0912345678"], DinhDanhCHS=[{"LoaiDinhDanh": 1, "SoDinhDanh": "0520900001"}]))
    assert "0912345678" not in message
    assert "0520900001" not in message


def test_notice_is_delivered_to_the_one_stop_system_in_the_push_shape(golden_input, golden):
    notice = parse_inbound(golden_input("inbound_land_tax_notice.in.json"))
    body = notice_to_onestop(notice)
    assert body["data"][0] == golden_input("inbound_land_tax_notice.in.json")["data"][0]
    golden("inbound_land_tax_notice.onestop.json", body)


def test_notice_without_is_updating_is_delivered_without_it(golden_input):
    body = notice_to_onestop(parse_inbound(golden_input("inbound_promotion_notice.in.json")))
    assert list(body) == ["service", "kind", "data"]
