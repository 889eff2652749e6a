"""The shape check of every FHIR response the tests see: valid in its FHIR release, no empties.

A body served under ``/fhir`` or ``/r4`` must parse as the fhir.resources R4B model of its
resourceType, one under ``/r5`` as the R5 model. fhir.resources 8 has no R4 (4.0.1)
package; R4B (4.3.0) stands in for it: for the resources this server sends (CodeSystem,
ValueSet, ConceptMap, Parameters, OperationOutcome, Bundle, CapabilityStatement,
TerminologyCapabilities) R4B has the same elements as R4 (compared with the R4 models of
fhir.resources 6.5), so an R5-only element is still caught at ``/r4``.

The models accept empty arrays and objects, which FHIR JSON forbids ("empty objects,
arrays, null values and empty strings are not allowed", FHIR JSON page, section 2.6.2):
``empties`` finds those.

An XML body (``application/fhir+xml``) must parse as the same model through fhir.resources'
own XML reader (``model_validate_xml``), and what it reads must hold no empties either.

``conftest.py`` runs ``check`` on every FHIR response of the Flask test client and of
``requests`` (live servers: the conformance runner, the sync client libraries), so a test
that meets an invalid body fails there, naming the request and the error. A test whose
servers are stand-ins (marked ``not_fhirterm``) is left alone.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fhir.resources import get_fhir_model_class as r5_model
from fhir.resources.R4B import get_fhir_model_class as r4b_model

RELEASES = {"fhir": "r4", "r4": "r4", "r5": "r5"}  # first path segment -> FHIR release
FHIR_JSON = ("application/fhir+json", "application/json")
FHIR_XML = ("application/fhir+xml", "application/xml")


def release_of(path: str) -> str | None:
    """The FHIR release served at ``path`` ("r4", "r5"), or None outside the FHIR bases."""
    return RELEASES.get(path.lstrip("/").split("/", 1)[0])


def empties(value: Any, where: str = "$") -> list[str]:
    """Paths of the empty arrays, objects and strings and the nulls inside ``value``."""
    if value is None or value == "" or value == [] or value == {}:
        return [where]
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            out += empties(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += empties(v, f"{where}[{i}]")
    return out


def _model(release: str, resource_type: str) -> Any:
    return (r5_model if release == "r5" else r4b_model)(resource_type)


def xml_problems(raw: bytes, release: str) -> list[str]:
    """What is wrong with the XML document ``raw`` as a resource of FHIR ``release``."""
    from lxml import etree

    try:
        root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False))
        resource_type = etree.QName(root).localname
        model = _model(release, resource_type).model_validate_xml(raw)
    except Exception as e:  # lxml's syntax error, pydantic's ValidationError, no such type
        return [f"not a valid {release.upper()} resource in XML: {e}"]
    body = orjson.loads(model.model_dump_json())
    return problems(body, release)


def problems(body: Any, release: str) -> list[str]:
    """What is wrong with ``body`` as a resource of FHIR ``release``; empty when nothing."""
    if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
        return ["not a FHIR resource (no resourceType)"]
    out = [f"empty or null value at {p}" for p in empties(body)]
    model = _model(release, body["resourceType"])
    try:
        model.model_validate(body)
    except Exception as e:  # pydantic ValidationError, or a model's own error
        out.append(f"not a valid {release.upper()} {body['resourceType']}: {e}")
    return out


paused = False  # set while a test talks to stand-in servers (conftest, not_fhirterm)
_seen: set[bytes] = set()  # digests of bodies already found valid (a suite repeats many)


def check(method: str, path: str, content_type: str, raw: bytes) -> None:
    """AssertionError when a FHIR JSON or XML response under a FHIR base is not valid in its
    release."""
    release = release_of(path)
    mime = content_type.split(";")[0].strip()
    if paused or release is None or not raw or mime not in FHIR_JSON + FHIR_XML:
        return
    digest = hashlib.blake2b(release.encode() + raw, digest_size=16).digest()
    if digest in _seen:
        return
    if mime in FHIR_XML:
        found = xml_problems(raw, release)
    else:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise AssertionError(f"{method} {path}: the body is not JSON: {e}") from None
        found = problems(body, release)
    if found:
        raise AssertionError(f"{method} {path}: " + "; ".join(found)[:4000])
    if len(_seen) < 100_000:
        _seen.add(digest)
