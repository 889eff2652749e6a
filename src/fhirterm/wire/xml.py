"""FHIR XML in and out, through fhir.resources' own serialiser (fhir_core, lxml).

JSON is the server's form: every answer is built as FHIR JSON dicts. An XML
answer is that body validated as the fhir.resources model of the endpoint's
release (R5 models at /r5, ``fhir.resources.R4B`` at /fhir and /r4: the R4B
models are the maintained R4-family ones) and written by the model's
``model_dump_xml``, so element order, primitives as ``value`` attributes,
``_element`` extensions and nested resources follow the XML rules of the
specification without a second hand-written mapping. A body the model
rejects is the server's fault: ``XmlShapeError`` says what failed.

An XML request body is parsed with an lxml parser that resolves no entities,
loads no DTD, reads no file and touches no network; a document with a
DOCTYPE is refused outright (FHIR XML has none; this is where billion-laughs
and external-entity attacks live). It is then validated as the model of its
root element and handed on as the same FHIR JSON dicts a JSON body gives.

fhir.resources is imported on first use, so a server that never sees XML
never loads it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import orjson

from ..errors import InvalidRequest

FHIR_NS = "http://hl7.org/fhir"
_REASON_LIMIT = 400  # characters of a validation message quoted back
# a DOCTYPE after the XML declaration, comments and processing instructions
_DOCTYPE = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*)*<!DOCTYPE", re.S)


_NO_DOCTYPE = (
    "The XML body has a DOCTYPE; FHIR XML has none, and DTDs and entities are not "
    "processed: send the resource without it"
)


class XmlShapeError(Exception):
    """A body could not be written as FHIR XML: it is not valid for the release's model."""


@cache
def _models(r5: bool) -> Any:
    """``get_fhir_model_class`` of the release: R5 models, or R4B for the R4 endpoints."""
    if r5:
        from fhir.resources import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    return get_fhir_model_class


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


def _reason(e: Exception) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= _REASON_LIMIT else text[:_REASON_LIMIT] + "..."


def release_name(r5: bool) -> str:
    return "R5" if r5 else "R4"


def dumps(body: dict[str, Any], r5: bool, pretty: bool = False) -> bytes:
    """``body`` (FHIR JSON) as FHIR XML of the endpoint's release, UTF-8 with a declaration.

    XmlShapeError when the body is not valid for the release's model.
    """
    rt = body.get("resourceType", "")
    try:
        model = _models(r5)(rt).model_validate(body)
        out = model.model_dump_xml(pretty_print=pretty)
    except Exception as e:  # pydantic's ValidationError, fhir_core's KeyError for a type...
        raise XmlShapeError(
            f"{rt or 'The body'} is not valid for the FHIR {release_name(r5)} model: {_reason(e)}"
        ) from e
    return out if isinstance(out, bytes) else str(out).encode()


def loads(data: bytes, r5: bool) -> dict[str, Any]:
    """An XML request body as FHIR JSON dicts; InvalidRequest saying what is wrong with it."""
    from lxml import etree

    if _DOCTYPE.match(data):
        raise InvalidRequest(_NO_DOCTYPE)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as e:
        raise InvalidRequest(f"The body is not well-formed XML: {_reason(e)}") from None
    if root is None:
        raise InvalidRequest("The body is not an XML document; send a FHIR XML resource")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None:
        raise InvalidRequest(_NO_DOCTYPE)
    qname = etree.QName(root)
    if qname.namespace != FHIR_NS:
        raise InvalidRequest(
            f"The XML root element '{_reason(ValueError(root.tag))}' is not in the FHIR "
            f'namespace; expected <{qname.localname} xmlns="{FHIR_NS}">'
        )
    try:
        cls = _models(r5)(qname.localname)
    except Exception:
        raise InvalidRequest(
            f"'{_reason(ValueError(qname.localname))}' is not a FHIR {release_name(r5)} resource"
        ) from None
    try:
        model = cls.model_validate_xml(etree.tostring(root), xmlparser=_parser())
    except Exception as e:
        raise InvalidRequest(
            f"The XML body is not a valid FHIR {release_name(r5)} {qname.localname}: {_reason(e)}"
        ) from None
    parsed: dict[str, Any] = orjson.loads(model.model_dump_json())
    return parsed
