"""Synthetic dossiers for the demo, the sandboxes and the benchmarks: realistic in shape, fake in content.

Names are drawn from common Vietnamese family, middle and given names; ID numbers have a valid
structure (province of birth, sex/century digit, year) but random digits; phone numbers follow the
mobile pattern `0[35789]xxxxxxxx`; e-mails use the reserved `example.com` domain. No real person's
data is used. Everything derives from the `random.Random` passed in, so a seed reproduces a workload.

The procedure list is illustrative: the codes are well-formed national catalogue codes and the limits
are typical working-day limits, but they are not an authoritative catalogue.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from vietnam_provinces import Ward

from lienthong.calendar import TimeLimit, WorkingCalendar
from lienthong.mappings.identifiers import DossierCode, validate_agency_code
from lienthong.mappings.wire import VN_TZ
from lienthong.schemas.dossier import (
    Address,
    Applicant,
    ApplicantIdentifier,
    Channel,
    DeliveryMethod,
    Document,
    Dossier,
    DossierStatus,
    Fee,
    IdentifierKind,
    ProcessingStep,
    SubjectType,
)


@dataclass(frozen=True, slots=True)
class SyntheticProcedure:
    """A procedure the generator can pick."""

    code: str
    """National catalogue code `d.dddddd`; dossiers use the province instance `<code>.000.00.00.<Hxx>`."""
    name: str
    """Procedure name."""
    field_code: str
    """Field (lĩnh vực) code."""
    field_name: str
    """Field name."""
    limit_working_days: int
    """Processing limit in working days."""
    fee_vnd: int
    """Fee or charge in dong; 0 when free."""
    unit: str
    """Kind of unit that handles it."""
    subject_type: SubjectType = SubjectType.CITIZEN
    """Who applies."""
    time_limit: str = ""
    """The limit as procedure data (`TimeLimit.parse`: `3d`, `same-day<15:00`, ...); empty = working days."""

    @property
    def limit(self) -> TimeLimit:
        """The procedure's time limit."""
        return TimeLimit.parse(self.time_limit) if self.time_limit else TimeLimit(working_days=self.limit_working_days)


_P = SyntheticProcedure
_COMMUNE = "UBND cấp xã"
PROCEDURES: tuple[SyntheticProcedure, ...] = (
    _P("1.001193", "Đăng ký khai sinh", "HT", "Hộ tịch", 1, 0, _COMMUNE),
    _P("1.000894", "Đăng ký kết hôn", "HT", "Hộ tịch", 1, 0, _COMMUNE),
    _P("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", "HT", "Hộ tịch", 3, 0, _COMMUNE),
    # Same day, or the next working day when received after 15:00 (Decree 23/2015/NĐ-CP art. 21).
    _P("2.000908", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", "CT", "Chứng thực", 1, 10_000,
       _COMMUNE, time_limit="same-day<15:00"),
    _P("1.001612", "Đăng ký thành lập hộ kinh doanh", "HKD", "Hộ kinh doanh", 3, 100_000, _COMMUNE),
    _P("1.009994", "Cấp giấy phép xây dựng nhà ở riêng lẻ", "XD", "Hoạt động xây dựng", 15, 75_000, _COMMUNE),
    _P("1.004227", "Đăng ký đất đai, cấp Giấy chứng nhận lần đầu", "DD", "Đất đai", 20, 100_000,
       "Văn phòng đăng ký đất đai"),
    _P("2.000488", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", "LLTP", "Lý lịch tư pháp", 10, 200_000,
       "Sở Tư pháp"),
    _P("2.001610", "Đăng ký thay đổi nội dung đăng ký doanh nghiệp", "DKDN",
       "Thành lập và hoạt động của doanh nghiệp", 3, 50_000, "Sở Tài chính", SubjectType.ENTERPRISE),
)  # fmt: skip
"""The procedures synthetic dossiers are drawn from."""

