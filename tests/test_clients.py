"""Real FHIR client libraries against a live `fhirterm serve`, over real HTTP.

- fhirpy (beda-software/fhir-py 2.3.1), ``SyncFHIRClient`` and
  ``AsyncFHIRClient``: operations through ``execute``, the search idioms
  ``.first()``, ``.get()``, ``.limit(n).fetch()``, ``.fetch_all()`` (which
  follows the Bundle's ``next`` links) and ``.count()``, and reads.
- fhirclient (smart-on-fhir/client-py 4.4.0, R4 models): the server's
  CapabilityStatement as its ``prepare`` reads it, reads, searches with paging,
  operations; every answer parsed strictly by its models (a model parse error
  is a shape bug of the server).
- The exact header sets other clients send (the HL7 Java tooling client, HAPI
  FHIR's generic client, the Firely .NET SDK, and fhirpy's and fhirclient's
  own), replayed with requests: ``HEADER_SETS``, one row per header set, with
  where in the client's source the headers come from.

The server runs on the small test release with a content folder made here
(the colour code system, three value sets, a concept map), and with its
public base address set to where it listens, so the paging links it writes
are ones the clients follow.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from fhir.resources import get_fhir_model_class as r5_model
from fhir.resources.R4B import get_fhir_model_class as r4_model

from . import live
from .conftest import ICD, SMALL_CONTENT
from .live import free_port

pytestmark = pytest.mark.server

COLORS = "http://example.org/fhir/CodeSystem/colors"
VS = "http://example.org/fhir/ValueSet/"
CM = "http://example.org/fhir/ConceptMap/colors-to-icd"


def _value_set(id_: str, name: str, status: str, concepts: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "ValueSet",
        "id": id_,
        "url": VS + id_,
        "version": "1.0.0",
        "name": name,
        "status": status,
        "compose": {"include": [{"system": COLORS, "concept": [{"code": c} for c in concepts]}]},
    }


VALUE_SETS = [
    _value_set("warm", "WarmColours", "active", ["red", "orange"]),
    _value_set("cool", "CoolColours", "active", ["blue"]),
    _value_set("all", "AllColours", "draft", ["red", "orange", "blue"]),
]
CONCEPT_MAP = {
    "resourceType": "ConceptMap",
    "id": "colors-to-icd",
    "url": CM,
    "version": "1",
    "name": "ColoursToIcd",
    "status": "active",
    "group": [
        {
            "source": COLORS,
            "target": ICD,
            "element": [{"code": "red", "target": [{"code": "M99.4", "equivalence": "relatedto"}]}],
        }
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server on the small release and this module's content; yields its root URL."""
    content = tmp_path_factory.mktemp("client-content")
    shutil.copytree(SMALL_CONTENT, content, dirs_exist_ok=True)
    for vs in VALUE_SETS:
        (content / f"vs-{vs['id']}.json").write_text(json.dumps(vs))
    (content / "cm.json").write_text(json.dumps(CONCEPT_MAP))
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    env = {"FHIRTERM_CONTENT_DIR": str(content), "FHIRTERM_BASE_URL": f"{root}/fhir"}
    with live.start(env, port=port, log=tmp_path_factory.mktemp("client-server") / "server.log"):
        yield root


def values(parameters: dict[str, Any]) -> dict[str, Any]:
    """A Parameters body -> name -> the first value[x] (or part list) of that name."""
    return {name: found[0] for name, found in values_all(parameters).items()}


def values_all(parameters: dict[str, Any]) -> dict[str, list[Any]]:
    """A Parameters body -> name -> every value[x] (or part list) of that name."""
    out: dict[str, list[Any]] = {}
    for p in parameters["parameter"]:
        out.setdefault(p["name"], []).append(
            next((p[k] for k in p if k.startswith("value")), p.get("part"))
        )
    return out


def parameters(**kw: Any) -> dict[str, Any]:
    """A Parameters resource from keyword arguments ``name=(type, value)``."""
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": k, f"value{t}": v} for k, (t, v) in kw.items()],
    }


def r4(body: Any) -> Any:
    """``body`` (a dict, or fhirpy's dict-like resource) parsed by its fhir.resources R4B model."""
    return r4_model(body["resourceType"]).model_validate(json.loads(json.dumps(body)))


# fhirpy ---------------------------------------------------------------------------


