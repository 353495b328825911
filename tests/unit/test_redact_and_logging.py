"""Personal-data masking (`redact`, `mask_text`) and the logging pipeline that applies it to every event."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from lienthong.audit.redact import mask_text, redact
from lienthong.logging import configure_logging, get_logger

PERSONAL_ID = "001203012345"
OLD_ID_CARD = "123456789"
PHONE = "0912345678"
NAME = "Nguyễn Văn An"
DOSSIER = "000.00.12.H52-250703-0042"


# -- values under sensitive keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("SoDinhDanh", PERSONAL_ID),
        ("HoVaTen", NAME),
        ("ChuHoSo", NAME),
        ("SoDienThoai", PHONE),
        ("HoTenNguoiNop", NAME),
        ("SoCMNDNguoiNop", OLD_ID_CARD),
        ("Email", "an.nguyen@example.vn"),
        ("DiaChiNguoiNop", "12 Lê Lợi, phường Thuận Hóa"),
    ],
)
def test_value_under_a_sensitive_key_is_masked(key: str, value: str) -> None:
    masked = redact({key: value})[key]
    assert value not in masked
    assert masked.startswith("***")


def test_sensitive_keys_match_case_insensitively() -> None:
    assert NAME not in redact({"hovaten": NAME})["hovaten"]


def test_canonical_english_keys_are_sensitive_too() -> None:
    out = redact({"name": NAME, "id_number": PERSONAL_ID, "phone": PHONE})
    assert all(value not in str(out) for value in (NAME, PERSONAL_ID, PHONE))


def test_a_name_under_a_sensitive_key_is_masked_though_no_pattern_finds_it() -> None:
    assert "Nguyễn" not in redact({"ChuHoSo": NAME})["ChuHoSo"]


def test_a_number_under_a_sensitive_key_is_masked() -> None:
    assert redact({"SoDienThoai": 912345678}) == {"SoDienThoai": "***"}


def test_sensitive_keys_are_masked_in_nested_dicts() -> None:
    out = redact({"data": {"hoso": {"ChuHoSo": NAME, "MaHoSo": DOSSIER}}})
    masked = out["data"]["hoso"]["ChuHoSo"]
    # Expectations written by hand, not computed with `redact`: a masking function that masks nothing fails.
    assert NAME not in str(out)
    assert not any(word in masked for word in NAME.split())
    assert out["data"]["hoso"]["MaHoSo"] == DOSSIER
    assert set(out) == {"data"} and set(out["data"]["hoso"]) == {"ChuHoSo", "MaHoSo"}


def test_sensitive_keys_are_masked_in_dicts_inside_lists() -> None:
    out = redact({"DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": PERSONAL_ID}]})
    assert out["DinhDanhCHS"][0]["LoaiDinhDanh"] == 1
    assert PERSONAL_ID not in out["DinhDanhCHS"][0]["SoDinhDanh"]


def test_every_item_of_a_list_under_a_sensitive_key_is_masked() -> None:
    out = redact({"SoDienThoai": [PHONE, "0987654321"]})
    assert PHONE not in str(out)
    assert "0987654321" not in str(out)


def test_every_value_inside_an_object_under_a_sensitive_key_is_masked() -> None:
    out = redact({"address": {"province_code": "46", "detail": "12 Lê Lợi"}})
    assert "Lê Lợi" not in str(out)


def test_redact_keeps_the_structure_and_other_values() -> None:
    record = {"MaHoSo": DOSSIER, "TrangThaiHoSo": 4, "DuocThanhToanTrucTuyen": True, "Gia": 150000, "x": None}
    assert redact(record) == record


def test_redact_does_not_modify_its_argument() -> None:
    record = {"ChuHoSo": NAME}
    redact(record)
    assert record == {"ChuHoSo": NAME}


# -- patterns in free text --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [PERSONAL_ID, OLD_ID_CARD, PHONE, "+84 912 345 678", "+84912345678", "0912 345 678", "0912.345.678"],
)
def test_ids_and_phone_numbers_are_masked_in_free_text(secret: str) -> None:
    masked = mask_text(f"công dân {secret} gọi lại")
    assert secret not in masked
    assert masked.startswith("công dân ***")
    assert masked.endswith(" gọi lại")


def test_ids_are_masked_in_text_under_any_key() -> None:
    out = redact({"TrichYeuHoSo": f"Cấp lại CCCD {PERSONAL_ID} cho công dân"})
    assert PERSONAL_ID not in out["TrichYeuHoSo"]


def test_ids_are_masked_in_text_inside_lists() -> None:
    assert PERSONAL_ID not in str(redact({"notes": [f"CCCD {PERSONAL_ID}"]}))


def test_masking_keeps_only_the_last_two_characters() -> None:
    assert mask_text(f"CCCD {PERSONAL_ID}") == "CCCD ***45"


@pytest.mark.parametrize(
    "text",
    [
        DOSSIER,
        "H52.01-250703-0042",
        "1.500.000 VND",
        "1500000",
        "2025-07-03T10:00:00+07:00",
        "20250703100000",
        "1751510400000",
        "MaTTHC 1.001234.000.00.00.H52",
    ],
)
def test_dossier_codes_amounts_and_timestamps_are_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_digits_inside_a_longer_run_are_left_alone() -> None:
    assert mask_text("0012030123456") == "0012030123456"


# -- the logging pipeline ---------------------------------------------------------------------------


class JsonLogs:
    """Logging configured as in production (JSON) onto pytest's captured stderr.

    `configure_logging` binds the `sys.stderr` of the moment and caches loggers, and capsys swaps stderr
    between test phases, so `logger()` configures from inside the test body.
    """

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def logger(self, name: str = "test") -> Any:
        structlog.reset_defaults()
        configure_logging("json", "DEBUG")
        return get_logger(name)

    def raw(self) -> str:
        return self.capsys.readouterr().err

    @staticmethod
    def events(raw: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in raw.splitlines() if line.strip()]


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[JsonLogs]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    structlog.contextvars.clear_contextvars()
    yield JsonLogs(capsys)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:], root.level = handlers, level


def test_log_events_are_json_lines(json_logs: JsonLogs) -> None:
    json_logs.logger().info("dossier synced", dossier_code=DOSSIER)
    events = JsonLogs.events(json_logs.raw())
    assert [(e["event"], e["dossier_code"], e["level"]) for e in events] == [("dossier synced", DOSSIER, "info")]


def test_a_personal_id_logged_under_its_key_is_masked(json_logs: JsonLogs) -> None:
    json_logs.logger().info("citizen looked up", SoDinhDanh=PERSONAL_ID)
    raw = json_logs.raw()
    events = JsonLogs.events(raw)
    assert PERSONAL_ID not in raw
    assert PERSONAL_ID not in json.dumps(events, ensure_ascii=False)


def test_a_phone_number_in_the_message_is_masked(json_logs: JsonLogs) -> None:
    json_logs.logger().info(f"citizen called from {PHONE} about {DOSSIER}")
    raw = json_logs.raw()
    events = JsonLogs.events(raw)
    assert PHONE not in raw
    assert events[0]["event"] == f"citizen called from ***78 about {DOSSIER}"


def test_a_name_logged_under_its_key_is_masked(json_logs: JsonLogs) -> None:
    json_logs.logger().info("dossier received", ChuHoSo=NAME)
    events = JsonLogs.events(json_logs.raw())
    # JSON escapes non-ASCII, so look at the decoded value, not the raw line.
    assert "Nguyễn" not in events[0]["ChuHoSo"]


def test_context_bound_personal_data_is_masked(json_logs: JsonLogs) -> None:
    structlog.contextvars.bind_contextvars(SoDienThoai=PHONE)
    json_logs.logger().warning("peer slow")
    raw = json_logs.raw()
    assert PHONE not in raw


def test_a_personal_id_in_an_exception_is_masked(json_logs: JsonLogs) -> None:
    try:
        raise ValueError(f"no citizen with SoDinhDanh {PERSONAL_ID}")
    except ValueError:
        json_logs.logger().exception("lookup failed")
    raw = json_logs.raw()
    events = JsonLogs.events(raw)
    assert PERSONAL_ID not in raw
    assert "ValueError" in events[0]["exception"]
