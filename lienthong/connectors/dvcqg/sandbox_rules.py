"""What the simulated DVCQG portal accepts and how it stores it: field rules and the dossier store.

Written directly from the domain reference with regexes, on purpose independent of lienthong's
mappings and validators: a simulator that shared our validators would hide our bugs.

Every check returns ``None`` when the value is acceptable, or a complete message
``"<path>: <reason>"``. Messages name fields and rules, never values: ID numbers, names and
phone numbers are personal data (Decree 13/2023/ND-CP) and must not be echoed back.
Sessions, faults and HTTP are ``sandbox.py``'s business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_AGENCY_CODE_PATTERN = r"\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}(?:\.[0-9A-Z]{1,8})*"
"""QCVN 102 form ``V1V2V3.Z1Z2.Y1Y2.MX1X2``; extra dot-separated levels are tolerated because the
2022 amendment allows codes of up to 35 characters (the length cap is checked separately)."""

AGENCY_CODE_MAX_LEN = 35
DOSSIER_REQUIRED_FIELDS: tuple[str, ...] = (
    "MaHoSo",
    "MaTTHC",
    "TenTTHC",
    "ChuHoSo",
    "LoaiDoiTuong",
    "NgayTiepNhan",
    "NgayHenTra",
    "TrangThaiHoSo",
    "KenhThucHien",
)
STEP_REQUIRED_FIELDS: tuple[str, ...] = ("MaHoSo", "NguoiXuLy", "ThoiDiemXuLy", "TrangThai")
TRICH_YEU_MAX_LEN = 1000
NGUOI_XU_LY_MAX_LEN = 50

MISSING = "thiếu trường bắt buộc"
UNSUPPORTED = "trường không được hỗ trợ"

Check = Callable[[Any, str], str | None]
"""``check(value, path)``: ``None`` when valid, else the full ``"<path>: <reason>"`` message."""


def as_int(value: Any) -> int | None:
    """Read a code sent either as a JSON integer or as a string of ASCII digits; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value) <= 9 and value.isascii() and value.isdigit():
        return int(value)
    return None


def is_timestamp(value: Any) -> bool:
    """True for exactly 14 ASCII digits ``yyyyMMddHHmmss`` that name a real moment."""
    if not (isinstance(value, str) and len(value) == 14 and value.isascii() and value.isdigit()):
        return False
    v = value
    try:
        datetime(int(v[:4]), int(v[4:6]), int(v[6:8]), int(v[8:10]), int(v[10:12]), int(v[12:]))
    except ValueError:
        return False
    return True


class DossierCodeRule:
    """``MaHoSo`` = ``<agency code>-<YYMMDD>-<NNNN>`` (Circular 01/2018/TT-VPCP), with a real date."""

    def __init__(self, agency_code_pattern: str = DEFAULT_AGENCY_CODE_PATTERN) -> None:
        """Compile the dossier-code regex around the given agency-code pattern."""
        self._regex = re.compile(rf"({agency_code_pattern})-(\d{{2}})(\d{{2}})(\d{{2}})-\d{{4,5}}")

    def reason(self, value: Any) -> str | None:
        """Why ``value`` is not a valid dossier code, or ``None`` when it is."""
        if not isinstance(value, str):
            return "phải là chuỗi"
        match = self._regex.fullmatch(value)
        if match is None:
            return "sai định dạng <mã cơ quan>-<YYMMDD>-<NNNN> (vd. 000.00.12.H52-250703-0042)"
        if len(match.group(1)) > AGENCY_CODE_MAX_LEN:
            return f"mã cơ quan dài quá {AGENCY_CODE_MAX_LEN} ký tự"
        try:
            datetime(2000 + int(match.group(2)), int(match.group(3)), int(match.group(4)))
        except ValueError:
            return "phần YYMMDD không phải ngày hợp lệ"
        return None


def text(max_len: int | None = None) -> Check:
    """A string, optionally capped at ``max_len`` characters."""

    def check(value: Any, path: str) -> str | None:
        if not isinstance(value, str):
            return f"{path}: phải là chuỗi"
        if max_len is not None and len(value) > max_len:
            return f"{path}: dài quá {max_len} ký tự"
        return None

    return check


def timestamp(value: Any, path: str) -> str | None:
    """A date-time ``yyyyMMddHHmmss`` (Asia/Ho_Chi_Minh)."""
    if is_timestamp(value):
        return None
    return f"{path}: phải là ngày giờ hợp lệ dạng yyyyMMddHHmmss (14 chữ số)"


def code(low: int, high: int) -> Check:
    """An integer code in ``low..high``, sent as a number or a digit string."""

    def check(value: Any, path: str) -> str | None:
        number = as_int(value)
        if number is None or not low <= number <= high:
            return f"{path}: phải là mã số trong khoảng {low}..{high}"
        return None

    return check