def test_fhirpy_sync_operations(server: str) -> None:
    """$lookup, $validate-code, $expand, $translate, $subsumes through fhirpy's ``execute``."""
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(f"{server}/fhir")
    got = client.execute(
        "CodeSystem/$lookup", method="get", params={"system": COLORS, "code": "red"}
    )
    assert values(r4(got).model_dump())["display"] == "Red"
    got = client.resources("CodeSystem").execute(
        "$validate-code",
        data=parameters(url=("Uri", COLORS), code=("Code", "red"), display=("String", "Red")),
    )
    assert values(r4(got).model_dump())["result"] is True
    got = client.resources("ValueSet").execute(
        "$validate-code",
        method="get",
        params={"url": VS + "warm", "system": COLORS, "code": "blue"},
    )
    assert values(r4(got).model_dump())["result"] is False
    expanded = client.reference("ValueSet", "warm").execute("$expand", method="get")
    assert [c.code for c in r4(expanded).expansion.contains] == ["red", "orange"]
    got = client.execute(
        "ConceptMap/$translate",
        data=parameters(url=("Uri", CM), system=("Uri", COLORS), code=("Code", "red")),
    )
    match = next(p for p in r4(got).parameter if p.name == "match")
    assert {p.name: p for p in match.part}["concept"].valueCoding.code == "M99.4"
    got = client.resources("CodeSystem").execute(
        "$subsumes", method="get", params={"system": COLORS, "codeA": "warm", "codeB": "red"}
    )
    assert values(r4(got).model_dump())["outcome"] == "subsumes"
    got = client.reference("CodeSystem", "test-colors").execute(
        "$lookup", method="get", params={"code": "blue"}
    )
    assert values(got)["display"] == "Blue"
    got = client.reference("CodeSystem", "icd10cm").execute(
        "$lookup", method="get", params={"code": "S06.0X1A"}
    )
    assert values(r4(got).model_dump())["display"].startswith("Concussion with loss")


def test_fhirpy_sync_errors_are_operation_outcomes(server: str) -> None:
    """A 404 is fhirpy's ResourceNotFound, a 400 its OperationOutcome error; both carry an OperationOutcome."""
    from fhirpy import SyncFHIRClient
    from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound

    client = SyncFHIRClient(f"{server}/fhir")
    with pytest.raises(ResourceNotFound) as not_found:
        client.execute("CodeSystem/$lookup", method="get", params={"system": COLORS, "code": "x"})
    outcome = r4(json.loads(str(not_found.value)))
    assert outcome.issue[0].code == "not-found"
    with pytest.raises(OperationOutcome) as bad:
        client.execute("CodeSystem/$lookup", method="get", params={"system": COLORS})
    assert r4(bad.value.resource).issue[0].severity == "error"
    with pytest.raises(ResourceNotFound):
        client.reference("ValueSet", "no-such-value-set").to_resource()
    # the server is read-only: fhirpy's writes get a 405 OperationOutcome, which it raises
    with pytest.raises(OperationOutcome) as refused:
        client.resource("ValueSet", url=VS + "new", status="draft").save()
    assert r4(refused.value.resource).issue[0].code == "not-supported"
    with pytest.raises(OperationOutcome) as refused:
        client.reference("ValueSet", "warm").delete()
    assert r4(refused.value.resource).issue[0].code == "not-supported"


def test_fhirpy_sync_searches_and_reads(server: str) -> None:
    """``.first()``, ``.get()``, ``.limit(n).fetch()``, ``.fetch_all()``, ``.count()``, reads."""
    from fhirpy import SyncFHIRClient
    from fhirpy.base.exceptions import MultipleResourcesFound, ResourceNotFound

    client = SyncFHIRClient(f"{server}/fhir")
    value_sets = client.resources("ValueSet")
    first = value_sets.search(url=VS + "cool").first()
    assert first is not None and r4(first).name == "CoolColours"
    assert value_sets.search(url=VS + "nothing").first() is None
    assert value_sets.search(name="WarmColours").get().id == "warm"
    with pytest.raises(MultipleResourcesFound):
        value_sets.search(status="active").get()
    with pytest.raises(ResourceNotFound):
        value_sets.search(status="retired").get()
    assert len(value_sets.limit(2).fetch()) == 2
    # one per page: fetch_all follows the next links the server writes
    every = value_sets.limit(1).fetch_all()
    assert sorted(vs.id for vs in every) == ["all", "cool", "warm"]
    for vs in every:
        r4(vs)
    assert value_sets.count() == 3
    assert value_sets.search(status="active").count() == 2
    assert [r4(vs).id for vs in value_sets.sort("-name").limit(3).fetch()] == [
        "warm",
        "cool",
        "all",
    ]

    code_systems = client.resources("CodeSystem")
    assert code_systems.count() == 2
    assert sorted(cs.id for cs in code_systems.limit(1).fetch_all()) == ["icd10cm", "test-colors"]
    # a search lists code systems without their concepts (tagged SUBSETTED) unless asked
    colors = r4(code_systems.search(url=COLORS).get())
    assert colors.concept is None and colors.meta.tag[0].code == "SUBSETTED"
    whole = code_systems.search(url=COLORS, _summary="false").get()
    assert [c.code for c in r4(whole).concept] == ["warm", "blue"]
    only = r4(code_systems.search(url=COLORS).elements("concept").get())
    assert [c.code for c in only.concept] == ["warm", "blue"] and only.name is None

    concept_maps = client.resources("ConceptMap")
    assert concept_maps.count() == 1
    assert r4(concept_maps.search(url=CM).first()).group[0].target == ICD
    assert [cm.id for cm in concept_maps.fetch_all()] == ["colors-to-icd"]

    read = client.reference("CodeSystem", "test-colors").to_resource()
    assert r4(read).url == COLORS
    assert r4(client.get("ValueSet", "warm")).compose.include[0].system == COLORS
    assert r4(client.get("ConceptMap/colors-to-icd")).url == CM


