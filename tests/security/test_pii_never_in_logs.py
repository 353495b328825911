"""Personal data never leaves in clear through the public outputs: DLQ error headers, tap/dlq views, logs.

A real worker is heavy; these tests go through the pieces every output passes through
(`failure_headers`, `record_view`, the logging pipeline), with a citizen's data in each.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import structlog
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, Field

from lienthong.bus.envelope import new_envelope
from lienthong.bus.policy import Failure, SourceRef, failure_headers
from lienthong.errors import PermanentError, TransientError
from lienthong.logging import configure_logging, get_logger
from lienthong.ops.tap import record_view

NAME = "Nguyễn Văn A"
PERSONAL_ID = "001203012345"
PHONE = "0912345678"
PHONE_INTL = "+84 912 345 678"
DOSSIER = "000.00.12.H52-250703-0042"
CITIZEN = {"ChuHoSo": NAME, "SoDinhDanh": PERSONAL_ID, "SoDienThoai": PHONE}
SOURCE = SourceRef(topic="dossier.events", partition=0, offset=7)


def assert_no_personal_data(text: str, *secrets: str) -> None:
    for secret in secrets or (NAME, PERSONAL_ID, PHONE):
        assert secret not in text


def consumer_record(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "dossier.events.dlq", 0, 42, 1751510400000, 0, DOSSIER.encode(), value, None,
        len(DOSSIER), len(value), headers or [],
    )  # fmt: skip


# -- (a) error headers of retry and DLQ records -------------------------------------------------------


def error_header_text(exc: BaseException, failure: Failure = Failure.PERMANENT) -> str:
    headers = failure_headers([], source=SOURCE, failure=failure, exc=exc, attempt=1)
    return " ".join(v.decode() for _, v in headers)


def test_error_headers_never_carry_a_personal_id_or_phone_number() -> None:
    exc = PermanentError(f"DVCQG refused SoDinhDanh={PERSONAL_ID}, liên hệ {PHONE}")
    assert_no_personal_data(error_header_text(exc), PERSONAL_ID, PHONE)


def test_error_headers_never_carry_an_international_phone_number() -> None:
    exc = TransientError(f"SMS gateway timed out sending to {PHONE_INTL}", peer="sms")
    assert_no_personal_data(error_header_text(exc, Failure.TRANSIENT), PHONE_INTL)


def test_error_headers_never_carry_an_old_id_card_number() -> None:
    assert_no_personal_data(error_header_text(ValueError("CMND 123456789 not found")), "123456789")


def test_error_headers_keep_what_the_operator_needs() -> None:
    text = error_header_text(PermanentError(f"dossier {DOSSIER}: SoDinhDanh {PERSONAL_ID} invalid"))
    assert DOSSIER in text
    assert "invalid" in text


class _Applicant(BaseModel):
    HoVaTen: str = Field(max_length=5)


def test_error_headers_never_carry_a_name_quoted_by_a_validation_error() -> None:
    with pytest.raises(ValueError) as caught:
        _Applicant(HoVaTen=NAME)
    assert_no_personal_data(error_header_text(caught.value, Failure.UNEXPECTED), NAME)


# -- (b) the tap / dlq show view of a record -----------------------------------------------------------


def test_record_view_masks_the_citizen_in_a_json_payload() -> None:
    view = record_view(consumer_record(orjson.dumps(CITIZEN)))
    assert_no_personal_data(json.dumps(view, ensure_ascii=False))


def test_record_view_masks_the_citizen_nested_in_a_dossier() -> None:
    payload = {
        "service": "DongBoHoSoMC",
        "data": [{"MaHoSo": DOSSIER, **CITIZEN, "DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": PERSONAL_ID}]}],
    }
    view = record_view(consumer_record(orjson.dumps(payload)))
    assert_no_personal_data(json.dumps(view, ensure_ascii=False))
    assert view["value"]["data"][0]["MaHoSo"] == DOSSIER


def test_record_view_masks_ids_and_phones_in_free_text_fields() -> None:
    payload = {"TrichYeuHoSo": f"Công dân CCCD {PERSONAL_ID}, SĐT {PHONE_INTL} đề nghị cấp lại"}
    view = record_view(consumer_record(orjson.dumps(payload)))
    assert_no_personal_data(json.dumps(view, ensure_ascii=False), PERSONAL_ID, PHONE_INTL)


def test_record_view_of_a_dead_letter_masks_payload_and_error_headers() -> None:
    headers = failure_headers(
        new_envelope(type="vn.gov.lienthong.dossier.updated.v1", source="/lienthong/onestop", subject=DOSSIER)
        .to_headers(),
        source=SOURCE,
        failure=Failure.PERMANENT,
        exc=PermanentError(f"SoDinhDanh {PERSONAL_ID} không khớp SĐT {PHONE}"),
        attempt=0,
    )  # fmt: skip
    view = record_view(consumer_record(orjson.dumps(CITIZEN), headers))
    assert_no_personal_data(json.dumps(view, ensure_ascii=False))
    assert view["headers"]["ce_subject"] == DOSSIER


def test_record_view_reveals_the_payload_only_when_asked() -> None:
    view = record_view(consumer_record(orjson.dumps(CITIZEN)), reveal=True)
    assert view["value"] == CITIZEN


def test_record_view_of_an_undecodable_payload_does_not_reveal_its_bytes() -> None:
    truncated = orjson.dumps(CITIZEN)[:-1]
    view = record_view(consumer_record(truncated))
    shown = json.dumps(view, ensure_ascii=False)
    decoded = [base64.b64decode(v).decode(errors="replace") for k, v in view["value"].items() if "base64" in k]
    assert_no_personal_data(shown + " ".join(decoded))
    assert view["value"]["_undecodable_bytes"] == len(truncated)


# -- (c) logs ---------------------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    root.handlers[:], root.level = handlers, level


def json_logger() -> Any:
    # Configured inside the test: configure_logging binds the sys.stderr of the moment (capsys's).
    structlog.reset_defaults()
    configure_logging("json", "DEBUG")
    return get_logger("security")


def logged(capsys: pytest.CaptureFixture[str]) -> str:
    """Captured log lines, with JSON's \\u escapes decoded so non-ASCII names can be searched."""
    raw = capsys.readouterr().err
    assert raw.strip()
    decoded = [json.dumps(json.loads(line), ensure_ascii=False) for line in raw.splitlines() if line.strip()]
    return raw + "\n" + "\n".join(decoded)


