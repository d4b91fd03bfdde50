"""The SOAP hot path: one operation's envelope built and its answer read with lxml directly, from
a plan compiled out of zeep's reading of the WSDL at onboarding (zeep costs 5-6 ms of client CPU
a call, this about 1 ms: docs/adapters.md).

A plan follows zeep's own rules, so the payer receives the same envelope: document/literal
SOAP 1.1, the body element and its children in the schema's order and namespaces (prefixes as
lxml gives them, ``soap-env`` for the envelope), an absent optional element left out, a required
nillable one sent as ``xsi:nil``, an unknown field refused; ``SOAPAction`` quoted. Answers are
read as zeep reads them (elements taken in the schema's order by local name, absent ones None or
[], text converted by the schema's type, a one-child wrapper unwrapped; what zeep keeps of unknown
elements, ``_raw_elements``, is left out: no SDK message reads it). An operation of any other
shape (rpc style, SOAP 1.2, attributes, choices, headers, other simple types) has no plan: zeep
sends it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from zeep.wsdl.bindings.soap import Soap11Binding
from zeep.wsdl.messages.soap import DocumentMessage
from zeep.xsd import ComplexType, Element, Sequence
from zeep.xsd.types import builtins

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
ENVELOPE, BODY, FAULT = f"{{{SOAP_ENV}}}Envelope", f"{{{SOAP_ENV}}}Body", f"{{{SOAP_ENV}}}Fault"


class Unsupported(Exception):
    """An operation's shape the lean path does not build (zeep sends it instead)."""


class WrongShape(Exception):
    """A request that does not fit the operation's schema (zeep raises TypeError or ValidationError)."""


class Garbled(Exception):
    """An answer that is no SOAP envelope."""


@dataclass(frozen=True, slots=True)
class Fault:
    code: str | None
    message: str | None


def _boolean_text(value: Any) -> str:
    return "true" if value and value not in ("false", "0") else "false"


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _boolean(text: str) -> bool:
    return text.strip() in ("true", "1")


# zeep's builtin types the plans carry: (xmlvalue, pythonvalue) as zeep's own; Integer covers its
# subclasses (int, long, short, ...), checked before Decimal, its base
SIMPLE: tuple[tuple[type, Callable[[Any], str], Callable[[str], Any]], ...] = (
    (builtins.String, _text, lambda text: text),
    (builtins.Boolean, _boolean_text, _boolean),
    (builtins.Integer, str, lambda text: int(" ".join(text.split()))),
    (builtins.Double, str, lambda text: float(" ".join(text.split()))),
)


@dataclass(frozen=True, slots=True)
class Node:
    """One element of a message: a simple value or a sequence of child elements."""

    name: str
    tag: str  # Clark notation, as zeep's qname
    many: bool
    optional: bool
    nillable: bool
    children: tuple[Node, ...] = ()
    write: Callable[[Any], str] | None = None  # simple: python → text
    read: Callable[[str], Any] | None = None  # simple: text → python

    def render(self, parent: etree._Element, value: Any) -> None:
        if self.many and isinstance(value, list):
            for item in value:
                self._one(parent, item)
        else:
            self._one(parent, value)

    def _one(self, parent: etree._Element, value: Any) -> None:
        if value is None:
            if self.optional:
                return
            if not self.nillable:
                raise WrongShape(f"missing element {self.name}")
            etree.SubElement(parent, self.tag).set(XSI_NIL, "true")
            return
        node = etree.SubElement(parent, self.tag)
        if self.write is not None:
            node.text = self.write(value)
            return
        if not isinstance(value, dict):
            raise WrongShape(f"{self.name}: expected a mapping, got {type(value).__name__}")
        known = {child.name for child in self.children}
        unknown = set(value) - known
        if unknown:
            raise WrongShape(f"{self.name}: unexpected fields {', '.join(sorted(unknown))}")
        for child in self.children:
            child.render(node, value.get(child.name))

    def parse(self, node: etree._Element) -> Any:
        if node.get(XSI_NIL) in ("true", "1"):
            return None
        if self.read is not None:
            if node.text is None:
                return None
            try:
                return self.read(node.text)
            except (TypeError, ValueError):
                return None  # zeep logs and answers None; the decision's checks refuse it
        # zeep's order: each schema element takes the matching elements at the front, in turn;
        # what is left over (an element the schema does not know, or out of order) is skipped
        queue = deque(child for child in node if isinstance(child.tag, str))
        result: dict[str, Any] = {}
        for child_node in self.children:
            values = []
            while queue and etree.QName(queue[0]).localname == child_node.name:
                values.append(child_node.parse(queue.popleft()))
                if not child_node.many:
                    break
            if not values and queue and not child_node.optional:
                raise Garbled(
                    f"{self.name}: {etree.QName(queue[0]).localname} where {child_node.name} belongs"
                )
            result[child_node.name] = values if child_node.many else (values[0] if values else None)
        return result