def test_fhirpy_at_r5(server: str) -> None:
    """fhirpy on the R5 base: R5 shapes (ConceptMap ``relationship``), R5 $translate, paging."""
    from fhirpy import SyncFHIRClient

    client = SyncFHIRClient(f"{server}/r5")
    cm = r5_model("ConceptMap").model_validate(
        json.loads(json.dumps(client.resources("ConceptMap").search(url=CM).get()))
    )
    assert cm.group[0].element[0].target[0].relationship == "related-to"
    got = client.execute(
        "ConceptMap/$translate",
        data=parameters(url=("Uri", CM), sourceSystem=("Uri", COLORS), sourceCode=("Code", "red")),
    )
    r5_model("Parameters").model_validate(got)
    match = {p["name"]: p for p in values_all(got)["match"][0]}
    assert match["concept"]["valueCoding"]["code"] == "M99.4"
    assert match["relationship"]["valueCode"] == "related-to"
    every = client.resources("ValueSet").limit(2).fetch_all()
    assert sorted(vs.id for vs in every) == ["all", "cool", "warm"]
    caps = client.execute("metadata", method="get", params={"mode": "terminology"})
    tc = r5_model("TerminologyCapabilities").model_validate(json.loads(json.dumps(caps)))
    assert {c.uri: c.content for c in tc.codeSystem}[COLORS] == "complete"


def test_fhirpy_async(server: str) -> None:
    """The same idioms through ``AsyncFHIRClient`` (aiohttp), driven by asyncio.run."""
    from fhirpy import AsyncFHIRClient

    async def run() -> None:
        client = AsyncFHIRClient(f"{server}/fhir")
        got = await client.execute(
            "CodeSystem/$lookup", method="get", params={"system": COLORS, "code": "orange"}
        )
        assert values(r4(got).model_dump())["display"] == "Orange"
        got = await client.resources("ValueSet").execute(
            "$validate-code",
            data=parameters(
                url=("Uri", VS + "cool"), system=("Uri", COLORS), code=("Code", "blue")
            ),
        )
        assert values(r4(got).model_dump())["result"] is True
        expanded = await client.resources("ValueSet").execute(
            "$expand", method="get", params={"url": VS + "all"}
        )
        assert r4(expanded).expansion.total == 3
        got = await client.execute(
            "ConceptMap/$translate",
            method="get",
            params={"url": CM, "system": COLORS, "code": "red"},
        )
        assert values(r4(got).model_dump())["result"] is True
        got = await client.execute(
            "CodeSystem/$subsumes",
            data=parameters(system=("Uri", COLORS), codeA=("Code", "red"), codeB=("Code", "warm")),
        )
        assert values(r4(got).model_dump())["outcome"] == "subsumed-by"

        value_sets = client.resources("ValueSet")
        first = await value_sets.search(url=VS + "warm").first()
        assert first is not None and r4(first).name == "WarmColours"
        assert (await value_sets.search(name="AllColours").get()).id == "all"
        assert len(await value_sets.limit(2).fetch()) == 2
        every = await value_sets.limit(1).fetch_all()
        assert sorted(vs.id for vs in every) == ["all", "cool", "warm"]
        assert await value_sets.count() == 3
        assert await client.resources("CodeSystem").count() == 2
        assert await client.resources("ConceptMap").search(status="active").count() == 1
        cm = await client.reference("ConceptMap", "colors-to-icd").to_resource()
        assert r4(cm).url == CM
        cs = await client.get("CodeSystem", "test-colors")
        assert r4(cs).name == "Colors"

    asyncio.run(run())


# fhirclient ---------------------------------------------------------------------------


def _fhirclient_server(root: str) -> Any:
    """fhirclient's FHIRServer for ``root``, prepared as an app does (metadata read and parsed)."""
    from fhirclient import client

    smart = client.FHIRClient(settings={"app_id": "fhirterm-tests", "api_base": root})
    smart.prepare()
    return smart.server


def _named(parameters: Any) -> dict[str, Any]:
    """A fhirclient Parameters model -> name -> the first parameter of that name."""
    out: dict[str, Any] = {}
    for p in parameters.parameter:
        out.setdefault(p.name, p)
    return out