def natural(value: Any, path: str) -> str | None:
    """A non-negative integer code whose value set the reference does not fix (e.g. ``KenhThucHien``)."""
    if as_int(value) is None:
        return f"{path}: phải là mã số"
    return None


def number(value: Any, path: str) -> str | None:
    """An amount: a JSON number or a decimal string."""
    if isinstance(value, bool):
        return f"{path}: phải là số"
    if isinstance(value, int | float):
        return None
    if isinstance(value, str) and re.fullmatch(r"\d+(?:\.\d+)?", value):
        return None
    return f"{path}: phải là số"


def scalar(value: Any, path: str) -> str | None:
    """Any JSON scalar: identifiers and flags whose encoding the reference does not fix."""
    if isinstance(value, dict | list):
        return f"{path}: phải là giá trị đơn"
    return None


@dataclass(frozen=True, slots=True)
class ObjectRule:
    """A strict JSON object: only ``fields`` may appear, ``required`` must be present and non-empty."""

    fields: Mapping[str, Check]
    """Allowed field name -> its check."""
    required: tuple[str, ...] = ()
    """Fields that must be present, not null and not an empty string."""
    cross: tuple[Callable[[dict[str, Any], str], str | None], ...] = field(default=())
    """Checks spanning several fields, run once every field passed."""

    def check(self, obj: Any, path: str) -> str | None:
        """First violation in ``obj`` as ``"<path>.<field>: <reason>"``, or ``None``."""
        if not isinstance(obj, dict):
            return f"{path}: phải là đối tượng JSON"
        for name in self.required:
            value = obj.get(name)
            if value is None or value == "":
                return f"{path}.{name}: {MISSING}"
        fields = self.fields
        for name, value in obj.items():
            rule = fields.get(name)
            if rule is None:
                return f"{path}.{name[:40]}: {UNSUPPORTED}"
            if value is not None:
                problem = rule(value, f"{path}.{name}")
                if problem is not None:
                    return problem
        for cross in self.cross:
            problem = cross(obj, path)
            if problem is not None:
                return problem
        return None


def list_of(rule: ObjectRule) -> Check:
    """A JSON array whose every element satisfies ``rule``."""

    def check(value: Any, path: str) -> str | None:
        if not isinstance(value, list):
            return f"{path}: phải là mảng"
        for index, element in enumerate(value):
            problem = rule.check(element, f"{path}[{index}]")
            if problem is not None:
                return problem
        return None

    return check


_ID_LENGTH_BY_KIND = {1: 12, 2: 9}


def _identity_number_matches_kind(obj: dict[str, Any], path: str) -> str | None:
    kind = as_int(obj.get("LoaiDinhDanh"))
    number_ = obj.get("SoDinhDanh")
    expected = _ID_LENGTH_BY_KIND.get(kind) if kind is not None else None
    if expected is None:
        return f"{path}.LoaiDinhDanh: phải là 1 (căn cước 12 số) hoặc 2 (CMND 9 số)"
    if not (isinstance(number_, str) and number_.isascii() and number_.isdigit() and len(number_) == expected):
        return f"{path}.SoDinhDanh: phải gồm đúng {expected} chữ số khi LoaiDinhDanh = {kind}"
    return None


def _dossier_code_check(rule: DossierCodeRule) -> Check:
    def check(value: Any, path: str) -> str | None:
        reason = rule.reason(value)
        return None if reason is None else f"{path}: {reason}"

    return check


