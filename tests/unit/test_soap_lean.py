"""The lean SOAP plans against zeep on a WSDL of their own (no server): the same envelope bytes,
the same reading of an answer, the shapes they do not build left to zeep and said once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from zeep.helpers import serialize_object

from adapters import soap_lean
from adapters.soap import SoapAdapter

WSDL = """<?xml version="1.0" encoding="utf-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tns="urn:shapes" targetNamespace="urn:shapes">
  <types>
    <xs:schema targetNamespace="urn:shapes" elementFormDefault="qualified">
      <xs:complexType name="Item"><xs:sequence>
        <xs:element name="code" type="xs:string"/>
        <xs:element name="count" type="xs:integer" minOccurs="0"/>
        <xs:element name="ok" type="xs:boolean" minOccurs="0"/>
        <xs:element name="ratio" type="xs:double" minOccurs="0"/>
        <xs:element name="note" type="xs:string" nillable="true"/>
        <xs:element name="tags" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence></xs:complexType>
      <xs:element name="Plain"><xs:complexType><xs:sequence>
        <xs:element name="item" type="tns:Item" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence></xs:complexType></xs:element>
      <xs:element name="PlainResponse"><xs:complexType><xs:sequence>
        <xs:element name="result" type="tns:Item" minOccurs="0"/>
      </xs:sequence></xs:complexType></xs:element>
      <xs:element name="Stamped"><xs:complexType><xs:sequence>
        <xs:element name="at" type="xs:dateTime"/>
      </xs:sequence></xs:complexType></xs:element>
      <xs:element name="StampedResponse"><xs:complexType><xs:sequence/></xs:complexType></xs:element>
    </xs:schema>
  </types>
  <message name="PlainIn"><part name="parameters" element="tns:Plain"/></message>
  <message name="PlainOut"><part name="parameters" element="tns:PlainResponse"/></message>
  <message name="StampedIn"><part name="parameters" element="tns:Stamped"/></message>
  <message name="StampedOut"><part name="parameters" element="tns:StampedResponse"/></message>
  <message name="RpcIn"><part name="key" type="xs:string"/></message>
  <message name="RpcOut"><part name="status" type="xs:string"/></message>
  <portType name="Shapes">
    <operation name="Plain"><input message="tns:PlainIn"/><output message="tns:PlainOut"/></operation>
    <operation name="Stamped"><input message="tns:StampedIn"/><output message="tns:StampedOut"/></operation>
    <operation name="Rpc"><input message="tns:RpcIn"/><output message="tns:RpcOut"/></operation>
  </portType>
  <binding name="ShapesBinding" type="tns:Shapes">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http" style="document"/>
    <operation name="Plain"><soap:operation soapAction="urn:shapes#Plain"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>
    <operation name="Stamped"><soap:operation soapAction=""/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>
    <operation name="Rpc"><soap:operation soapAction="Rpc" style="rpc"/>
      <input><soap:body use="literal" namespace="urn:shapes"/></input>
      <output><soap:body use="literal" namespace="urn:shapes"/></output></operation>
  </binding>
  <service name="ShapesService">
    <port name="ShapesPort" binding="tns:ShapesBinding">
      <soap:address location="http://127.0.0.1:9/shapes"/></port>
  </service>
</definitions>
"""
OPERATIONS = {
    "deliver_assessment": "Plain",
    "submit_share": "Stamped",  # an xs:dateTime: not a type the plans convert
    "fetch_decision": "Rpc",  # rpc style
    "submit_adjustment": "Plain",
    "submit_void": "Missing",  # not in the binding
}
ANSWER = b"""<?xml version="1.0"?>
<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>
<s:PlainResponse xmlns:s="urn:shapes" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><s:result>
  <s:code>c &amp; d</s:code><s:count> 12 </s:count><s:ok>1</s:ok><s:ratio>not a number</s:ratio>
  <s:note xsi:nil="true"/><s:tags>t1</s:tags><s:extra>ignored</s:extra><s:tags>t2</s:tags>
</s:result></s:PlainResponse></e:Body></e:Envelope>"""


@pytest.fixture
def adapter(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Any:
    (tmp_path / "shapes.wsdl").write_text(WSDL, encoding="utf-8")
    config = {"type": "soap", "wsdl": str(tmp_path / "shapes.wsdl"), "operations": OPERATIONS}
    adapter = SoapAdapter("shapes", config)
    with caplog.at_level(logging.WARNING, logger="ltc_gateway.payers"):
        client = asyncio.run(adapter.client())
        asyncio.run(adapter.client())  # read once: nothing said again
    return adapter, client


def test_shapes_the_plans_do_not_build_stay_with_zeep_and_are_said_once(
    adapter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lean, _ = adapter
    assert set(lean.plans) == {"deliver_assessment", "submit_adjustment"}
    said = [r.getMessage() for r in caplog.get_records("setup") if r.name == "ltc_gateway.payers"]
    assert len(said) == 3 and all("is sent through zeep" in line for line in said), said
    assert any("Stamped" in s and "DateTime" in s for s in said) and any("rpc style" in s for s in said)


def test_a_plan_builds_zeep_s_envelope_and_reads_an_answer_as_zeep_does(adapter: Any) -> None:
    lean, client = adapter
    plan = lean.plans["deliver_assessment"]
    arguments = {
        "item": [
            {"code": "甲<&>", "count": 3, "ok": True, "ratio": 0.1, "note": None, "tags": ["a", "b"]},
            {"code": "x", "count": None, "ok": "false", "ratio": None, "note": "n", "tags": []},
        ]
    }
    zeep = client.service._binding._operations["Plain"]
    serialized = zeep.input.serialize(**arguments)
    expected = etree.tostring(serialized.content, xml_declaration=True, encoding="utf-8")
    assert plan.envelope(arguments) == expected
    assert plan.soap_action == serialized.headers["SOAPAction"] == '"urn:shapes#Plain"'
    theirs = serialize_object(zeep.process_reply(etree.fromstring(ANSWER)), dict)
    assert [etree.QName(e).localname for e in theirs.pop("_raw_elements")] == ["extra", "tags"]
    ours = plan.answer(soap_lean.envelope_of(soap_lean.parse_xml(ANSWER)))
    assert (
        ours
        == theirs
        == {"code": "c & d", "count": 12, "ok": True, "ratio": None, "note": None, "tags": ["t1"]}
    )
    with pytest.raises(TypeError):  # zeep refuses a field the schema does not have; so does the plan
        zeep.input.serialize(item=[{"code": "x", "colour": "red"}])
    with pytest.raises(soap_lean.WrongShape, match="colour"):
        plan.envelope({"item": [{"code": "x", "colour": "red"}]})