def test_fhirclient_capabilities_reads_and_searches(server: str) -> None:
    """Strict R4 models of fhirclient over the metadata, reads and paged searches."""
    from fhirclient.models.bundle import Bundle
    from fhirclient.models.codesystem import CodeSystem
    from fhirclient.models.conceptmap import ConceptMap
    from fhirclient.models.terminologycapabilities import TerminologyCapabilities
    from fhirclient.models.valueset import ValueSet

    fhir = _fhirclient_server(f"{server}/fhir")
    capabilities = fhir.capabilityStatement
    assert capabilities.fhirVersion == "4.0.1" and capabilities.kind == "instance"
    assert {r.type for r in capabilities.rest[0].resource} >= {"CodeSystem", "ValueSet"}
    terminology = TerminologyCapabilities(fhir.request_json("metadata?mode=terminology"))
    assert COLORS in {c.uri for c in terminology.codeSystem}

    colors = CodeSystem.read("test-colors", fhir)
    assert [c.code for c in colors.concept] == ["warm", "blue"]
    assert [c.code for c in colors.concept[0].concept] == ["red", "orange"]
    assert ValueSet.read("cool", fhir).compose.include[0].concept[0].code == "blue"
    assert ConceptMap.read("colors-to-icd", fhir).group[0].element[0].code == "red"

    # one page per value set: perform_iter follows the next links
    pages = list(ValueSet.where(struct={"_count": "1"}).perform_iter(fhir))
    assert len(pages) == 3 and all(isinstance(p, Bundle) and p.total == 3 for p in pages)
    assert sorted(e.resource.id for p in pages for e in p.entry) == ["all", "cool", "warm"]
    active = ValueSet.where(struct={"status": "active"}).perform_resources_iter(fhir)
    assert sorted(vs.name for vs in active) == ["CoolColours", "WarmColours"]
    found = list(CodeSystem.where(struct={"url": COLORS}).perform_resources_iter(fhir))
    assert [cs.id for cs in found] == ["test-colors"]
    maps = list(ConceptMap.where(struct={"_summary": "true"}).perform_resources_iter(fhir))
    assert [cm.id for cm in maps] == ["colors-to-icd"]


def test_fhirclient_operations(server: str) -> None:
    """Each operation's answer, GET and POST, parsed strictly by fhirclient's R4 models."""
    from fhirclient.models.operationoutcome import OperationOutcome
    from fhirclient.models.parameters import Parameters
    from fhirclient.models.valueset import ValueSet
    from fhirclient.server import FHIRNotFoundException

    fhir = _fhirclient_server(f"{server}/fhir")
    lookup = _named(Parameters(fhir.request_json(f"CodeSystem/$lookup?system={COLORS}&code=red")))
    assert lookup["display"].valueString == "Red"
    assert {p.name: p for p in lookup["designation"].part}["value"].valueString == "Rouge"

    asked = Parameters(parameters(url=("Uri", COLORS), code=("Code", "blue")))
    validated = fhir.post_json("CodeSystem/$validate-code", asked.as_json())
    assert _named(Parameters(validated.json()))["result"].valueBoolean is True

    expanded = ValueSet(
        fhir.post_json("ValueSet/$expand", parameters(url=("Uri", VS + "all"))).json()
    )
    assert [c.code for c in expanded.expansion.contains] == ["red", "orange", "blue"]
    expanded = ValueSet(fhir.request_json("ValueSet/warm/$expand?count=1"))
    assert expanded.expansion.total == 2 and len(expanded.expansion.contains) == 1

    checked = Parameters(
        fhir.request_json(f"ValueSet/$validate-code?url={VS}cool&system={COLORS}&code=red")
    )
    assert _named(checked)["result"].valueBoolean is False
    assert _named(checked)["message"].valueString

    translated = Parameters(
        fhir.request_json(f"ConceptMap/$translate?url={CM}&system={COLORS}&code=red")
    )
    match = {p.name: p for p in _named(translated)["match"].part}
    assert match["concept"].valueCoding.code == "M99.4"

    subsumes = Parameters(
        fhir.request_json(f"CodeSystem/$subsumes?system={COLORS}&codeA=blue&codeB=red")
    )
    assert _named(subsumes)["outcome"].valueCode == "not-subsumed"

    # ICD-10-CM (the small release): properties with descriptions, a header's warning
    # carried as an OperationOutcome inside the Parameters, an implicit value set
    icd = _named(Parameters(fhir.request_json(f"CodeSystem/$lookup?system={ICD}&code=M99.43")))
    assert icd["display"].valueString.startswith("Connective tissue stenosis")
    header = _named(Parameters(fhir.request_json("CodeSystem/icd10cm/$validate-code?code=M99.4")))
    assert header["result"].valueBoolean is True
    warning = header["issues"].resource
    assert isinstance(warning, OperationOutcome) and warning.issue[0].severity == "warning"
    isa = ValueSet(fhir.request_json(f"ValueSet/$expand?url={ICD}?fhir_vs=isa/M99.4"))
    assert {c.code for c in isa.expansion.contains} == {"M99.4", "M99.43", "M99.44", "M99.74"}

    with pytest.raises(FHIRNotFoundException) as not_found:
        fhir.request_json(f"CodeSystem/$lookup?system={COLORS}&code=purple")
    outcome = OperationOutcome(not_found.value.response.json())
    assert outcome.issue[0].code == "not-found" and "purple" in outcome.issue[0].details.text
    with pytest.raises(requests.HTTPError) as bad:
        fhir.request_json("ValueSet/$expand")
    assert bad.value.response.status_code == 400
    assert OperationOutcome(bad.value.response.json()).issue[0].severity == "error"


