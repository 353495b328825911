"""The 2025 province merger table and agency-code remapping by receipt date."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest
from vietnam_provinces import Province

from lienthong.errors import ConfigurationError
from lienthong.mappings.admin_units import (
    MERGER_DATE,
    default_province_merger,
    load_agency_remap,
    load_province_merger,
    province_name,
    remap_agency_code,
    remap_procedure_code,
    remap_province,
)
from lienthong.mappings.errors import InvalidIdentifier
from lienthong.schemas import validators

BEFORE = date(2025, 6, 30)
AFTER = MERGER_DATE


def test_packaged_table_maps_sixty_three_old_provinces_onto_the_thirty_four_of_the_package():
    table = default_province_merger()
    assert len(table.old_to_new) == 63
    assert table.new_codes == {f"{p.code.value:02d}" for p in Province.iter_all()}
    assert len(table.new_codes) == 34
    assert table.version


def test_packaged_table_merges_groups_of_one_to_three_provinces():
    sizes = Counter(Counter(default_province_merger().old_to_new.values()).values())
    assert sizes == {1: 11, 2: 17, 3: 6}


def test_personal_id_birth_province_codes_are_the_old_province_codes():
    assert {f"0{c}" for c in default_province_merger().old_to_new} == validators._BIRTH_PROVINCE_CODES


def test_binh_dinh_maps_to_gia_lai_from_the_merger_date():
    assert remap_province("52", received_on=AFTER) == "52"
    assert remap_province("64", received_on=AFTER) == "52"
    assert province_name("64", received_on=AFTER) == "Gia Lai"
    assert province_name("52", received_on=BEFORE) == "Bình Định"


def test_dossiers_received_before_the_merger_keep_their_old_codes():
    assert remap_province("64", received_on=BEFORE) == "64"
    assert remap_province("02", received_on=BEFORE) == "02"


@pytest.mark.parametrize(
    ("old", "new"),
    [("02", "08"), ("10", "15"), ("27", "24"), ("45", "44"), ("72", "80"), ("87", "82"), ("89", "91"), ("74", "79")],
)
def test_merged_provinces_take_the_successors_code(old, new):
    assert remap_province(old, received_on=AFTER) == new


def test_new_codes_are_accepted_after_the_merger_and_stay_unchanged():
    table = default_province_merger()
    assert all(remap_province(code, received_on=AFTER) == code for code in table.new_codes)


def test_province_code_may_be_written_with_one_to_three_digits():
    assert remap_province("1", received_on=AFTER) == remap_province("001", received_on=AFTER) == "01"


@pytest.mark.parametrize("bad", ["03", "99", "H52", "", "0052"])
def test_unknown_province_code_is_refused(bad):
    with pytest.raises(InvalidIdentifier, match="province code"):
        remap_province(bad, received_on=AFTER)


def test_an_operator_table_can_be_loaded_from_a_file(tmp_path):
    data = json.loads(json.dumps(_packaged_json()))
    data["version"] = "test-2"
    data["effective_from"] = "2025-08-01"
    path = tmp_path / "merger.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    table = load_province_merger(path)
    assert table.version == "test-2"
    assert remap_province("64", received_on=date(2025, 7, 15), table=table) == "64"


def test_a_table_whose_new_codes_are_not_the_34_provinces_is_refused(tmp_path):
    data = _packaged_json()
    data["provinces"][1]["new_code"] = "03"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="34 provinces"):
        load_province_merger(path)


def test_a_table_where_a_new_code_moves_is_refused(tmp_path):
    data = _packaged_json()
    row = next(r for r in data["provinces"] if r["old_code"] == "52")
    row["new_code"] = "51"
    data["provinces"].append({"old_code": "99", "new_code": "52"})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="map to themselves"):
        load_province_merger(path)


def test_a_table_that_is_not_json_is_refused_saying_what_to_do(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="fix the file"):
        load_province_merger(path)


@pytest.fixture
def agency_table(tmp_path):
    path = tmp_path / "agency.json"
    path.write_text(
        json.dumps({
            "version": "t1", "effective_from": "2025-07-01",
            "exact": {"000.00.00.H08": "000.00.00.H21"}, "unit_letter_codes": {"H08": "H21"},
        }),
        encoding="utf-8",
    )  # fmt: skip
    return load_agency_remap(path)


def test_agency_code_remaps_by_exact_entry_then_by_province_group(agency_table):
    assert remap_agency_code("000.00.00.H08", received_on=AFTER, table=agency_table) == "000.00.00.H21"
    assert remap_agency_code("000.22.31.H08", received_on=AFTER, table=agency_table) == "000.22.31.H21"
    assert remap_agency_code("000.00.00.H56", received_on=AFTER, table=agency_table) == "000.00.00.H56"


def test_agency_code_is_kept_for_dossiers_received_before_the_merger(agency_table):
    assert remap_agency_code("000.22.31.H08", received_on=BEFORE, table=agency_table) == "000.22.31.H08"


def test_procedure_code_suffixes_follow_the_agency_remap(agency_table):
    assert remap_procedure_code("1.003560.000.00.00.H08", received_on=AFTER, table=agency_table) == (
        "1.003560.000.00.00.H21"
    )
    assert remap_procedure_code("2.002621.H08", received_on=AFTER, table=agency_table) == "2.002621.H21"
    assert remap_procedure_code("1.001234", received_on=AFTER, table=agency_table) == "1.001234"
    assert remap_procedure_code("2.002621.H08", received_on=BEFORE, table=agency_table) == "2.002621.H08"


def test_packaged_agency_table_is_empty_and_changes_nothing():
    table = load_agency_remap()
    assert (dict(table.exact), dict(table.unit_letter_codes)) == ({}, {})
    assert remap_agency_code("000.00.00.H08", received_on=AFTER) == "000.00.00.H08"


def test_an_agency_table_with_a_malformed_code_is_refused(tmp_path):
    path = tmp_path / "agency.json"
    path.write_text(json.dumps({"effective_from": "2025-07-01", "exact": {"H08": "H21"}}), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="agency code"):
        load_agency_remap(path)


def _packaged_json() -> dict:
    from importlib import resources

    return json.loads(
        resources.files("lienthong.mappings").joinpath("data", "province_merger_2025.json").read_text("utf-8")
    )
