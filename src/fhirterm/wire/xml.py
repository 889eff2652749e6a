"""FHIR XML in and out: the JSON <-> XML mapping of the specification, over lxml.

JSON is the server's form: every answer is built as FHIR JSON dicts, and an
XML request body is read into the same dicts. The mapping between the two is
mechanical (FHIR's xml.html and json.html): primitives are elements with a
``value`` attribute and their ``_name`` companion's ``id`` and
``extension``; ``id`` of an element and ``url`` of an extension are
attributes; a nested resource is wrapped in an element named after its type;
the narrative ``div`` is XHTML. What the mapping needs to know of FHIR - the
element order, which elements repeat, which are primitives of which JSON
type, which hold resources - is read from fhir.resources' models of the
endpoint's release (R5 at /r5, ``fhir.resources.R4B`` at /fhir and /r4:
``elements_sequence`` and the field types), once per type.

Why not the models' own ``model_dump_xml`` / ``model_validate_xml``: measured
on this machine, writing one $lookup answer (25 kB) took 0.5-0.9 s and the
ICD-10-CM CodeSystem read 274 s and 6 GB; reading a 32 kB body 156 ms, so a
body at the size limit would hold a worker for about a minute. This writer
takes milliseconds. The tests parse every kind of XML answer back with
fhir.resources' own XML reader and compare it with the JSON answer.

An element the release does not define, or a value of the wrong JSON type,
is an ``XmlShapeError`` on the way out (the server's fault: the caller turns
it into a 500 OperationOutcome) and an ``InvalidRequest`` on the way in.

XML bodies are parsed by lxml with entity resolution, DTD loading and the
network off; a document with a DOCTYPE is refused outright (FHIR XML has
none; billion-laughs and external-entity attacks live there).
"""

from __future__ import annotations

import math
import re
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import orjson

from ..errors import InvalidRequest, TooCostly

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_REASON_LIMIT = 200  # characters of a client's text quoted back
# A DOCTYPE after the XML declaration, comments and processing instructions. Neither
# may run past its own end (``-->``, ``?>``): with ``.*?`` one could span the next,
# so k comments before a root that is no DOCTYPE were tried in 2^k ways (22 comments,
# 176 bytes, held a worker 2.5 s; 30 would take ten minutes).
_DOCTYPE = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?(?:(?!\?>).)*\?>\s*|<!--(?:(?!-->).)*-->\s*)*<!DOCTYPE", re.S
)
_NO_DOCTYPE = (
    "The XML body has a DOCTYPE; FHIR XML has none, and DTDs and entities are not "
    "processed: send the resource without it"
)
_INTEGER = re.compile(r"[-+]?[0-9]+")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

# kinds of element
PRIMITIVE, COMPLEX, RESOURCE, XHTML = "primitive", "complex", "resource", "xhtml"


class XmlShapeError(ValueError):
    """A body could not be written as FHIR XML: it is not of the release's shape."""


@dataclass(frozen=True, slots=True)
class _Element:
    """One element of a FHIR type as the mapping needs it."""

    name: str
    kind: str  # PRIMITIVE, COMPLEX, RESOURCE or XHTML
    repeats: bool
    json: str  # a primitive's JSON type: "bool", "int", "decimal" or "str"
    model: Any  # the model class of a COMPLEX element
    tag: str  # "{http://hl7.org/fhir}name"


@dataclass(frozen=True, slots=True)
class _Type:
    """A FHIR type: its elements in the order XML writes them."""

    name: str
    elements: dict[str, _Element]
    resource: bool  # a resource: ``id`` is an element, not an attribute
    required: tuple[str, ...]  # elements of minimum cardinality 1
    by_tag: dict[str, _Element]  # "{http://hl7.org/fhir}name" -> element (reading)


def release_name(r5: bool) -> str:
    return "R5" if r5 else "R4"


@cache
def _model_class(r5: bool, resource_type: str) -> Any:
    """The fhir.resources model of a resource type in the release; KeyError when none."""
    if r5:
        from fhir.resources import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    try:
        return get_fhir_model_class(resource_type)
    except Exception:
        raise KeyError(resource_type) from None


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the element's type, whether it repeats) from a field annotation."""
    repeats = False
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (list, typing.List):  # noqa: UP006 - fhir.resources writes typing.List
            repeats, annotation = True, args[0]
        elif origin is typing.Union or origin is types.UnionType:
            annotation = args[0]
        else:
            return annotation, repeats