# the header sets of other clients -------------------------------------------------------

# Where each header set comes from (repository, file, commit or version).
JAVA = (
    "hapifhir/org.hl7.fhir.core: org.hl7.fhir.r5/.../utils/client/network/"
    "FhirRequestBuilder.java getResourceFormatHeaders (Accept = format; Content-Type = "
    'format + ";charset=UTF-8" on POST; 014f1ad0); org.hl7.fhir.utilities/.../'
    'FHIRBaseToolingClient.java withVer (format + "; fhirVersion=" + version; 109ed9db)'
)
JAVA_R4 = JAVA + (
    '; org.hl7.fhir.r4/.../utils/client/FHIRToolingClient.java: every call withVer(..., "4.0")'
)
JAVA_R5 = JAVA + (
    '; org.hl7.fhir.r5/.../utils/client/FHIRToolingClient.java: every call withVer(..., "5.0")'
    " (025ab6f8)"
)
JAVA_FEED = (
    "hapifhir/org.hl7.fhir.core: org.hl7.fhir.r5/.../utils/client/FHIRToolingClient.java "
    "fetchFeed / search: getPreferredResourceFormat() without withVer (025ab6f8)"
)
HAPI = (
    "hapifhir/hapi-fhir: hapi-fhir-client/.../rest/client/apache/BaseHttpClient.java "
    "addHeadersToRequest (User-Agent, Accept-Charset, Accept-Encoding; Content-Type = type + "
    '"; charset=UTF-8"; 00bb3a96), .../rest/client/method/MethodUtil.java '
    "addAcceptHeaderToRequest (no encoding set: HEADER_ACCEPT_VALUE_XML_OR_JSON_NON_LEGACY; "
    "7276ce5e), .../rest/client/impl/BaseClient.java (encoding unset by default, bodies "
    "in JSON; 00bb3a96), hapi-fhir-base/.../rest/api/Constants.java (0123ab86), "
    "HttpClientUtil.createUserAgentString"
)
HAPI_JSON = (
    "hapifhir/hapi-fhir: BaseClient.java createExtraParams (_format=json when the encoding "
    "is JSON; 00bb3a96), MethodUtil.addAcceptHeaderToRequest (EncodingEnum.JSON: "
    "HEADER_ACCEPT_VALUE_JSON_NON_LEGACY; 7276ce5e)"
)
HAPI_XML = (
    "hapifhir/hapi-fhir: BaseClient.java createExtraParams (_format=xml when the encoding "
    "is XML; 00bb3a96), MethodUtil.addAcceptHeaderToRequest (EncodingEnum.XML: "
    "HEADER_ACCEPT_VALUE_XML_NON_LEGACY; 7276ce5e), BaseHttpClient.createByteRequest "
    '(Content-Type = type + "; charset=UTF-8"; 00bb3a96)'
)
FIRELY = (
    "FirelyTeam/firely-net-sdk: src/Hl7.Fhir.Base/Rest/HttpContentBuilders.cs WithAccept, "
    "CreateContentFromJson, WithDefaultAgent (622001ae), ContentType.cs BuildMediaType "
    "(charset=utf-8, fhirVersion=major.minor; 6e724ad0), EntryToHttpExtensions.cs (622001ae), "
    "FhirClientSettings.cs (PreferredFormat, UseFhirVersionInAcceptHeader, "
    "PreferredParameterHandling; 1083ca50), BaseFhirClient.cs (fhirVersion only when "
    "UseFhirVersionInAcceptHeader; ecb36d03)"
)
FHIRPY = (
    "beda-software/fhir-py 2.3.1: fhirpy/base/client.py _build_request_headers "
    "(Accept: application/fhir+json), fhirpy/base/lib_sync.py and lib_async.py _do_request "
    "(requests / aiohttp json=: Content-Type application/json)"
)
FHIRCLIENT = (
    "smart-on-fhir/client-py 4.4.0: fhirclient/server.py _get and post_json "
    "(Accept: application/fhir+json, Accept-Charset: UTF-8, Content-type: application/fhir+json)"
)

J4 = "application/fhir+json; fhirVersion=4.0"
J5 = "application/fhir+json; fhirVersion=5.0"
HAPI_ACCEPT = (
    "application/fhir+xml;q=1.0, application/fhir+json;q=1.0, "
    "application/xml+fhir;q=0.9, application/json+fhir;q=0.9"
)
HAPI_R4 = {
    "User-Agent": "HAPI-FHIR/8.4.0 (FHIR Client; FHIR 4.0.1/R4; apache)",
    "Accept-Charset": "utf-8",
    "Accept-Encoding": "gzip",
}
HAPI_R5 = {**HAPI_R4, "User-Agent": "HAPI-FHIR/8.4.0 (FHIR Client; FHIR 5.0.0/R5; apache)"}
FIRELY_AGENT = {"User-Agent": "firely-sdk-client/5.11.0"}
FIRELY_JSON = "application/fhir+json; charset=utf-8"