@pytest.mark.usefixtures("restore_logging")
def test_logs_mask_a_citizen_in_a_nested_dict(capsys: pytest.CaptureFixture[str]) -> None:
    dossier = {"MaHoSo": DOSSIER, "ChuHoSo": NAME, "DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": PERSONAL_ID}]}
    json_logger().info("dossier received", dossier=dossier, contact={"SoDienThoai": PHONE})
    text = logged(capsys)
    assert_no_personal_data(text)
    assert DOSSIER in text


@pytest.mark.usefixtures("restore_logging")
def test_logs_mask_personal_data_in_the_message_and_keys(capsys: pytest.CaptureFixture[str]) -> None:
    json_logger().warning(f"callback from {PHONE_INTL} for CCCD {PERSONAL_ID}", SoDinhDanh=PERSONAL_ID)
    assert_no_personal_data(logged(capsys), PHONE_INTL, PERSONAL_ID)


@pytest.mark.usefixtures("restore_logging")
def test_logs_mask_personal_data_bound_to_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    structlog.contextvars.bind_contextvars(HoVaTen=NAME, SoDienThoai=PHONE)
    json_logger().info("processing")
    assert_no_personal_data(logged(capsys), NAME, PHONE)


@pytest.mark.usefixtures("restore_logging")
def test_logs_mask_personal_data_in_a_logged_exception(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise PermanentError(f"no citizen {PERSONAL_ID} / {PHONE}")
    except PermanentError:
        json_logger().exception("lookup failed")
    assert_no_personal_data(logged(capsys), PERSONAL_ID, PHONE)
