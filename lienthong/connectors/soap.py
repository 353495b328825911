"""SOAP 1.1 helpers shared by the inbound endpoint and the sandboxes: envelope, faults, WS-Security.

- `split_envelope`: the `Header` and the single `Body` child of a parsed SOAP 1.1 envelope.
- `fault_xml`: a SOAP 1.1 Fault (`soap:Client` for the caller's mistakes, `soap:Server` otherwise) whose
  text is a fixed, caller-safe reason.
- `UsernameTokenChecker`: WS-Security UsernameToken with PasswordDigest
  (`Base64(SHA-1(nonce + created + password))`), `Created` within the replay window, each nonce
  accepted once within it.
- `verify_signature`: an X.509 XML signature (signxml) in `wsse:Security` covering exactly the `Body`
  and the `wsu:Timestamp` of this envelope, checked against the caller's configured certificate.
- `SignxmlSignature`: a zeep WS-Security plugin producing such a signature (RSA-SHA256, exclusive
  C14N) with signxml. zeep's own `zeep.wsse.signature.Signature` needs python-xmlsec, whose libxml2
  must be the one lxml was built with, which lxml's wheels do not allow here; the XML it produces is
  the same WS-Security structure, so `verify_signature` accepts either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from lienthong.connectors.xml import XmlRefused

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_UT_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_DIGEST = _UT_PROFILE + "#PasswordDigest"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"


class SoapFault(Exception):  # noqa: N818 - named after the SOAP element it becomes
    """A fault to answer: `code` is `Client` or `Server`; `reason` is safe to show the caller."""

    def __init__(self, code: str, reason: str, *, http_status: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        """`Client` (the caller's mistake) or `Server` (ours or a dependency's)."""
        self.reason = reason
        """Caller-safe text: names rules and elements, never submitted values or internals."""
        self.http_status = http_status or (400 if code == "Client" else 500)
        """HTTP status of the reply."""


def client_fault(reason: str, *, http_status: int = 400) -> SoapFault:
    """A `soap:Client` fault: the request is wrong and must not be sent again unchanged."""
    return SoapFault("Client", reason, http_status=http_status)


def server_fault(reason: str, *, http_status: int = 500) -> SoapFault:
    """A `soap:Server` fault: the request may succeed later."""
    return SoapFault("Server", reason, http_status=http_status)


def fault_xml(fault: SoapFault) -> bytes:
    """The SOAP 1.1 envelope carrying `fault`."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:{fault.code}</faultcode><faultstring>{escape(fault.reason)}</faultstring>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