def _element(name: str, annotation: Any) -> _Element:
    t, repeats = _unwrap(annotation)
    tag = f"{{{FHIR_NS}}}{name}"
    if hasattr(t, "get_model_klass"):  # fhir_core's abc.XType: a complex type or a resource
        model = t.get_model_klass()
        if model.__name__ in ("Resource", "DomainResource"):
            return _Element(name, RESOURCE, repeats, "", None, tag)
        return _Element(name, COMPLEX, repeats, "", model, tag)
    if t is bool:
        return _Element(name, PRIMITIVE, repeats, "bool", None, tag)
    base, meta = (
        (typing.get_args(t)[0], typing.get_args(t)[1:]) if typing.get_origin(t) else (t, ())
    )
    names = {type(m).__name__ for m in meta}
    if "Xhtml" in names:
        return _Element(name, XHTML, repeats, "str", None, tag)
    if base is int and "Integer64" not in names:  # integer64 is a JSON string
        return _Element(name, PRIMITIVE, repeats, "int", None, tag)
    if base is Decimal:
        return _Element(name, PRIMITIVE, repeats, "decimal", None, tag)
    if base is bool:
        return _Element(name, PRIMITIVE, repeats, "bool", None, tag)
    return _Element(name, PRIMITIVE, repeats, "str", None, tag)


@cache
def _type(model: Any) -> _Type:
    """The mapping's view of a fhir.resources model class (built once per class)."""
    fields = {f.alias or n: f for n, f in model.model_fields.items()}
    elements = {n: _element(n, fields[n].annotation) for n in model.elements_sequence()}
    resource = "implicitRules" in elements
    required = tuple(
        n for n in elements if (fields[n].json_schema_extra or {}).get("element_required")
    )
    by_tag = {e.tag: e for e in elements.values()}
    return _Type(model.__name__, elements, resource, required, by_tag)


def _resource_type(r5: bool, resource_type: str) -> _Type:
    return _type(_model_class(r5, resource_type))


# -- out ---------------------------------------------------------------------