FAMILY_NAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
    "Dương", "Lý",
)  # fmt: skip
MALE_MIDDLE = ("Văn", "Đức", "Hữu", "Minh", "Quang", "Công", "Thành")
FEMALE_MIDDLE = ("Thị", "Ngọc", "Thu", "Thanh", "Hồng", "Kim", "Bảo")
MALE_GIVEN = (
    "An", "Bình", "Dũng", "Hải", "Hùng", "Khánh", "Long", "Minh", "Nam", "Phong", "Quân", "Sơn", "Thắng",
    "Tuấn", "Việt",
)  # fmt: skip
FEMALE_GIVEN = (
    "Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hoa", "Hương", "Lan", "Linh", "Mai", "Nga", "Phương",
    "Thảo", "Trang", "Yến",
)  # fmt: skip
_STREETS = (
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Huệ",
    "Hai Bà Trưng",
    "Quang Trung",
    "Lý Thường Kiệt",
    "Hùng Vương",
)
_COMPANY_WORDS = ("Thương mại", "Xây dựng", "Dịch vụ", "Nông sản", "Vận tải", "Công nghệ")
_BIRTH_PROVINCES = ("001", "038", "040", "042", "046", "048", "052", "064", "079", "092")


@cache
def _calendar() -> WorkingCalendar:
    # The shipped official calendar (weekends, holidays, the government's swaps): due dates as a real
    # one-stop system computes them.
    return WorkingCalendar()


@cache
def _wards() -> tuple[Ward, ...]:
    return tuple(Ward.iter_all())


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _ascii(text: str) -> str:
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalnum()).lower()


