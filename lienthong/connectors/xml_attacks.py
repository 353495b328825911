"""The XML attack corpus: one hostile document per attack class the XML kit must refuse.

Used by the security tests, the demo (`soap_attacks_refused`) and the sandbox ministry client's hostile
mode. Each document is a SOAP 1.1 envelope around a `GuiKetQuaXuLy` call (where the attack allows one),
so a parser that let the attack through would reach the operation.
"""

from __future__ import annotations

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_OPEN = f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body>'
_CLOSE = "</soap:Body></soap:Envelope>"


def _call(inner: str) -> str:
    return (
        f'{_OPEN}<GuiKetQuaXuLy xmlns="urn:lienthong:bonganh:v1"><MaThongDiep>atk-1</MaThongDiep>'
        f"<MaHoSo>{inner}</MaHoSo></GuiKetQuaXuLy>{_CLOSE}"
    )


def attack_corpus(oversize_bytes: int = 2 * 1024 * 1024) -> dict[str, bytes]:
    """Attack class -> document bytes (`oversize` is `oversize_bytes` long)."""
    laughs = ['<!ENTITY lol0 "lol">']
    laughs += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    blob = "a" * 50_000
    return {
        "xxe_file": (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _call("&x;")
        ).encode(),
        "xxe_network": (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/secret">]>' + _call("&x;")
        ).encode(),
        "billion_laughs": ('<?xml version="1.0"?><!DOCTYPE r [' + "".join(laughs) + "]>" + _call("&lol9;")).encode(),
        "quadratic_blowup": (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{blob}">]>' + _call("&a;" * 15_000)
        ).encode(),
        "external_dtd": (
            '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">' + _call("x")
        ).encode(),
        "xinclude": _call(
            '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'
        ).encode(),
        "deep_nesting": (_OPEN + "<a>" * 10_000 + "</a>" * 10_000 + _CLOSE).encode(),
        "oversize": (_call("x" * oversize_bytes)).encode(),
        "non_utf8_encoding": ('<?xml version="1.0" encoding="ISO-8859-1"?>' + _call("Nguy\xe9n")).encode("latin-1"),
        "utf16_bom": ('<?xml version="1.0" encoding="UTF-16"?>' + _call("x")).encode("utf-16"),
    }


ATTACK_CLASSES = tuple(attack_corpus(16))
"""Names of the attack classes, in corpus order."""

__all__ = ["ATTACK_CLASSES", "SOAP_NS", "attack_corpus"]
