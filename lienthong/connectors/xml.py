"""The one home for XML in lienthong: a hardened parser, XSD validation, and the zeep client factory.

Every XML byte that enters lienthong (a ministry's SOAP request, a national database's reply) goes
through `parse_xml`:

1. the size is capped before anything parses (`max_bytes`);
2. the encoding is settled on the raw bytes: UTF-8 (with or without BOM, or declared as `UTF-8` /
   `US-ASCII`) only; a UTF-16/32 BOM or any other declared encoding is refused with a clear reason
   instead of being half-decoded; invalid UTF-8 is refused;
3. any `<!DOCTYPE` or `<!ENTITY` is refused outright (no DTD, internal or external, hence no entity
   expansion: XXE, billion laughs and quadratic blow-up never reach the parser);
4. lxml parses with `resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False`
   (libxml2's own depth limit of 256 stays on), XInclude is never processed and an element in the
   XInclude namespace is refused;
5. the element depth is capped (`max_depth`).

A refusal is an `XmlRefused` (a `PermanentError`) whose message names the rule broken, never the
document's content, so it can be shown to the caller.

Outbound SOAP uses zeep built by `zeep_settings()` / `local_wsdl_client()`: strict parsing, DTDs,
entities and external references forbidden, WSDLs read from local files only (`LocalOnlyTransport`),
async calls on httpx with timeouts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from lienthong.errors import PermanentError

DEFAULT_MAX_BYTES = 1_048_576
"""Largest XML document parsed by default (1 MiB)."""
DEFAULT_MAX_DEPTH = 64
"""Deepest element nesting accepted by default (SOAP requests need well under 20)."""
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
"""Namespace of XInclude (2001); elements in it are refused, never processed."""

_DECL = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.IGNORECASE)
_UTF8_NAMES = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
_FORBIDDEN_MARKUP = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")


class XmlRefused(PermanentError):  # noqa: N818 - the caller's document is refused, named as such
    """An XML document broke a rule of the XML kit; the message names the rule, not the content."""


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Caps applied to one document."""

    max_bytes: int = DEFAULT_MAX_BYTES
    """Largest document, in bytes, checked before parsing."""
    max_depth: int = DEFAULT_MAX_DEPTH
    """Deepest element nesting (the root is depth 1)."""


def hardened_parser() -> etree.XMLParser:
    """A new lxml parser that resolves no entity, loads no DTD, reaches no network, refuses huge trees."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def check_encoding(data: bytes) -> bytes:
    """The document as UTF-8 bytes without BOM, or `XmlRefused` for any other encoding."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise XmlRefused(f"XML encoded as {name}: only UTF-8 is accepted")
    body = data.removeprefix(_UTF8_BOM)
    declared = _DECL.match(body[:200])
    if declared is not None:
        name = declared.group(1).decode("ascii").lower()
        if name not in _UTF8_NAMES:
            raise XmlRefused(f"XML declares encoding {name[:20]!r}: only UTF-8 is accepted")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlRefused(f"XML is not valid UTF-8 (byte {exc.start})") from None
    return body


def _max_depth_exceeded(root: etree._Element, max_depth: int) -> bool:
    depth = 0
    for event, _ in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > max_depth:
            return True
    return False


def parse_xml(data: bytes, limits: XmlLimits | None = None) -> etree._Element:
    """Parse an untrusted XML document under every rule of the module docstring; the root element."""
    lim = limits or XmlLimits()
    if len(data) > lim.max_bytes:
        raise XmlRefused(f"XML document larger than {lim.max_bytes} bytes")
    if not data.strip():
        raise XmlRefused("empty XML document")
    body = check_encoding(data)
    if any(marker in body for marker in _FORBIDDEN_MARKUP):
        raise XmlRefused("XML with a DOCTYPE or ENTITY declaration is refused")
    try:
        root = etree.fromstring(body, hardened_parser())
    except etree.XMLSyntaxError as exc:
        reason = "nesting too deep" if "depth" in str(exc).lower() else "not well-formed"
        raise XmlRefused(f"XML is {reason} (line {exc.lineno})") from None
    if root.getroottree().docinfo.doctype:
        raise XmlRefused("XML with a DOCTYPE or ENTITY declaration is refused")
    if _max_depth_exceeded(root, lim.max_depth):
        raise XmlRefused(f"XML nesting deeper than {lim.max_depth} levels")
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{" + XINCLUDE_NS + "}"):
            raise XmlRefused("XInclude elements are refused")
    return root