def _primitive_text(value: Any, el: _Element, where: str) -> str:
    if el.json == "bool":
        if isinstance(value, bool):
            return "true" if value else "false"
    elif el.json in ("int", "decimal"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return orjson.dumps(value).decode()
    elif isinstance(value, str):
        return value
    raise XmlShapeError(f"{where}: {value!r} is not a FHIR {el.json} value")


def _write(parent: Any, obj: Any, t: _Type, where: str, r5: bool) -> None:
    """Fill the XML element ``parent`` with the JSON object ``obj`` of type ``t``."""
    from lxml import etree

    if not isinstance(obj, dict):
        raise XmlShapeError(f"{where} is not a JSON object")
    for key in obj:
        name = key[1:] if key.startswith("_") else key
        if name not in t.elements and not (t.resource and key == "resourceType"):
            raise XmlShapeError(
                f"{where}.{key} is not an element of FHIR {release_name(r5)} {t.name}"
            )
    for name in t.required:
        if obj.get(name) is None and obj.get("_" + name) is None:
            raise XmlShapeError(
                f"{where}.{name} is required in FHIR {release_name(r5)} {t.name} and missing"
            )
    attributes = ("url",) if t.name == "Extension" else ()
    if not t.resource:
        attributes = ("id", *attributes)
    for a in attributes:
        if a in obj:
            if not isinstance(obj[a], str):
                raise XmlShapeError(f"{where}.{a} is not a string")
            parent.set(a, obj[a])
    for name, el in t.elements.items():
        value, ext = obj.get(name), obj.get("_" + name)
        if (value is None and ext is None) or name in attributes:
            continue
        at = f"{where}.{name}"
        if el.repeats:
            if not isinstance(value if value is not None else ext, list):
                raise XmlShapeError(f"{at} must be an array")
            values = value if isinstance(value, list) else [None] * len(ext or ())
            exts = ext if isinstance(ext, list) else [None] * len(values)
            if len(exts) != len(values):
                raise XmlShapeError(f"{at} and _{name} differ in length")
        else:
            if isinstance(value, list):
                raise XmlShapeError(f"{at} must not be an array")
            values, exts = [value], [ext]
        for i, (v, x) in enumerate(zip(values, exts, strict=True)):
            here = f"{at}[{i}]" if el.repeats else at
            if el.kind == XHTML:
                _write_xhtml(parent, v, here)
                continue
            child = etree.SubElement(parent, el.tag)
            if el.kind == PRIMITIVE:
                if v is not None:
                    child.set("value", _primitive_text(v, el, here))
                if x is not None:
                    _write(child, x, _type(_element_model(r5)), f"{where}._{name}", r5)
                elif v is None:
                    raise XmlShapeError(f"{here} has neither a value nor an extension")
            elif el.kind == COMPLEX:
                _write(child, v, _type(el.model), here, r5)
            else:
                _write_resource(child, v, here, r5)


@cache
def _element_model(r5: bool) -> Any:
    """The model of a primitive's ``_name`` companion (id and extension)."""
    import importlib

    return importlib.import_module(f"fhir.resources{'' if r5 else '.R4B'}.element").Element


def _write_resource(parent: Any, obj: Any, where: str, r5: bool) -> Any:
    """Write the resource ``obj`` into ``parent`` (None: as the root element); returns it."""
    from lxml import etree

    rt = obj.get("resourceType") if isinstance(obj, dict) else None
    try:
        t = _resource_type(r5, rt) if isinstance(rt, str) else None
    except KeyError:
        t = None
    if t is None:
        raise XmlShapeError(f"{where} is not a FHIR {release_name(r5)} resource ({rt!r})")
    tag = f"{{{FHIR_NS}}}{rt}"
    if parent is None:
        el = etree.Element(tag, nsmap={None: FHIR_NS})
    else:
        el = etree.SubElement(parent, tag)
    _write(el, obj, t, str(rt), r5)
    return el


def _write_xhtml(parent: Any, value: Any, where: str) -> None:
    from lxml import etree

    if not isinstance(value, str):
        raise XmlShapeError(f"{where} is not a string")
    try:
        div = etree.fromstring(value.encode(), parser=_parser())
    except etree.XMLSyntaxError as e:
        raise XmlShapeError(f"{where} is not well-formed XHTML: {e}") from None
    if div.tag != f"{{{XHTML_NS}}}div":
        raise XmlShapeError(f"{where} is not an XHTML div")
    parent.append(div)


def dumps(body: dict[str, Any], r5: bool, pretty: bool = False) -> bytes:
    """``body`` (FHIR JSON) as FHIR XML of the endpoint's release, UTF-8 with a declaration.

    XmlShapeError when the body holds what the release does not define.
    """
    from lxml import etree

    try:
        root = _write_resource(None, body, "body", r5)
        out: bytes = etree.tostring(
            root, xml_declaration=True, encoding="utf-8", pretty_print=pretty
        )
    except ValueError as e:  # characters XML cannot carry (lxml checks every string)
        if isinstance(e, XmlShapeError):
            raise
        raise XmlShapeError(f"a string XML cannot carry: {e}") from None
    return out


# -- in ----------------------------------------------------------------------


def _parser() -> Any:
    from lxml import etree

    # A new parser per document: lxml parsers are not safe to share across threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_LIMIT else text[:_REASON_LIMIT] + "..."


def _json_value(text: str, el: _Element, where: str) -> Any:
    """The JSON value of a primitive's ``value`` attribute; InvalidRequest when not of its type."""
    if el.json == "bool":
        if text in ("true", "false"):
            return text == "true"
    elif el.json == "int":
        # FHIR integers are 32-bit; the length check comes first, so no huge number is converted
        if len(text) <= 11 and _INTEGER.fullmatch(text) and -(2**31) <= int(text) < 2**31:
            return int(text)
    elif el.json == "decimal":
        if _DECIMAL.fullmatch(text):
            if _INTEGER.fullmatch(text) and len(text) <= 18:
                return int(text)
            value = float(text)
            if math.isfinite(value):
                return value
    else:
        return text
    raise InvalidRequest(f"{where}: '{_quote(text)}' is not a FHIR {el.json} value")


def _local(node: Any, where: str) -> str:
    from lxml import etree

    q = etree.QName(node)
    if q.namespace != FHIR_NS:
        raise InvalidRequest(
            f"{where}: element <{_quote(q.localname)}> is not in the FHIR namespace ({FHIR_NS})"
        )
    return str(q.localname)


def _read(node: Any, t: _Type, where: str, r5: bool) -> dict[str, Any]:
    """The JSON object of the XML element ``node`` of type ``t``."""
    out: dict[str, Any] = {}
    allowed = ("url",) if t.name == "Extension" else ()
    if not t.resource:
        allowed = ("id", *allowed)
    # Names first, values of the allowed ones after: lxml's ``attrib.items()`` looks each
    # value up by name, quadratic in the attributes (50,000 in a 540 kB body took 11 s).
    for a in node.keys():  # noqa: SIM118 - iterating an lxml element gives its children
        if a not in allowed:
            raise InvalidRequest(f"{where}: attribute '{_quote(str(a))}' is not allowed here")
        out[a] = node.get(a)
    if node.text and node.text.strip():
        raise InvalidRequest(f"{where}: text content is not allowed (use value attributes)")
    values: dict[str, list[Any]] = {}
    exts: dict[str, list[Any]] = {}
    for child in node:
        if child.tail and child.tail.strip():
            raise InvalidRequest(f"{where}: text content is not allowed (use value attributes)")
        if t.name == "Narrative" and child.tag == f"{{{XHTML_NS}}}div":
            from lxml import etree

            values.setdefault("div", []).append(etree.tostring(child, encoding=str))
            continue
        el = t.by_tag.get(child.tag)
        if el is None or el.name in allowed:
            name = _local(child, where)  # says what is wrong: the namespace or the name
            raise InvalidRequest(
                f"{where}: <{_quote(name)}> is not an element of FHIR {release_name(r5)} {t.name}"
            )
        name = el.name
        here = f"{where}.{name}"
        if el.kind == PRIMITIVE:
            if child.text and child.text.strip():
                raise InvalidRequest(
                    f"{here}: text content is not allowed (FHIR XML puts it in a value attribute)"
                )
            text = child.get("value")
            values.setdefault(name, []).append(
                None if text is None else _json_value(text, el, here)
            )
            x = None
            if len(child) or len(child.attrib) > (text is not None):
                x = _read_primitive_ext(child, here, r5)
            if text is None and x is None:
                raise InvalidRequest(f"{here} has neither a value nor an extension")
            exts.setdefault(name, []).append(x)
        elif el.kind == COMPLEX:
            values.setdefault(name, []).append(_read(child, _type(el.model), here, r5))
        elif el.kind == RESOURCE:
            inner = list(child)
            if len(inner) != 1:
                raise InvalidRequest(f"{here} must hold exactly one resource")
            values.setdefault(name, []).append(_read_resource(inner[0], here, r5))
        else:
            raise InvalidRequest(f"{here} must be an XHTML div")
    for name, vs in values.items():
        el = t.elements[name]
        if not el.repeats and len(vs) > 1:
            raise InvalidRequest(f"{where}.{name} appears {len(vs)} times; it does not repeat")
        out[name] = vs if el.repeats else vs[0]
        xs = exts.get(name)
        if xs and any(x is not None for x in xs):
            out["_" + name] = xs if el.repeats else xs[0]
            if all(v is None for v in vs):
                del out[name]
    return out


def _read_primitive_ext(node: Any, where: str, r5: bool) -> dict[str, Any] | None:
    """The ``_name`` companion of a primitive element: its ``id`` and extensions."""
    t = _type(_element_model(r5))
    out: dict[str, Any] = {}
    for a in node.keys():  # noqa: SIM118 - names only (see ``_read``)
        if a == "value":
            continue
        if a != "id":
            raise InvalidRequest(f"{where}: attribute '{_quote(str(a))}' is not allowed here")
        out["id"] = node.get(a)
    ext = [
        _read(child, _type(t.elements["extension"].model), f"{where}.extension", r5)
        for child in node
        if _local(child, where) == "extension"
    ]
    if len(ext) != len(node):
        raise InvalidRequest(f"{where}: a primitive holds only extension elements")
    if ext:
        out["extension"] = ext
    return out or None


def _read_resource(node: Any, where: str, r5: bool) -> dict[str, Any]:
    rt = _local(node, where)
    try:
        t = _resource_type(r5, rt)
    except KeyError:
        raise InvalidRequest(
            f"{where}: <{_quote(rt)}> is not a FHIR {release_name(r5)} resource"
        ) from None
    out = {"resourceType": rt}
    out.update(_read(node, t, rt, r5))
    return out


def loads(data: bytes, r5: bool, max_elements: int | None = None) -> dict[str, Any]:
    """An XML request body as FHIR JSON dicts; InvalidRequest saying what is wrong with it.

    TooCostly when it has more than ``max_elements`` start tags (None: no limit), before
    it is parsed: a parsed element costs ~120 bytes and reading it a few microseconds
    (a 10 MB body can hold 1.4 million: 3 s, and a worker 170 MB larger after).
    """
    from lxml import etree

    if _DOCTYPE.match(data):
        raise InvalidRequest(_NO_DOCTYPE)
    if max_elements is not None:
        _check_elements(data, max_elements)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as e:
        raise InvalidRequest(f"The body is not well-formed XML: {_quote(str(e))}") from None
    if root is None:
        raise InvalidRequest("The body is not an XML document; send a FHIR XML resource")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise InvalidRequest(_NO_DOCTYPE)
    q = etree.QName(root)
    if q.namespace != FHIR_NS:
        raise InvalidRequest(
            f"The XML root element <{_quote(str(q.localname))}> is not in the FHIR namespace; "
            f'expected <{_quote(str(q.localname))} xmlns="{FHIR_NS}">'
        )
    return _read_resource(root, "body", r5)


def _check_elements(data: bytes, most: int) -> None:
    # Every element has a start tag, and '<' cannot stand unescaped in text or in
    # attribute values: the '<' that do not begin an end tag bound the elements from
    # above (comments, processing instructions and CDATA count too). ~1 ms a MB.
    if data.count(b"<") - data.count(b"</") > most:
        raise TooCostly(
            f"The XML body has more than {most:,} elements, the most this server reads in "
            "one body (FHIRTERM_XML_MAX_ELEMENTS); send fewer resources or concepts in one "
            "request, or send the body as FHIR JSON, which costs less to read"
        )
