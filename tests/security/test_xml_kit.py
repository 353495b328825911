"""The XML kit refuses every attack class, fast, without reading files or the network."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree

from lienthong.connectors.xml import (
    LocalOnlyTransport,
    XmlLimits,
    XmlRefused,
    load_schema,
    parse_xml,
    validate,
)
from lienthong.connectors.xml_attacks import attack_corpus

CORPUS = attack_corpus()
GOOD = (
    b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soap:Body><x>Nguy\xe1\xbb\x85n</x></soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_attack_class_is_refused_within_a_second(name: str) -> None:
    started = time.monotonic()
    with pytest.raises(XmlRefused):
        parse_xml(CORPUS[name])
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("name", ["xxe_file", "xxe_network", "billion_laughs", "quadratic_blowup", "external_dtd"])
def test_documents_with_a_doctype_are_refused_naming_the_rule(name: str) -> None:
    with pytest.raises(XmlRefused, match="DOCTYPE"):
        parse_xml(CORPUS[name])


def test_a_file_entity_is_never_read_even_by_the_raw_parser_settings(tmp_path: Path) -> None:
    # Below the DOCTYPE pre-check: the parser options alone must not expand an external entity.
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    from lienthong.connectors.xml import hardened_parser

    doc = f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode()
    root = etree.fromstring(doc, hardened_parser())
    assert b"TOPSECRET" not in etree.tostring(root)


def test_the_raw_parser_settings_do_not_expand_internal_entities() -> None:
    from lienthong.connectors.xml import hardened_parser

    root = etree.fromstring(b'<!DOCTYPE r [<!ENTITY a "AAAA">]><r>&a;&a;</r>', hardened_parser())
    assert "AAAA" not in etree.tostring(root).decode()


def test_xinclude_is_refused_and_never_processed() -> None:
    with pytest.raises(XmlRefused, match="XInclude"):
        parse_xml(CORPUS["xinclude"])


def test_nesting_beyond_the_cap_is_refused_below_libxml2s_own_limit() -> None:
    doc = b"<a>" * 65 + b"</a>" * 65
    with pytest.raises(XmlRefused, match="deeper than 64"):
        parse_xml(doc)
    parse_xml(b"<a>" * 64 + b"</a>" * 64)


def test_ten_thousand_levels_are_refused() -> None:
    with pytest.raises(XmlRefused, match="deep"):
        parse_xml(CORPUS["deep_nesting"])


def test_the_size_cap_applies_before_parsing() -> None:
    with pytest.raises(XmlRefused, match="larger than 100 bytes"):
        parse_xml(b"<a>" + b"x" * 200 + b"</a>", XmlLimits(max_bytes=100))


def test_a_declared_latin1_document_is_refused_cleanly() -> None:
    with pytest.raises(XmlRefused, match="iso-8859-1"):
        parse_xml(CORPUS["non_utf8_encoding"])


def test_a_utf16_document_is_refused_cleanly() -> None:
    with pytest.raises(XmlRefused, match="UTF-16"):
        parse_xml(CORPUS["utf16_bom"])


def test_undeclared_invalid_utf8_is_refused() -> None:
    with pytest.raises(XmlRefused, match="not valid UTF-8"):
        parse_xml(b"<a>\xff\xfe</a>")


def test_a_utf8_document_with_vietnamese_text_parses() -> None:
    root = parse_xml(GOOD)
    assert root[0][0].text == "Nguyễn"


def test_a_utf8_bom_is_accepted() -> None:
    assert parse_xml(b"\xef\xbb\xbf<a>1</a>").text == "1"


def test_malformed_xml_is_refused_without_echoing_content() -> None:
    with pytest.raises(XmlRefused) as info:
        parse_xml(b"<a>001099012345</b>")
    assert "001099012345" not in str(info.value)


def test_schema_errors_name_the_element_and_rule_but_not_the_value(tmp_path: Path) -> None:
    xsd = tmp_path / "s.xsd"
    xsd.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="SoDinhDanh">'
        '<xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="[0-9]{12}"/></xs:restriction>'
        "</xs:simpleType></xs:element></xs:schema>"
    )
    schema = load_schema(xsd)
    validate(schema, parse_xml(b"<SoDinhDanh>001099012345</SoDinhDanh>"))
    with pytest.raises(XmlRefused) as info:
        validate(schema, parse_xml(b"<SoDinhDanh>Nguyen Van A 0010990</SoDinhDanh>"))
    assert "SoDinhDanh" in str(info.value)
    assert "format" in str(info.value)
    assert "Nguyen" not in str(info.value)
    assert "0010990" not in str(info.value)


async def test_zeep_transport_refuses_to_load_a_remote_wsdl() -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        transport = LocalOnlyTransport.create(client, timeout_s=1)
        with pytest.raises(XmlRefused, match="local files only"):
            transport.load("http://127.0.0.1:9/service?wsdl")


def test_zeep_settings_forbid_dtds_entities_and_external_references() -> None:
    from lienthong.connectors.xml import zeep_settings

    s = zeep_settings()
    assert (s.strict, s.forbid_dtd, s.forbid_entities, s.forbid_external) == (True, True, True, True)