def envelope_xml(body: etree._Element) -> bytes:
    """A SOAP 1.1 envelope around `body` (the operation's response element)."""
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
    etree.SubElement(env, f"{{{SOAP_NS}}}Body").append(body)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A parsed SOAP 1.1 request."""

    envelope: etree._Element
    """The `soap:Envelope` root."""
    header: etree._Element | None
    """`soap:Header`, if any."""
    body: etree._Element
    """`soap:Body`."""
    operation: etree._Element
    """The one element inside the Body (the document-literal wrapper)."""


def split_envelope(root: etree._Element) -> SoapRequest:
    """Header, Body and the single Body child of a SOAP 1.1 envelope; `XmlRefused` for anything else."""
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise XmlRefused("not a SOAP 1.1 envelope (expected soap:Envelope in the SOAP 1.1 namespace)")
    header = None
    body = None
    for child in root:
        if child.tag == f"{{{SOAP_NS}}}Header" and header is None and body is None:
            header = child
        elif child.tag == f"{{{SOAP_NS}}}Body" and body is None:
            body = child
        else:
            raise XmlRefused("the SOAP envelope holds an unexpected element")
    if body is None:
        raise XmlRefused("the SOAP envelope has no Body")
    parts = [c for c in body if isinstance(c.tag, str)]
    if len(parts) != 1:
        raise XmlRefused("the SOAP Body must hold exactly one operation element")
    return SoapRequest(root, header, body, parts[0])


def _security(header: etree._Element | None) -> etree._Element | None:
    if header is None:
        return None
    found = header.findall(f"{{{WSSE_NS}}}Security")
    if len(found) > 1:
        raise client_fault("more than one wsse:Security header")
    return found[0] if found else None


def _parse_utc(text: str | None) -> datetime:
    if not text:
        raise client_fault("WS-Security time stamp missing")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise client_fault("WS-Security time stamp is not an ISO 8601 time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """`Base64(SHA-1(nonce + created + password))` of the UsernameToken profile 1.0."""
    raw = hashlib.sha1(nonce + created.encode() + password.encode(), usedforsecurity=False).digest()
    return base64.b64encode(raw).decode()


class NonceCache:
    """Nonces seen within the replay window (per process; `max_entries` bounds memory)."""

    def __init__(self, window_s: float, *, max_entries: int = 200_000) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._seen: dict[tuple[str, bytes], float] = {}
        self._lock = threading.Lock()

    def remember(self, username: str, nonce: bytes, now: float) -> bool:
        """Remember `nonce` for `username`; False if it was already seen within the window."""
        with self._lock:
            if len(self._seen) >= self.max_entries:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
                if len(self._seen) >= self.max_entries:
                    return False  # flooded: refuse rather than forget nonces still inside the window
            key = (username, nonce)
            until = self._seen.get(key)
            if until is not None and until > now:
                return False
            self._seen[key] = now + 2 * self.window_s
            return True


class UsernameTokenChecker:
    """Checks a request's `wsse:UsernameToken` (PasswordDigest only) against known passwords."""

    def __init__(self, passwords: dict[str, str], *, window_s: float = 300.0, clock: Any = time.time) -> None:
        self._passwords = passwords
        self.window_s = window_s
        self.clock = clock
        self.nonces = NonceCache(window_s)

    def check(self, header: etree._Element | None) -> str:
        """The authenticated username, or a `soap:Client` fault (HTTP 401) saying what is missing."""
        security = _security(header)
        token = security.find(f"{{{WSSE_NS}}}UsernameToken") if security is not None else None
        if token is None:
            raise client_fault("authentication required: WS-Security UsernameToken", http_status=401)
        username = (token.findtext(f"{{{WSSE_NS}}}Username") or "").strip()
        password_el = token.find(f"{{{WSSE_NS}}}Password")
        nonce_text = token.findtext(f"{{{WSSE_NS}}}Nonce")
        created = token.findtext(f"{{{WSU_NS}}}Created")
        if password_el is None or password_el.get("Type") != PASSWORD_DIGEST:
            raise client_fault("UsernameToken must use PasswordDigest", http_status=401)
        if not nonce_text or not created:
            raise client_fault("UsernameToken needs Nonce and Created", http_status=401)
        try:
            nonce = base64.b64decode(nonce_text.strip(), validate=True)
        except ValueError:
            raise client_fault("UsernameToken Nonce is not Base64", http_status=401) from None
        now = self.clock()
        when = _parse_utc(created).timestamp()
        if abs(now - when) > self.window_s:
            raise client_fault("UsernameToken Created is outside the accepted window", http_status=401)
        expected_pw = self._passwords.get(username)
        # Compare against a digest even for an unknown user, so timing does not tell which users exist.
        expected = password_digest(nonce, created.strip(), expected_pw if expected_pw is not None else "\x00")
        given = (password_el.text or "").strip()
        if expected_pw is None or not hmac.compare_digest(expected.encode(), given.encode()):
            raise client_fault("authentication failed", http_status=401)
        if not self.nonces.remember(username, nonce, now):
            raise client_fault("UsernameToken Nonce already used (replay)", http_status=401)
        return username


def _wsu_id(el: etree._Element | None) -> str | None:
    return None if el is None else el.get(f"{{{WSU_NS}}}Id")