def dossier_rule(codes: DossierCodeRule, required: tuple[str, ...] = DOSSIER_REQUIRED_FIELDS) -> ObjectRule:
    """Rule for one ``DongBoHoSoMC`` item: the reference's field list, nothing else."""
    identity = ObjectRule(
        {"LoaiDinhDanh": scalar, "SoDinhDanh": scalar},
        required=("LoaiDinhDanh", "SoDinhDanh"),
        cross=(_identity_number_matches_kind,),
    )
    document = ObjectRule(
        dict.fromkeys(("TepDinhKemId", "DuocSoHoa", "DuocTaiSuDung", "DuocLayTuKhoDMQG"), scalar)
        | dict.fromkeys(("TenTepDinhKem", "MaThanhPhanHoSo", "DuongDanTaiTepTin"), text())
    )
    fee = ObjectRule(
        {"TenPhiLePhi": text(), "Gia": number} | dict.fromkeys(("MaPhiLePhi", "HinhThucThu", "LoaiPhiLePhi"), scalar)
    )
    supplement = ObjectRule(
        {"HoSoBoSungId": scalar, "NguoiYeuCauBoSung": text(), "NoiDungBoSung": text()}
        | {"TrangThaiBoSung": scalar}
        | dict.fromkeys(("NgayBoSung", "NgayHenTraTruoc", "NgayHenTraMoi"), timestamp)
    )
    result = ObjectRule(
        {"GiayToId": scalar}
        | dict.fromkeys(("TenGiayTo", "MaThanhPhanHoSo", "DuongDanTepTinKetQua", "MaGiayToKetQua"), text())
    )
    flags = ["HoSoCoThanhPhanSoHoa", "TaiKhoanDuocXacThucVoiVNeID", "DuocThanhToanTrucTuyen"]
    texts = [
        "MaTTHC",
        "TenTTHC",
        "MaLinhVuc",
        "TenLinhVuc",
        "SoBienNhan",
        "ChuHoSo",
        "MaDoiTuong",
        "SoDienThoai",
        "Email",
        "SoGiayToChuHoSo",
        "DonViXuLy",
        "NoiNopHoSo",
    ]
    dates = ["NgayNopHoSo", "NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "NgayTuChoi"]
    fields: dict[str, Check] = (
        {"MaHoSo": _dossier_code_check(codes), "TrichYeuHoSo": text(TRICH_YEU_MAX_LEN)}
        | dict.fromkeys(texts, text())
        | dict.fromkeys(dates, timestamp)
        | dict.fromkeys(flags, scalar)
        | {
            "KenhThucHien": natural,
            "LoaiDoiTuong": code(1, 4),
            "TrangThaiHoSo": code(1, 10),
            "HinhThuc": code(0, 1),
            "DinhDanhCHS": list_of(identity),
            "DSKetNoiCSDL": list_of(ObjectRule({"MaCSDL": scalar}, required=("MaCSDL",))),
            "TaiLieuNop": list_of(document),
            "DanhSachLePhi": list_of(fee),
            "DanhSachHoSoBoSung": list_of(supplement),
            "DanhSachGiayToKetQua": list_of(result),
        }
    )
    return ObjectRule(fields, required=required)


def step_rule(codes: DossierCodeRule, required: tuple[str, ...] = STEP_REQUIRED_FIELDS) -> ObjectRule:
    """Rule for one ``CapNhatTienDoHoSoMC`` step."""
    fields: dict[str, Check] = {
        "MaHoSo": _dossier_code_check(codes),
        "NguoiXuLy": text(NGUOI_XU_LY_MAX_LEN),
        "TrangThai": code(1, 10),
    } | dict.fromkeys(("ChucDanh", "PhongBanXuLy", "NoiDungXuLy"), text())
    fields |= dict.fromkeys(("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh"), timestamp)
    return ObjectRule(fields, required=required)


def step_key(step: Mapping[str, Any]) -> tuple[str, str, int | None, str]:
    """Identity of a step for de-duplication: (MaHoSo, ThoiDiemXuLy, TrangThai, NguoiXuLy)."""
    return (
        str(step["MaHoSo"]),
        str(step.get("ThoiDiemXuLy")),
        as_int(step.get("TrangThai")),
        str(step.get("NguoiXuLy")),
    )


# Dossier store ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer of the simulated portal: HTTP status and JSON body."""

    status: int
    """HTTP status code."""
    body: dict[str, Any]
    """JSON body; always carries ``error_code``."""


def error(message: str, error_code: int = -1, status: int = 200) -> Reply:
    """A portal error: by default HTTP 200 with ``error_code -1``, as the portal answers in the body."""
    return Reply(status, {"error_code": error_code, "message": message})


_OK = Reply(200, {"error_code": 0, "message": "Thành công"})


@dataclass(slots=True)
class DossierRecord:
    """What the portal holds for one ``MaHoSo``."""

    item: dict[str, Any]
    """Last dossier item stored, exactly as received."""
    writes: int = 0
    """Accepted ``DongBoHoSoMC`` writes (answered ``error_code 0``) of this dossier."""
    history: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    """Every accepted write as ``(received_at epoch seconds, item)``, oldest first."""
    steps: list[dict[str, Any]] = field(default_factory=list)
    """Processing steps, in arrival order, without duplicates."""
    step_keys: set[tuple[str, str, int | None, str]] = field(default_factory=set)
    """Keys of ``steps`` (see :func:`step_key`), for O(1) de-duplication."""
    seeded: bool = False
    """True while the record exists only because duplicate mode pretended it did."""

    def as_json(self, *, with_history: bool = False) -> dict[str, Any]:
        """JSON view for the inspection endpoints."""
        view: dict[str, Any] = {"item": self.item, "steps": self.steps, "writes": self.writes}
        view["seeded"] = self.seeded
        if with_history:
            view["history"] = [{"received_at": at, "item": item} for at, item in self.history]
        return view


@dataclass(slots=True)
class DossierStore:
    """The portal's dossiers and the three dossier services; a call is applied whole or not at all."""

    codes: DossierCodeRule
    """Dossier-code rule, shared with ``TraCuuHoSo``."""
    dossier: ObjectRule
    """Rule for ``DongBoHoSoMC`` items."""
    step: ObjectRule
    """Rule for ``CapNhatTienDoHoSoMC`` steps."""
    clock: Callable[[], float]
    """Epoch seconds, stamped on each accepted write."""
    exists_error_code: int = 3
    """Code of the "đã tồn tại" answer (3 or -3)."""
    max_items: int = 500
    """Most dossiers per ``DongBoHoSoMC`` call."""
    lookup_reply_key: str = "result"
    """Key of the ``TraCuuHoSo`` answer's list (``result`` in one public implementation, ``data`` in another)."""
    max_steps: int = 10
    """Most steps per ``CapNhatTienDoHoSoMC`` call."""
    duplicate: bool = False
    """Duplicate mode (see ``DvcqgSandboxState.set_duplicate``)."""
    records: dict[str, DossierRecord] = field(default_factory=dict)
    """``MaHoSo`` -> record."""
    steps_deduplicated: int = 0
    """Steps ignored because an identical step was already stored."""

    def lookup(self, body: dict[str, Any]) -> Reply:
        """``TraCuuHoSo {mahoso}``: a list under ``lookup_reply_key`` (``result`` or ``data``), holding the
        last stored item, empty when the portal has no such dossier (as public implementations read it).
        ``MaHoSo`` is accepted as the field name too."""
        code = body.get("mahoso", body.get("MaHoSo"))
        if code is None or code == "":
            return error(f"mahoso: {MISSING}")
        reason = self.codes.reason(code)
        if reason is not None:
            return error(f"mahoso: {reason}")
        record = self.records.get(code)
        return Reply(200, {"error_code": 0, self.lookup_reply_key: [record.item] if record is not None else []})

    def sync_dossiers(self, body: dict[str, Any]) -> Reply:
        """``DongBoHoSoMC``: create (``isUpdating "False"``) or overwrite (``"True"``) every item."""
        flag = body.get("isUpdating")
        updating = flag.lower() if isinstance(flag, str) else None
        if updating not in ("true", "false"):
            return error('isUpdating: phải là "True" hoặc "False"')
        items = _batch(body, self.max_items, f"Tối đa {self.max_items} hồ sơ mỗi lần", self.dossier)
        if isinstance(items, Reply):
            return items
        refusal = self._missing(items) if updating == "true" else self._existing(items)
        if refusal is not None:
            return refusal
        now = self.clock()
        records = self.records
        for item in items:
            record = records.get(item["MaHoSo"])
            if record is None:
                record = records[item["MaHoSo"]] = DossierRecord(item)
            record.item = item
            record.writes += 1
            record.seeded = False
            record.history.append((now, item))
        return _OK

    def _missing(self, items: list[dict[str, Any]]) -> Reply | None:
        for item in items:
            if item["MaHoSo"] not in self.records:
                return error(f"Hồ sơ không tồn tại: {item['MaHoSo']}")
        return None

    def _existing(self, items: list[dict[str, Any]]) -> Reply | None:
        seen: set[str] = set()
        for item in items:
            code = item["MaHoSo"]
            if code in self.records or code in seen:
                return error(f"Hồ sơ {code} đã tồn tại", self.exists_error_code)
            seen.add(code)
        if not self.duplicate:
            return None
        for item in items:
            self.records[item["MaHoSo"]] = DossierRecord(item, seeded=True)
        return error(f"Hồ sơ {items[0]['MaHoSo']} đã tồn tại", self.exists_error_code)

    def sync_steps(self, body: dict[str, Any]) -> Reply:
        """``CapNhatTienDoHoSoMC``: append steps of existing dossiers, skipping ones already stored."""
        steps = _batch(body, self.max_steps, f"Tối đa {self.max_steps} bước mỗi lần", self.step)
        if isinstance(steps, Reply):
            return steps
        refusal = self._missing(steps)
        if refusal is not None:
            return refusal
        for step in steps:
            record = self.records[step["MaHoSo"]]
            key = step_key(step)
            if key in record.step_keys:
                self.steps_deduplicated += 1
                continue
            record.step_keys.add(key)
            record.steps.append(step)
        return _OK


def _batch(body: dict[str, Any], limit: int, limit_message: str, rule: ObjectRule) -> list[Any] | Reply:
    """The ``data`` array once its size and every element passed, else the first refusal."""
    data = body.get("data")
    if not isinstance(data, list) or not data:
        return error("data: phải là mảng không rỗng")
    if len(data) > limit:
        return error(limit_message)
    check = rule.check
    for index, element in enumerate(data):
        problem = check(element, f"data[{index}]")
        if problem is not None:
            return error(problem)
    return data
