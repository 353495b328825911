"""Settings of the payment connector: `LIENTHONG_PAYMENT_*` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SignatureScheme = Literal["hmac-sha256", "sha256-suffix"]
"""The two public `MaXacThuc` variants (see `lienthong.connectors.payment.signature`)."""


class PaymentSettings(BaseSettings):
    """How lienthong reaches DVCQG's payment platform and how the platform's callbacks are checked."""

    model_config = SettingsConfigDict(
        env_prefix="LIENTHONG_PAYMENT_", extra="ignore", frozen=True, use_attribute_docstrings=True
    )

    url: str = "http://127.0.0.1:8095"
    """Base URL of the payment platform's JSON API: `INIT`, `QUERY` and `GET_BILL` are posted to `{url}/`
    (the message names its operation in `LoaiBanTin`)."""
    partner_code: str = "000.00.12.H52"
    """`MaDoiTac`: the province's partner code on the platform; a callback naming another is refused."""
    secret: SecretStr = SecretStr("lienthong-sandbox-secret")
    """Shared secret of `MaXacThuc` (HMAC key, or the last hashed field). The default is the sandbox's:
    set a real one in production. Never logged."""
    signature: SignatureScheme = "hmac-sha256"
    """`MaXacThuc` scheme: `hmac-sha256` (HMAC-SHA256 keyed by the secret) or `sha256-suffix` (SHA-256
    of the fields with the secret as the last field). The two public implementations differ."""
    callback_max_age_s: int = Field(900, ge=1)
    """A confirmation callback whose `ThoiGianGD` is older than this many seconds is refused ("99"),
    as is one more than `callback_future_skew_s` in the future: a replayed old callback cannot pass."""
    callback_future_skew_s: int = Field(120, ge=0)
    """Clock skew tolerated for a `ThoiGianGD` in the future, seconds."""
    callback_max_bytes: int = Field(16384, ge=1024)
    """Largest confirmation body read, bytes (counted on the bytes actually received, chunked or not)."""
    timeout_s: float = Field(5.0, gt=0)
    """Timeout of one call to the platform, seconds (connect, read and write each); a timeout is transient."""
    reconcile_after_s: int = Field(1800, ge=1)
    """A payment still pending this many seconds after `INIT` is asked about with `QUERY` (30 minutes)."""
    reconcile_lookback_s: int = Field(3 * 24 * 3600, ge=60)
    """Only payments initiated within this many seconds are reconciled (3 days)."""
    reconcile_interval_s: float = Field(60.0, gt=0)
    """Seconds between two reconciliation rounds of the scheduled flow."""
    return_url: str = "https://dichvucong.example.gov.vn/thanh-toan/ket-qua"
    """Where the platform sends the citizen back after paying (`ThongTinGiaoDich` carries the dossier code)."""
    channel_code: str = "WEB"
    """`MaKenhThanhToan` sent in `INIT`."""
    device_code: str = "lienthong"
    """`MaThietBi` sent in `INIT`."""
    bank_code: str = ""
    """`MaNganHang` sent in `INIT` (empty = the citizen chooses on the platform)."""
    client_ip: str = "127.0.0.1"
    """`Ip` sent in `INIT`: the address of the province's server as the platform sees it."""
    service_code: str = "2"
    """`ThongTinBienLai.MaDichVu`: 2 fee (phí, lệ phí), 1 fine."""
    beneficiary_account: str = "3711.0.1234567"
    """`TKThuHuong`: the State Treasury account that receives the fees."""
    beneficiary_bank: str = "01201001"
    """`MaNHThuHuong`: bank code of that account."""
    beneficiary_name: str = "Kho bạc Nhà nước tỉnh"
    """`TenTKThuHuong`: holder name of that account."""
    agency_name: str = "Trung tâm Phục vụ hành chính công tỉnh"
    """`TenDonVi` in the receipt information (`MaDonVi` is the dossier code's agency part)."""
    online_collection_method: int = 1
    """`HinhThucThu` written on a fee paid online. The portal's code list is not public; the default
    follows the monitoring push's `FormsPayments` (1 online)."""
    counter_collection_method: int = 2
    """`HinhThucThu` written on a fee paid at the desk without cash (POS, transfer); default 2 (direct)."""
    onestop_url: str = "http://127.0.0.1:8092"
    """Base URL of the one-stop system's REST API: payment events (the pay link, the confirmation with the
    moved due date and the paid fees) are posted to `{url}/api/notices` with an `Idempotency-Key`."""
    onestop_timeout_s: float = Field(10.0, gt=0)
    """Timeout of one call to the one-stop REST API, seconds."""
    state_dsn: str = ""
    """Store of payment records: `sqlite:///path.db` or `postgresql://...`. Empty = SQLite file
    `payments.db` under `LIENTHONG_STATE_DIR`. The API and every payment worker must share it."""
    counter_token: SecretStr = SecretStr("")
    """Bearer token the one-stop system must send to `POST /payments/counter`. Empty = no check (loopback
    only: `lienthong api` refuses to listen elsewhere without it)."""