def verify_signature(req: SoapRequest, cert_pem: bytes, *, window_s: float = 300.0, now: float | None = None) -> None:
    """Verify the XML signature in `wsse:Security` against `cert_pem`; it must cover exactly this
    envelope's Body and its `wsu:Timestamp`, which must be current. `soap:Client` fault (401) otherwise."""
    from signxml.exceptions import InvalidInput, InvalidSignature
    from signxml.verifier import XMLVerifier

    security = _security(req.header)
    signature = security.find(f"{{{DS_NS}}}Signature") if security is not None else None
    timestamp = security.find(f"{{{WSU_NS}}}Timestamp") if security is not None else None
    if signature is None or timestamp is None:
        raise client_fault("a signed request is required: ds:Signature and wsu:Timestamp", http_status=401)
    body_id, ts_id = _wsu_id(req.body), _wsu_id(timestamp)
    refs = {r.get("URI") for r in signature.iterfind(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")}
    if not body_id or not ts_id or refs != {f"#{body_id}", f"#{ts_id}"}:
        raise client_fault("the signature must cover exactly the Body and the Timestamp", http_status=401)
    try:
        XMLVerifier().verify(
            etree.tostring(req.envelope), x509_cert=cert_pem.decode(), expect_references=2, id_attribute="Id"
        )
    except (InvalidSignature, InvalidInput, ValueError) as exc:
        raise client_fault(f"signature not valid ({type(exc).__name__})", http_status=401) from None
    t = time.time() if now is None else now
    created = _parse_utc(timestamp.findtext(f"{{{WSU_NS}}}Created")).timestamp()
    expires_text = timestamp.findtext(f"{{{WSU_NS}}}Expires")
    expires = _parse_utc(expires_text).timestamp() if expires_text else created + window_s
    if created - window_s > t or t > expires or t - created > window_s:
        raise client_fault("signed Timestamp is outside the accepted window", http_status=401)


class SignxmlSignature:
    """zeep WS-Security plugin: adds a `wsu:Timestamp` and an RSA-SHA256 signature of Body + Timestamp."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, *, ttl_s: float = 300.0) -> None:
        self.key_pem = key_pem
        self.cert_pem = cert_pem
        self.ttl_s = ttl_s

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> tuple[etree._Element, dict[str, str]]:
        """Sign `envelope` in place (zeep calls this before sending)."""
        from signxml.algorithms import SignatureConstructionMethod
        from signxml.signer import XMLSigner

        header = envelope.find(f"{{{SOAP_NS}}}Header")
        if header is None:
            header = etree.Element(f"{{{SOAP_NS}}}Header")
            envelope.insert(0, header)
        security = header.find(f"{{{WSSE_NS}}}Security")
        if security is None:
            security = etree.SubElement(header, f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS})
        now = datetime.now(UTC)
        ts = etree.SubElement(security, f"{{{WSU_NS}}}Timestamp", nsmap={"wsu": WSU_NS})
        ts_id = f"TS-{secrets.token_hex(8)}"
        ts.set(f"{{{WSU_NS}}}Id", ts_id)
        etree.SubElement(ts, f"{{{WSU_NS}}}Created").text = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        expires = now + timedelta(seconds=self.ttl_s)
        etree.SubElement(ts, f"{{{WSU_NS}}}Expires").text = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = envelope.find(f"{{{SOAP_NS}}}Body")
        if body is None:
            raise ValueError("envelope has no Body")
        body_id = f"Body-{secrets.token_hex(8)}"
        body.set(f"{{{WSU_NS}}}Id", body_id)
        signer = XMLSigner(
            method=SignatureConstructionMethod.detached,
            signature_algorithm="rsa-sha256",
            digest_algorithm="sha256",
            c14n_algorithm=EXC_C14N,
        )
        signature = signer.sign(
            envelope, key=self.key_pem, cert=self.cert_pem.decode(), reference_uri=[f"#{body_id}", f"#{ts_id}"],
            id_attribute="Id",
        )  # fmt: skip
        security.append(signature)
        return envelope, headers

    def verify(self, envelope: etree._Element) -> etree._Element:
        """Responses are not signed by lienthong; nothing to check."""
        return envelope


__all__ = [
    "DS_NS",
    "PASSWORD_DIGEST",
    "SOAP_CONTENT_TYPE",
    "SOAP_NS",
    "WSSE_NS",
    "WSU_NS",
    "NonceCache",
    "SignxmlSignature",
    "SoapFault",
    "SoapRequest",
    "UsernameTokenChecker",
    "client_fault",
    "envelope_xml",
    "fault_xml",
    "password_digest",
    "server_fault",
    "split_envelope",
    "verify_signature",
]