FIRELY_XML = "application/fhir+xml; charset=utf-8"

JSON_CT = "application/fhir+json; charset=utf-8"
JSON_CT_4 = "application/fhir+json; fhirVersion=4.0; charset=utf-8"
JSON_CT_5 = "application/fhir+json; fhirVersion=5.0; charset=utf-8"
XML_CT = "application/fhir+xml; charset=utf-8"
XML_CT_4 = "application/fhir+xml; fhirVersion=4.0; charset=utf-8"
XML_CT_5 = "application/fhir+xml; fhirVersion=5.0; charset=utf-8"

LOOKUP_RED = f"CodeSystem/$lookup?system={COLORS}&code=red"
P_LOOKUP = parameters(system=("Uri", COLORS), code=("Code", "orange"))
P_VALIDATE = parameters(url=("Uri", COLORS), code=("Code", "blue"), display=("String", "Blue"))
P_VS_VALIDATE = parameters(url=("Uri", VS + "warm"), system=("Uri", COLORS), code=("Code", "red"))
P_EXPAND = parameters(url=("Uri", VS + "all"))
P_TRANSLATE = parameters(url=("Uri", CM), system=("Uri", COLORS), code=("Code", "red"))
P_TRANSLATE_R5 = parameters(
    url=("Uri", CM), sourceSystem=("Uri", COLORS), sourceCode=("Code", "red")
)
P_SUBSUMES = parameters(system=("Uri", COLORS), codeA=("Code", "warm"), codeB=("Code", "orange"))


@dataclass(frozen=True)
class HeaderSet:
    """One request as a client sends it, and what the answer must be."""

    client: str
    source: str
    method: str
    path: str  # from the server's root: /fhir/..., /r4/..., /r5/...
    headers: dict[str, str]
    resource_type: str  # of the answer
    content_type: str = JSON_CT  # of the answer, exactly
    status: int = 200
    body: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def r5(self) -> bool:
        return self.path.startswith("/r5/")

    def data(self) -> bytes | None:
        """The body as the client sends it: XML when its Content-Type is XML, else JSON."""
        if self.body is None:
            return None
        sent_as = next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")
        if "xml" in sent_as:
            model = r5_model if self.r5 else r4_model
            xml: bytes = model(self.body["resourceType"]).model_validate(self.body).model_dump_xml()
            return xml
        return json.dumps(self.body).encode()