def _node(element: Element, depth: int = 0) -> Node:
    if depth > 20:
        raise Unsupported(f"{element.name}: nested too deeply (recursive type?)")
    if not isinstance(element, Element):
        raise Unsupported(f"{getattr(element, 'name', element)!r} is not a plain element")
    bound = element.max_occurs
    many = bound == "unbounded" or (isinstance(bound, int) and bound > 1)
    common = {
        "name": element.attr_name if depth else element.name,  # a child's key, as zeep's
        "tag": element.qname.text,
        "many": many,
        "optional": element.min_occurs == 0,
        "nillable": bool(element.nillable),
    }
    kind = element.type
    if isinstance(kind, ComplexType):
        if kind.attributes or not isinstance(kind._element, Sequence | type(None)):
            raise Unsupported(f"{element.name}: attributes or a choice/all/any (not a plain sequence)")
        children = []
        for item in kind._element or ():
            if not isinstance(item, Element):
                raise Unsupported(f"{element.name}: {type(item).__name__} in its sequence")
            children.append(_node(item, depth + 1))
        return Node(**common, children=tuple(children))
    for simple, write, read in SIMPLE:
        if isinstance(kind, simple):
            return Node(**common, write=write, read=read)
    raise Unsupported(f"{element.name}: simple type {type(kind).__name__}")


@dataclass(frozen=True, slots=True)
class Plan:
    """How to send one operation and read its answer without zeep."""

    name: str
    address: str
    soap_action: str  # the header's value, quoted as zeep quotes it
    request: Node
    response: Node | None

    def envelope(self, arguments: dict[str, Any]) -> bytes:
        envelope = etree.Element(ENVELOPE, nsmap={"soap-env": SOAP_ENV})
        body = etree.SubElement(envelope, BODY)
        self.request.render(body, arguments)
        return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))

    def answer(self, root: etree._Element) -> Any:
        """The result as zeep's ``serialize_object`` gives it: a one-child wrapper unwrapped."""
        body = root.find(BODY)
        children = [] if body is None else [c for c in body if isinstance(c.tag, str)]
        if self.response is None or not children:
            return None
        result = self.response.parse(children[0])
        if isinstance(result, dict) and len(self.response.children) == 1:
            return result[self.response.children[0].name]
        return result


def compile_plan(binding: Any, name: str, address: str, custom_prefixes: bool) -> Plan:
    """The operation's plan, or Unsupported saying why it has none."""
    if not isinstance(binding, Soap11Binding):
        raise Unsupported(f"{name}: not a SOAP 1.1 binding")
    if custom_prefixes:
        raise Unsupported(f"{name}: the client sets namespace prefixes of its own")
    operation = binding._operations.get(name)
    if operation is None:
        raise Unsupported(f"{name}: not in the binding")
    if operation.style != "document" or not isinstance(operation.input, DocumentMessage):
        raise Unsupported(f"{name}: {operation.style} style")
    if operation.abstract.wsa_action:
        raise Unsupported(f"{name}: WS-Addressing")
    for message in (operation.input, operation.output):
        if message is None:
            continue
        if message.body is None or message._is_body_wrapped:
            raise Unsupported(f"{name}: no single body part")
        if message.header is not None and message.header.type.elements:
            raise Unsupported(f"{name}: SOAP headers")
    assert operation.input.body is not None  # checked above
    request = _node(operation.input.body)
    if not request.children and request.write is not None:
        raise Unsupported(f"{name}: a simple-typed body")
    response = _node(operation.output.body) if operation.output is not None else None
    action = f'"{operation.soapaction}"' if operation.soapaction else '""'
    return Plan(name, address, action, request, response)


def parse_xml(content: bytes) -> etree._Element:
    """The answer's document, parsed as zeep parses it when not strict (recovering what it can,
    no entities resolved, none declared)."""
    parser = etree.XMLParser(remove_comments=True, resolve_entities=False, recover=True, no_network=True)
    try:
        root = etree.fromstring(content, parser=parser)
    except (etree.XMLSyntaxError, ValueError) as error:
        raise Garbled(f"the answer is not valid XML ({error})") from None
    if root is None:
        raise Garbled("the answer is empty")
    docinfo = root.getroottree().docinfo
    for dtd in (docinfo.internalDTD, docinfo.externalDTD):
        if dtd is not None and any(True for _ in dtd.iterentities()):
            raise Garbled("the answer declares entities")
    return root


def envelope_of(root: etree._Element) -> etree._Element:
    if root.tag != ENVELOPE:  # zeep's words
        raise Garbled(
            f"The XML returned by the server does not contain a valid {ENVELOPE} root element. "
            f"The root element found is {root.tag} "
        )
    return root


def fault_of(root: etree._Element) -> Fault | None:
    """The body's Fault as zeep reads it (unqualified faultcode and faultstring)."""
    node = root.find(f"{BODY}/{FAULT}")
    if node is None:
        return None
    return Fault(node.findtext("faultcode"), node.findtext("faultstring"))
