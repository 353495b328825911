"""Golden vectors of `MaXacThuc` for both public schemes.

The expected hex values were computed once with `hashlib` / `hmac` over the joined strings written out
literally below (not with lienthong's code), so these tests pin the field order, the separators, the
secret's position and the trailing `|` of the HMAC confirmation string.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from lienthong.connectors.payment.signature import MessageKind, sign, signing_string, verify

SECRET = "s3cr3t-ABC"
REF = "000.00.12.H52-250703-0042-TT01"

CONFIRM = {
    "LoaiBanTin": "CONFIRM",
    "MaLoi": "00",
    "MaDoiTac": "000.00.12.H52",
    "MaThamChieu": REF,
    "SoTien": "150000",
    "MaTienTe": "VND",
    "MaGiaoDich": "GD123456789012",
    "MaNganHang": "VCB",
    "ThoiGianGD": "20250703091500",
    "ThongTinGiaoDich": "Thanh toan ho so",
}
INIT = {
    "LoaiBanTin": "INIT",
    "PhienBan": "1.0.6",
    "MaDoiTac": "000.00.12.H52",
    "MaThamChieu": REF,
    "SoTien": "150000",
    "LoaiHinhThanhToan": "PAY",
    "MaKenhThanhToan": "WEB",
    "MaThietBi": "lienthong",
    "NgonNgu": "vi-VN",
    "MaTienTe": "VND",
    "MaNganHang": "",
    "ThongTinGiaoDich": "Thanh toan phi, le phi ho so 000.00.12.H52-250703-0042",
    "ThoiGianGD": "20250703091500",
    "Ip": "127.0.0.1",
}
QUERY = {"LoaiBanTin": "QUERY", "PhienBan": "1.0.6", "MaDoiTac": "000.00.12.H52", "MaThamChieu": REF,
         "ThoiGianGD": "20250703091500"}  # fmt: skip
GET_BILL = {**QUERY, "LoaiBanTin": "GET_BILL"}

GOLDEN = [
    (MessageKind.CONFIRM, CONFIRM, "sha256-suffix", "80b1ec1612e878136ae58b4c17a9af8c8a61ebb841ab8d0a0f631371dd935d2a"),
    (MessageKind.CONFIRM, CONFIRM, "hmac-sha256", "f5a47dfd985e34ce8c4a16b469576148637e584b094e334060fdb572e39bdff9"),
    (MessageKind.INIT, INIT, "sha256-suffix", "03e4607c2d7bf4204df0eaf911791afa29869143c18e2bc06293f27eabe008c9"),
    (MessageKind.INIT, INIT, "hmac-sha256", "b8897f051ea5b1e928e850971a2d5b0bab83994637122844be09d4fe286c8652"),
    (MessageKind.QUERY, QUERY, "sha256-suffix", "faba73d09a79ec0b2caff41bc0ccc57a7612bf9f4f76cf6758368dc7873d73c2"),
    (MessageKind.QUERY, QUERY, "hmac-sha256", "6446d091711a82d3d9869e3f941f9903327dc17703419317811f20fd0145337e"),
    (
        MessageKind.GET_BILL,
        GET_BILL,
        "sha256-suffix",
        "20868ce6b4a5d6a3bdd4c9630cd8d122d485a3456cdf112df4cd58f4ed496eb9",
    ),
    (MessageKind.GET_BILL, GET_BILL, "hmac-sha256", "98b793e958714352147f250d3950ef830ed2ca95d9ea64e6ff73750c883909c2"),
]


@pytest.mark.parametrize(("kind", "values", "scheme", "expected"), GOLDEN, ids=[f"{k}-{s}" for k, _, s, _ in GOLDEN])
def test_signature_matches_the_golden_vector(kind, values, scheme, expected) -> None:
    assert sign(kind, values, secret=SECRET, scheme=scheme) == expected


def test_suffix_confirmation_string_puts_every_field_in_the_documented_order() -> None:
    assert signing_string(MessageKind.CONFIRM, CONFIRM, "sha256-suffix") == (
        f"CONFIRM|00|000.00.12.H52|{REF}|150000|VND|GD123456789012|VCB|20250703091500|Thanh toan ho so"
    )


def test_hmac_confirmation_string_omits_error_and_transaction_and_ends_with_a_pipe() -> None:
    assert signing_string(MessageKind.CONFIRM, CONFIRM, "hmac-sha256") == (
        f"CONFIRM|000.00.12.H52|{REF}|150000|VND|VCB|Thanh toan ho so|20250703091500|"
    )


def test_hmac_golden_equals_the_standard_library_hmac_of_the_literal_string() -> None:
    literal = f"CONFIRM|000.00.12.H52|{REF}|150000|VND|VCB|Thanh toan ho so|20250703091500|"
    assert hmac.new(SECRET.encode(), literal.encode(), hashlib.sha256).hexdigest() == GOLDEN[1][3]


@pytest.mark.parametrize("scheme", ["hmac-sha256", "sha256-suffix"])
def test_verify_accepts_upper_case_hex(scheme) -> None:
    mac = sign(MessageKind.CONFIRM, CONFIRM, secret=SECRET, scheme=scheme)
    assert verify(MessageKind.CONFIRM, CONFIRM, mac.upper(), secret=SECRET, scheme=scheme)


@pytest.mark.parametrize("scheme", ["hmac-sha256", "sha256-suffix"])
def test_verify_refuses_another_secret_a_changed_field_and_garbage(scheme) -> None:
    mac = sign(MessageKind.CONFIRM, CONFIRM, secret=SECRET, scheme=scheme)
    assert not verify(MessageKind.CONFIRM, CONFIRM, mac, secret="other", scheme=scheme)
    assert not verify(MessageKind.CONFIRM, {**CONFIRM, "SoTien": "150001"}, mac, secret=SECRET, scheme=scheme)
    assert not verify(MessageKind.CONFIRM, CONFIRM, "", secret=SECRET, scheme=scheme)
    assert not verify(MessageKind.CONFIRM, CONFIRM, "é" * 64, secret=SECRET, scheme=scheme)


def test_a_signature_of_one_scheme_does_not_pass_the_other() -> None:
    mac = sign(MessageKind.CONFIRM, CONFIRM, secret=SECRET, scheme="sha256-suffix")
    assert not verify(MessageKind.CONFIRM, CONFIRM, mac, secret=SECRET, scheme="hmac-sha256")


def test_the_suffix_scheme_covers_the_error_code_the_hmac_scheme_does_not() -> None:
    failed = {**CONFIRM, "MaLoi": "24"}
    suffix = sign(MessageKind.CONFIRM, CONFIRM, secret=SECRET, scheme="sha256-suffix")
    hmac_mac = sign(MessageKind.CONFIRM, CONFIRM, secret=SECRET, scheme="hmac-sha256")
    assert not verify(MessageKind.CONFIRM, failed, suffix, secret=SECRET, scheme="sha256-suffix")
    assert verify(MessageKind.CONFIRM, failed, hmac_mac, secret=SECRET, scheme="hmac-sha256")