HEADER_SETS = [
    # HL7 Java tooling client (FHIR validator, IG Publisher, TxTester)
    HeaderSet("HL7 Java R4", JAVA_R4, "GET", f"/fhir/{LOOKUP_RED}", {"Accept": J4},
              "Parameters", JSON_CT_4),
    HeaderSet("HL7 Java R4", JAVA_R4, "GET", "/r4/metadata", {"Accept": J4},
              "CapabilityStatement", JSON_CT_4),
    HeaderSet("HL7 Java R4", JAVA_R4, "GET", "/r4/metadata?mode=terminology", {"Accept": J4},
              "TerminologyCapabilities", JSON_CT_4),
    HeaderSet("HL7 Java R4", JAVA_R4, "POST", "/r4/ValueSet/$expand",
              {"Accept": J4, "Content-Type": J4 + ";charset=UTF-8"},
              "ValueSet", JSON_CT_4, body=P_EXPAND),
    HeaderSet("HL7 Java R4", JAVA_R4, "POST", "/fhir/ConceptMap/$translate",
              {"Accept": J4, "Content-Type": J4 + ";charset=UTF-8"},
              "Parameters", JSON_CT_4, body=P_TRANSLATE),
    HeaderSet("HL7 Java R5", JAVA_R5, "GET", "/r5/metadata", {"Accept": J5},
              "CapabilityStatement", JSON_CT_5),
    HeaderSet("HL7 Java R5", JAVA_R5, "GET", f"/r5/{LOOKUP_RED}", {"Accept": J5},
              "Parameters", JSON_CT_5),
    HeaderSet("HL7 Java R5", JAVA_R5, "POST", "/r5/CodeSystem/$validate-code",
              {"Accept": J5, "Content-Type": J5 + ";charset=UTF-8"},
              "Parameters", JSON_CT_5, body=P_VALIDATE),
    HeaderSet("HL7 Java R5", JAVA_R5, "POST", "/r5/ValueSet/$validate-code",
              {"Accept": J5, "Content-Type": J5 + ";charset=UTF-8"},
              "Parameters", JSON_CT_5, body=P_VS_VALIDATE),
    HeaderSet("HL7 Java R5", JAVA_R5, "GET", "/r5/metadata?mode=terminology", {"Accept": J5},
              "TerminologyCapabilities", JSON_CT_5),
    HeaderSet("HL7 Java search", JAVA_FEED, "GET", f"/r5/ValueSet?url={VS}warm",
              {"Accept": "application/fhir+json"}, "Bundle"),
    # the R5 client at an R4 base: refused, naming the release served
    HeaderSet("HL7 Java R5 at /fhir", JAVA_R5, "GET", f"/fhir/{LOOKUP_RED}", {"Accept": J5},
              "OperationOutcome", status=406),
    # HAPI FHIR generic client
    HeaderSet("HAPI R5", HAPI, "GET", f"/r5/ConceptMap?url={CM}", {**HAPI_R5, "Accept": HAPI_ACCEPT},
              "Bundle"),
    HeaderSet("HAPI R4", HAPI, "GET", "/fhir/metadata", {**HAPI_R4, "Accept": HAPI_ACCEPT},
              "CapabilityStatement"),
    HeaderSet("HAPI R4", HAPI, "GET", "/fhir/CodeSystem/test-colors",
              {**HAPI_R4, "Accept": HAPI_ACCEPT}, "CodeSystem"),
    HeaderSet("HAPI R4", HAPI, "POST", "/fhir/CodeSystem/$lookup",
              {**HAPI_R4, "Accept": HAPI_ACCEPT,
               "Content-Type": "application/fhir+json; charset=UTF-8"},
              "Parameters", body=P_LOOKUP),
    HeaderSet("HAPI R4", HAPI, "POST", "/fhir/ValueSet/$validate-code",
              {**HAPI_R4, "Accept": HAPI_ACCEPT,
               "Content-Type": "application/fhir+json; charset=UTF-8"},
              "OperationOutcome", status=400, body=parameters(code=("Code", "red"))),
    HeaderSet("HAPI R4", HAPI, "GET", f"/fhir/ValueSet/$expand?url={VS}cool",
              {**HAPI_R4, "Accept": HAPI_ACCEPT}, "ValueSet"),
    HeaderSet("HAPI R4 JSON", HAPI_JSON, "GET", f"/fhir/ValueSet?url={VS}warm&_format=json",
              {**HAPI_R4, "Accept": "application/fhir+json;q=1.0, application/json+fhir;q=0.9"},
              "Bundle"),
    HeaderSet("HAPI R5", HAPI, "POST", "/r5/CodeSystem/$subsumes",
              {**HAPI_R5, "Accept": HAPI_ACCEPT,
               "Content-Type": "application/fhir+json; charset=UTF-8"},
              "Parameters", body=P_SUBSUMES),
    # Firely .NET SDK, PreferredFormat = Json
    HeaderSet("Firely R4", FIRELY, "GET", "/fhir/ValueSet/warm",
              {**FIRELY_AGENT, "Accept": FIRELY_JSON}, "ValueSet"),
    HeaderSet("Firely R4", FIRELY, "POST", "/fhir/ValueSet/$expand",
              {**FIRELY_AGENT, "Accept": FIRELY_JSON, "Content-Type": FIRELY_JSON},
              "ValueSet", body=P_EXPAND),
    HeaderSet("Firely R4 search", FIRELY, "GET", "/fhir/ValueSet?status=active",
              {**FIRELY_AGENT, "Accept": FIRELY_JSON, "Prefer": "handling=strict"}, "Bundle"),
    HeaderSet("Firely R4 fhirVersion", FIRELY, "POST", "/r4/CodeSystem/$subsumes",
              {**FIRELY_AGENT, "Accept": FIRELY_JSON + "; fhirVersion=4.0",
               "Content-Type": FIRELY_JSON + "; fhirVersion=4.0"},
              "Parameters", JSON_CT_4, body=P_SUBSUMES),
    HeaderSet("Firely R5 fhirVersion", FIRELY, "POST", "/r5/CodeSystem/$lookup",
              {**FIRELY_AGENT, "Accept": FIRELY_JSON + "; fhirVersion=5.0",
               "Content-Type": FIRELY_JSON + "; fhirVersion=5.0"},
              "Parameters", JSON_CT_5, body=P_LOOKUP),
    HeaderSet("Firely R5 fhirVersion", FIRELY, "GET", "/r5/ConceptMap/colors-to-icd",
              {**FIRELY_AGENT, "Accept": FIRELY_JSON + "; fhirVersion=5.0"},
              "ConceptMap", JSON_CT_5),
    # Firely .NET SDK with its default settings: PreferredFormat = Xml
    HeaderSet("Firely R4 XML", FIRELY, "GET", "/fhir/CodeSystem/test-colors",
              {**FIRELY_AGENT, "Accept": FIRELY_XML}, "CodeSystem", XML_CT),
    HeaderSet("Firely R4 XML", FIRELY, "POST", "/fhir/ValueSet/$validate-code",
              {**FIRELY_AGENT, "Accept": FIRELY_XML, "Content-Type": FIRELY_XML},
              "Parameters", XML_CT, body=P_VS_VALIDATE),
    HeaderSet("Firely R4 XML", FIRELY, "GET", f"/fhir/CodeSystem/$lookup?system={COLORS}&code=pink",
              {**FIRELY_AGENT, "Accept": FIRELY_XML}, "OperationOutcome", XML_CT, status=404),
    HeaderSet("Firely R5 XML fhirVersion", FIRELY, "POST", "/r5/ValueSet/$expand",
              {**FIRELY_AGENT, "Accept": FIRELY_XML + "; fhirVersion=5.0",
               "Content-Type": FIRELY_XML + "; fhirVersion=5.0"},
              "ValueSet", XML_CT_5, body=P_EXPAND),
    HeaderSet("Firely R5 XML", FIRELY, "GET", "/r5/ConceptMap?_count=1",
              {**FIRELY_AGENT, "Accept": FIRELY_XML}, "Bundle", XML_CT),
    # HAPI with the XML encoding; the HL7 Java client with XML as its preferred format
    HeaderSet("HAPI R4 XML", HAPI_XML, "GET", f"/fhir/ValueSet?url={VS}cool&_format=xml",
              {**HAPI_R4, "Accept": "application/fhir+xml;q=1.0, application/xml+fhir;q=0.9"},
              "Bundle", XML_CT),
    HeaderSet("HAPI R4 XML", HAPI_XML, "POST", "/fhir/CodeSystem/$lookup?_format=xml",
              {**HAPI_R4, "Accept": "application/fhir+xml;q=1.0, application/xml+fhir;q=0.9",
               "Content-Type": "application/fhir+xml; charset=UTF-8"},
              "Parameters", XML_CT, body=P_LOOKUP),
    HeaderSet("HL7 Java R4 XML", JAVA_R4, "GET", "/r4/metadata?mode=terminology",
              {"Accept": "application/fhir+xml; fhirVersion=4.0"},
              "TerminologyCapabilities", XML_CT_4),
    HeaderSet("HL7 Java R5 XML", JAVA_R5, "GET", "/r5/metadata?mode=terminology",
              {"Accept": "application/fhir+xml; fhirVersion=5.0"},
              "TerminologyCapabilities", XML_CT_5),
    HeaderSet("HL7 Java R5 XML", JAVA_R5, "POST", "/r5/ConceptMap/$translate",
              {"Accept": "application/fhir+xml; fhirVersion=5.0",
               "Content-Type": "application/fhir+xml; fhirVersion=5.0;charset=UTF-8"},
              "Parameters", XML_CT_5, body=P_TRANSLATE_R5),
    # the Python clients tested above, as header sets
    HeaderSet("fhirpy", FHIRPY, "GET", "/fhir/ConceptMap?_count=1",
              {"Accept": "application/fhir+json"}, "Bundle"),
    HeaderSet("fhirpy", FHIRPY, "POST", "/fhir/ConceptMap/$translate",
              {"Accept": "application/fhir+json", "Content-Type": "application/json"},
              "Parameters", body=P_TRANSLATE),
    HeaderSet("fhirclient", FHIRCLIENT, "GET", "/fhir/CodeSystem/test-colors",
              {"Accept": "application/fhir+json", "Accept-Charset": "UTF-8"}, "CodeSystem"),
    HeaderSet("fhirclient", FHIRCLIENT, "POST", "/fhir/ValueSet/$validate-code",
              {"Accept": "application/fhir+json", "Accept-Charset": "UTF-8",
               "Content-type": "application/fhir+json"},
              "Parameters", body=P_VS_VALIDATE),
]  # fmt: skip


