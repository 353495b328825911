"""Pre-merger codes arriving after 1 July 2025 are mapped in the dossier flow (issue 7, item 5).

Expected codes come from Resolution 202/2025/QH15 as recorded in `province_merger_2025.json` (Hà Giang 02
-> Tuyên Quang 08; Gia Lai 64 -> 52) and from the `vietnam-provinces` ward list (ward 00070, Hoàn Kiếm,
province 01): an independent source, not the function under test.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from lienthong.demo.workload import synthetic_dossier
from lienthong.mappings.admin_units import AgencyRemapTable
from lienthong.mappings.dvcqg import parse_inbound
from lienthong.mappings.merger import remap_address, remap_dossier
from lienthong.mappings.onestop import EXAMPLE_EVENT, OnestopDossierEventIn, onestop_event_to_canonical
from lienthong.schemas.dossier import Address
from lienthong.schemas.validators import VN_TZ

AFTER = date(2025, 7, 3)
BEFORE = date(2025, 6, 30)


def test_an_old_province_code_after_the_merger_becomes_its_successor() -> None:
    new, notes = remap_address(Address(province_code="02", commune_code="00070"), received_on=AFTER)
    assert new.province_code == "08"
    assert any("00070" in n and "01" in n for n in notes)  # ward 00070 is in Hà Nội (01), not 08


def test_codes_before_the_merger_are_kept() -> None:
    new, notes = remap_address(Address(province_code="64", commune_code="12345"), received_on=BEFORE)
    assert (new.province_code, new.commune_code, notes) == ("64", "12345", [])


def test_an_unknown_old_code_is_passed_through_with_a_warning_never_dropped() -> None:
    new, notes = remap_address(Address(province_code="99", commune_code="99999", detail="x"), received_on=AFTER)
    assert (new.province_code, new.commune_code, new.detail) == ("99", "99999", "x")
    assert len(notes) == 2 and all("passed through" in n for n in notes)


def test_a_post_merger_commune_of_the_right_province_needs_no_warning() -> None:
    new, notes = remap_address(Address(province_code="01", commune_code="00070"), received_on=AFTER)
    assert (new.province_code, notes) == ("01", [])


def dossier(received: datetime) -> Any:
    return synthetic_dossier(random.Random(5), agency_code="000.00.12.H02", received_at=received, seq=5,
                             channel="counter")  # fmt: skip


def test_a_dossier_gets_its_procedure_agency_and_address_mapped_and_keeps_its_code() -> None:
    d = dossier(datetime(2025, 7, 3, 9, tzinfo=VN_TZ))
    d = d.model_copy(update={"applicant": d.applicant.model_copy(update={"address": Address(province_code="64")})})
    table = AgencyRemapTable("t", date(2025, 7, 1), exact={}, unit_letter_codes={"H02": "H08"})
    mapped, notes = remap_dossier(d, agencies=table)
    assert mapped.procedure_code.endswith(".000.00.00.H08")
    assert mapped.applicant.address is not None and mapped.applicant.address.province_code == "52"
    assert mapped.code == d.code  # the dossier's identity never changes
    assert any("procedure code" in n for n in notes)


def test_a_dossier_received_before_the_merger_is_left_alone() -> None:
    d = dossier(datetime(2025, 6, 30, 9, tzinfo=VN_TZ))
    table = AgencyRemapTable("t", date(2025, 7, 1), exact={}, unit_letter_codes={"H02": "H08"})
    assert remap_dossier(d, agencies=table) == (d, [])


def test_the_agency_remap_table_is_loaded_from_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "remap.json"
    path.write_text(json.dumps({"version": "p1", "effective_from": "2025-07-01", "exact": {},
                                "unit_letter_codes": {"H02": "H08"}}), encoding="utf-8")  # fmt: skip
    monkeypatch.setenv("LIENTHONG_MERGER_AGENCY_REMAP", str(path))
    mapped, _ = remap_dossier(dossier(datetime(2025, 7, 3, 9, tzinfo=VN_TZ)))
    assert mapped.procedure_code.endswith(".H08")


def test_the_one_stop_event_carries_mapped_codes_and_the_warnings() -> None:
    body = copy.deepcopy(EXAMPLE_EVENT)
    body["dossier"]["DiaChiChuHoSo"] = {"MaTinh": "02", "MaXa": "99999"}
    event = onestop_event_to_canonical(OnestopDossierEventIn.model_validate(body))
    address = event.dossier.applicant.address
    assert address is not None and (address.province_code, address.commune_code) == ("08", "99999")
    assert any("99999" in n for n in event.notes)


def test_a_dvcqg_notice_address_is_mapped_by_its_submission_date() -> None:
    notice = parse_inbound({"service": "NhanThongBaoThueDat", "data": [
        {"MaHoSo": "000.00.12.H52-250710-0001", "NgayNopHoSo": "20250710090000",
         "DiaChiDoanhNghiep": {"MaTinh": "64", "MaXa": "99998"}},
    ]})  # fmt: skip
    address = notice.items[0].enterprise_address
    assert address is not None and address.province_code == "52"
    assert notice.notes and "99998" in notice.notes[0]