def _person(rng: random.Random) -> tuple[str, str]:
    """A fake full name and a structurally valid 12-digit personal ID."""
    female = rng.random() < 0.5
    middle, given = (FEMALE_MIDDLE, FEMALE_GIVEN) if female else (MALE_MIDDLE, MALE_GIVEN)
    name = f"{rng.choice(FAMILY_NAMES)} {rng.choice(middle)} {rng.choice(given)}"
    year = rng.randint(1950, 2005)
    century_digit = 2 * ((year - 1900) // 100) + (1 if female else 0)
    return name, f"{rng.choice(_BIRTH_PROVINCES)}{century_digit}{year % 100:02d}{_digits(rng, 6)}"


def synthetic_phone(rng: random.Random) -> str:
    """A mobile-shaped number `0[35789]xxxxxxxx`."""
    return f"0{rng.choice('35789')}{_digits(rng, 8)}"


def add_working_days(start: datetime, days: int) -> datetime:
    """`start` plus `days` days skipping Saturdays and Sundays (local time). An approximation for
    synthetic data only: `lienthong.calendar` owns the real rule with holidays and working hours."""
    local = start.astimezone(VN_TZ)
    while days > 0:
        local += timedelta(days=1)
        if local.weekday() < 5:
            days -= 1
    return local


def _applicant(rng: random.Random, procedure: SyntheticProcedure, online: bool) -> Applicant:
    ward = rng.choice(_wards())
    address = Address(
        province_code=f"{ward.province_code.value:02d}",
        commune_code=f"{ward.code.value:05d}",
        detail=f"Số {rng.randint(1, 300)} đường {rng.choice(_STREETS)}",
    )
    person, personal_id = _person(rng)
    email = f"{_ascii(person)}{rng.randint(1, 999)}@example.com" if rng.random() < 0.5 else None
    subject_code = f"DVCQG-{_digits(rng, 9)}" if online else None
    if procedure.subject_type is SubjectType.ENTERPRISE:
        tax_code = f"{rng.choice('0123456789')}{_digits(rng, 9)}"
        words = f"{rng.choice(_COMPANY_WORDS)} {rng.choice(MALE_GIVEN)} {rng.choice(('Phát', 'Thịnh', 'Hưng'))}"
        return Applicant(
            name=f"Công ty TNHH {words}",
            subject_type=SubjectType.ENTERPRISE,
            subject_code=subject_code,
            id_number=tax_code,
            phone=synthetic_phone(rng),
            email=email,
            tax_code=tax_code,
            address=address,
        )
    return Applicant(
        name=person,
        subject_type=SubjectType.CITIZEN,
        subject_code=subject_code,
        id_number=personal_id,
        identifiers=(ApplicantIdentifier(kind=IdentifierKind.PERSONAL_ID, number=personal_id),),
        phone=synthetic_phone(rng),
        email=email,
        address=address,
    )


def _documents(rng: random.Random, procedure: SyntheticProcedure) -> tuple[Document, ...]:
    names = ("Tờ khai", "Bản sao giấy tờ tùy thân", "Giấy tờ chứng minh", "Bản vẽ / sơ đồ")
    count = rng.randint(1, 3)
    return tuple(
        Document(
            file_name=f"{names[i]}.pdf",
            file_id=f"f-{_digits(rng, 10)}",
            component_code=f"{procedure.field_code}-TP{i + 1}",
            url=f"https://motcua.example.gov.vn/files/{_digits(rng, 12)}",
            digitised=rng.random() < 0.7,
            reused=rng.random() < 0.2,
        )
        for i in range(count)
    )


def synthetic_dossier(
    rng: random.Random, *, agency_code: str, received_at: datetime, seq: int, channel: str
) -> Dossier:
    """A fake, valid dossier just accepted (status 2, version 1) by unit `agency_code`.

    `received_at` must be timezone-aware; its local date and `seq` (1..9999) form the dossier code.
    `channel` is `counter`, `online` or `post`.
    """
    validate_agency_code(agency_code)
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    via = Channel(channel)
    online = via is Channel.ONLINE
    procedure = rng.choice(PROCEDURES)
    local = received_at.astimezone(VN_TZ)
    code = DossierCode(agency_code, local.date(), seq).value
    submitted_at = received_at - timedelta(minutes=rng.randint(1, 72 * 60) if online else rng.randint(1, 20))
    applicant = _applicant(rng, procedure, online)
    fees: tuple[Fee, ...] = ()
    if procedure.fee_vnd:
        fees = (
            Fee(
                name=f"Lệ phí {procedure.name.lower()}",
                amount_vnd=procedure.fee_vnd,
                code=f"LP-{procedure.code}",
            ),
        )
    officer, _ = _person(rng)
    documents = _documents(rng, procedure)
    return Dossier(
        code=code,
        procedure_code=f"{procedure.code}.000.00.00.{agency_code.split('.')[3]}",
        procedure_name=procedure.name,
        field_code=procedure.field_code,
        field_name=procedure.field_name,
        channel=via,
        receipt_number=f"BN-{local:%y%m%d}-{seq:04d}",
        applicant=applicant,
        summary=f"Đề nghị {procedure.name[0].lower()}{procedure.name[1:]}",
        submitted_at=submitted_at,
        received_at=received_at,
        due_at=procedure.limit.due(_calendar(), received_at),
        status=DossierStatus.ACCEPTED,
        delivery=DeliveryMethod.POST if rng.random() < 0.15 else DeliveryMethod.IN_PERSON,
        handling_unit=procedure.unit,
        has_digitised_components=any(d.digitised for d in documents),
        vneid_verified=online and rng.random() < 0.8,
        paid_online=online and bool(fees) and rng.random() < 0.6,
        documents=documents,
        fees=fees,
        steps=(
            ProcessingStep(
                handler_name=officer,
                title="Công chức Bộ phận Một cửa",
                processed_at=received_at,
                department="Bộ phận Tiếp nhận và Trả kết quả",
                content="Tiếp nhận hồ sơ",
                status=DossierStatus.ACCEPTED,
                started_at=received_at,
            ),
        ),
        version=1,
    )