def _row_id(row: HeaderSet) -> str:
    return f"{row.client}: {row.method} {row.path}"


@pytest.mark.parametrize("row", HEADER_SETS, ids=_row_id)
def test_client_header_sets(server: str, row: HeaderSet) -> None:
    """Each client's exact headers get the status, Content-Type and resource expected.

    The session sends only the row's headers (requests' own defaults removed),
    and the answer is parsed by the fhir.resources models of the base's
    release (R4B for /fhir and /r4, R5 for /r5).
    """
    with requests.Session() as session:
        session.headers.clear()
        r = session.request(row.method, server + row.path, headers=row.headers, data=row.data())
    assert r.status_code == row.status, r.text[:500]
    assert r.headers["Content-Type"] == row.content_type
    model = (r5_model if row.r5 else r4_model)(row.resource_type)
    if row.content_type.startswith("application/fhir+xml"):
        assert r.content.lstrip().startswith(b"<") and b"http://hl7.org/fhir" in r.content[:200]
        body = model.model_validate_xml(r.content).model_dump(mode="json")
    else:
        body = r.json()
        model.model_validate(body)
    assert body["resourceType"] == row.resource_type
    if row.status >= 400:
        assert body["issue"][0]["severity"] == "error" and body["issue"][0]["details"]["text"]
