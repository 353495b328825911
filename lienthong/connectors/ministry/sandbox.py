"""A sandbox ministry: a real zeep client of lienthong's published WSDL, for tests, the demo and benches.

`SandboxMinistry(wsdl_url, username, password)` fetches the WSDL from `GET /soap/ministry?wsdl` and calls
`GuiKetQuaXuLy` / `TraCuuHoSo` with a WS-Security UsernameToken (PasswordDigest), optionally signed with
an X.509 key (`key_pem`, `cert_pem`; see `make_certificate`). `send_attacks(url)` posts the XML attack
corpus and reports what came back. zeep is synchronous here: from async code call it in a thread.

    python -m lienthong.connectors.ministry.sandbox --url http://127.0.0.1:8080/soap/ministry?wsdl \
        --username bo-tu-phap --password ... --count 10 [--attacks]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import httpx

from lienthong.connectors.soap import SignxmlSignature
from lienthong.connectors.xml import zeep_settings
from lienthong.connectors.xml_attacks import attack_corpus


def make_certificate(common_name: str, *, days: int = 365) -> tuple[bytes, bytes]:
    """A new RSA-2048 key and self-signed certificate, both PEM (for sandboxes and tests)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class AttackOutcome:
    """What lienthong answered to one hostile document."""

    name: str
    """Attack class."""
    status: int
    """HTTP status."""
    fault: str
    """`soap:Client`/`soap:Server`, or empty when the answer was not a SOAP fault."""
    seconds: float
    """Time to the answer."""


class _WsseChain:
    """Several WS-Security plugins applied in order (zeep 4.3 applies a list but cannot verify one)."""

    def __init__(self, plugins: list[Any]) -> None:
        self.plugins = plugins

    def apply(self, envelope: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
        for plugin in self.plugins:
            envelope, headers = plugin.apply(envelope, headers)
        return envelope, headers

    def verify(self, envelope: Any) -> Any:
        return envelope


class SandboxMinistry:
    """A ministry calling lienthong's SOAP endpoint through zeep (the WSDL fetched over HTTP)."""

    def __init__(
        self,
        wsdl_url: str,
        username: str,
        password: str,
        *,
        key_pem: bytes | None = None,
        cert_pem: bytes | None = None,
        use_token: bool = True,
        timeout_s: float = 10.0,
    ) -> None:
        from zeep import Client
        from zeep.transports import Transport
        from zeep.wsse.username import UsernameToken

        wsse: list[Any] = []
        if use_token:
            wsse.append(
                UsernameToken(  # type: ignore[no-untyped-call]
                    username, password, use_digest=True
                )
            )
        if key_pem is not None and cert_pem is not None:
            wsse.append(SignxmlSignature(key_pem, cert_pem))
        self.client = Client(  # type: ignore[no-untyped-call]
            wsdl_url,
            transport=Transport(  # type: ignore[no-untyped-call]
                timeout=timeout_s, operation_timeout=timeout_s
            ),
            settings=zeep_settings(),
            wsse=_WsseChain(wsse) if wsse else None,
        )

    def send_result(
        self,
        *,
        message_id: str,
        dossier_code: str,
        agency_code: str = "000.00.00.G12",
        status: int = 9,
        content: str = "Đã cấp thẻ bảo hiểm y tế",
        processed_at: dt.datetime | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> Any:
        """`GuiKetQuaXuLy`; returns zeep's answer (MaLoi, MoTa, MaThongDiep, MaBanGhi)."""
        vn = dt.timezone(dt.timedelta(hours=7))
        when = (processed_at or dt.datetime.now(vn)).astimezone(vn)
        return self.client.service.GuiKetQuaXuLy(
            MaThongDiep=message_id,
            MaHoSo=dossier_code,
            MaDonVi=agency_code,
            TrangThai=status,
            NoiDungXuLy=content,
            ThoiDiemXuLy=when.strftime("%Y%m%d%H%M%S"),
            TepKetQua=files or [],
        )

    def lookup(self, dossier_code: str) -> Any:
        """`TraCuuHoSo`."""
        return self.client.service.TraCuuHoSo(MaHoSo=dossier_code)


def send_attacks(url: str, *, timeout_s: float = 5.0) -> list[AttackOutcome]:
    """POST every document of the attack corpus to the SOAP endpoint at `url`."""
    import time

    outcomes = []
    with httpx.Client(timeout=timeout_s) as client:
        for name, body in attack_corpus().items():
            started = time.monotonic()
            reply = client.post(url, content=body, headers={"content-type": "text/xml; charset=utf-8"})
            elapsed = time.monotonic() - started
            text = reply.text
            fault = ""
            for code in ("soap:Client", "soap:Server"):
                if f"<faultcode>{code}</faultcode>" in text:
                    fault = code
            outcomes.append(AttackOutcome(name, reply.status_code, fault, elapsed))
    return outcomes


def main(argv: list[str] | None = None) -> None:
    """Send `--count` results (and with `--attacks` the attack corpus) to a running lienthong."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="WSDL URL, e.g. http://127.0.0.1:8080/soap/ministry?wsdl")
    parser.add_argument("--username", default="bo-tu-phap")
    parser.add_argument("--password", default="sandbox-secret")
    parser.add_argument("--dossier", default="000.00.12.H52-250703-0042")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--attacks", action="store_true", help="also send the XML attack corpus")
    args = parser.parse_args(argv)
    ministry = SandboxMinistry(args.url, args.username, args.password)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    for n in range(args.count):
        reply = ministry.send_result(message_id=f"sandbox-{stamp}-{n}", dossier_code=args.dossier)
        print(json.dumps({"MaThongDiep": reply.MaThongDiep, "MaLoi": reply.MaLoi, "MoTa": reply.MoTa}))
    if args.attacks:
        for o in send_attacks(args.url.split("?")[0]):
            print(json.dumps({"attack": o.name, "status": o.status, "fault": o.fault, "s": round(o.seconds, 3)}))


if __name__ == "__main__":
    main()


__all__ = ["AttackOutcome", "SandboxMinistry", "make_certificate", "send_attacks"]