# -- XSD ---------------------------------------------------------------------------------------


@cache
def load_schema(path: Path) -> etree.XMLSchema:
    """The XSD at `path` (a local file; imports resolve only to local files beside it), compiled once."""
    parser = hardened_parser()
    doc = etree.parse(str(path), parser)
    return etree.XMLSchema(doc)


def schema_from_element(schema_el: etree._Element) -> etree.XMLSchema:
    """Compile an `xsd:schema` element (e.g. the one inlined in a WSDL's `types`)."""
    return etree.XMLSchema(etree.ElementTree(schema_el))


def _path_names(path: str | None) -> str:
    """`/Envelope/Body/GuiKetQuaXuLy/MaHoSo` style path with namespace prefixes dropped."""
    if not path:
        return "?"
    parts = [p.split(":")[-1] for p in path.split("/") if p]
    return "/".join(re.sub(r"\[\d+\]$", "", p) for p in parts[-3:])


_KIND_OF = (
    ("PATTERN", "does not match the required format"),
    ("LENGTH", "has a length outside the allowed range"),
    ("MAXINCLUSIVE", "is above the maximum"),
    ("MININCLUSIVE", "is below the minimum"),
    ("ENUMERATION", "is not one of the allowed values"),
    ("DATATYPE", "has the wrong type"),
    ("COMPLEX_TYPE_2_4", "is missing, unexpected or out of order"),
    ("ELT_1", "is not an expected element"),
)


def _rule(type_name: str) -> str:
    for marker, text in _KIND_OF:
        if marker in type_name:
            return text
    return "is not valid against the schema"


def validate(schema: etree.XMLSchema, element: etree._Element) -> None:
    """Validate `element` (as a document root) against `schema`; `XmlRefused` naming where and which rule.

    libxml2's own messages quote the offending values (personal data); the reason built here names the
    element path and the kind of rule only.
    """
    doc = etree.ElementTree(element)
    if schema.validate(doc):
        return
    errors: Iterable[Any] = schema.error_log
    first = next(iter(errors), None)
    if first is None:
        raise XmlRefused("XML is not valid against the schema")
    raise XmlRefused(f"{_path_names(first.path)} {_rule(first.type_name)}")


# -- zeep (outbound SOAP) ----------------------------------------------------------------------


def zeep_settings() -> Any:
    """zeep settings of every outbound SOAP client: strict, no DTD, no entities, no external references."""
    from zeep import Settings

    return Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False)


def _is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


class LocalOnlyTransport:
    """Factory of zeep's `AsyncTransport` whose WSDL/XSD loading reads local files only.

    Operation calls go through the given `httpx.AsyncClient` (timeouts set there); `load()` of any URL
    with a scheme other than `file` is refused, so a vendored WSDL can never pull in a remote document.
    """

    @staticmethod
    def create(client: httpx.AsyncClient, *, timeout_s: float) -> Any:
        """An `AsyncTransport` on `client` whose `load()` refuses anything but local files."""
        from zeep.transports import AsyncTransport

        class _Transport(AsyncTransport):
            def load(self, url: str) -> bytes:
                if not _is_local(url):
                    raise XmlRefused("WSDL/XSD documents are loaded from local files only")
                path = Path(url.removeprefix("file://"))
                return path.read_bytes()

        wsdl_client = httpx.Client(timeout=timeout_s, transport=httpx.MockTransport(_no_network))
        return _Transport(  # type: ignore[no-untyped-call]
            client=client, wsdl_client=wsdl_client, timeout=timeout_s, operation_timeout=timeout_s
        )


def _no_network(_: httpx.Request) -> httpx.Response:
    raise XmlRefused("WSDL/XSD documents are loaded from local files only")


def local_wsdl_client(wsdl: Path, client: httpx.AsyncClient, *, timeout_s: float, wsse: Any = None) -> Any:
    """A zeep `AsyncClient` for the vendored WSDL at `wsdl`, calling out through `client`."""
    from zeep import AsyncClient

    transport = LocalOnlyTransport.create(client, timeout_s=timeout_s)
    return AsyncClient(  # type: ignore[no-untyped-call]
        str(wsdl), transport=transport, settings=zeep_settings(), wsse=wsse
    )


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "XINCLUDE_NS",
    "LocalOnlyTransport",
    "XmlLimits",
    "XmlRefused",
    "check_encoding",
    "hardened_parser",
    "load_schema",
    "local_wsdl_client",
    "parse_xml",
    "schema_from_element",
    "validate",
    "zeep_settings",
]
