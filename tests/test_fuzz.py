"""Property-based fuzz of every operation's parameters, from the definitions the server publishes.

The requests are generated from the OperationDefinitions the server serves
(read over HTTP from the CapabilityStatement's ``operation.definition``): for
each operation, its input parameters with values of their declared type, of
the wrong type, missing, repeated, unknown, huge or odd, in both forms (POST
Parameters and GET query), at every FHIR base. Every answer must be below 500;
every 4xx an OperationOutcome with a FHIR JSON Content-Type; every 2xx a FHIR
resource.

Two profiles:

* quick (default tests): ``QUICK_CASES`` cases through the Flask test client on
  the small release, derandomized (the same cases every run);
* slow (``fuzz_slow`` marker, run with ``FHIRTERM_FUZZ_SLOW=1``): at least
  10,000 cases over real HTTP against a live ``fhirterm serve`` (the small
  release, started here, or the server at ``FHIRTERM_FUZZ_BASE``); the counts
  are printed and written to ``bench-results/fuzz.json``.

    FHIRTERM_FUZZ_SLOW=1 pytest -m fuzz_slow tests/test_fuzz.py -s
    FHIRTERM_FUZZ_SLOW=1 FHIRTERM_FUZZ_BASE=http://127.0.0.1:8081 FHIRTERM_FUZZ_CASES=20000 \\
        pytest -m fuzz_slow tests/test_fuzz.py -s
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from . import live
from .conftest import ICD, REPO
from .live import free_port

QUICK_CASES = int(os.environ.get("FHIRTERM_FUZZ_QUICK_CASES", "400"))
QUICK_SEED = os.environ.get("FHIRTERM_FUZZ_SEED")
SLOW_CASES = int(os.environ.get("FHIRTERM_FUZZ_CASES", "10000"))
BASES = ("fhir", "r4", "r5")

# (status, body bytes, Content-Type) of one request: method, path (from the root), query
# string, JSON body or None, headers
Send = Callable[[str, str, str, bytes | None, dict[str, str]], tuple[int, bytes, str]]


@dataclass(frozen=True)
class OpDef:
    """An operation as its published OperationDefinition describes it."""

    base: str
    resource: str
    code: str
    inputs: tuple[dict[str, Any], ...]  # the 'in' parameters
    get: bool  # whether GET is taken (an operation that affects no state)


def definitions(send: Send) -> list[OpDef]:
    """Every operation of every base, read from /metadata and the definitions it links."""
    out: list[OpDef] = []
    for base in BASES:
        status, body, _ = send("GET", f"/{base}/metadata", "", None, {})
        assert status == 200
        cap = json.loads(body)
        for res in cap["rest"][0]["resource"]:
            for op in res.get("operation", []):
                # the definition is an absolute URL under the server's public base
                # (FHIRTERM_BASE_URL); its path is the same on this server
                path = urlsplit(op["definition"]).path
                assert path.startswith(f"/{base}/OperationDefinition/"), op
                status, body, _ = send("GET", path, "", None, {})
                assert status == 200, (path, body[:200])
                d = json.loads(body)
                assert d["resourceType"] == "OperationDefinition" and d["code"] == op["name"]
                inputs = tuple(p for p in d["parameter"] if p["use"] == "in")
                # GET is for an operation that changes nothing and needs no complex value
                # (FHIR's Operations page)
                get = not d["affectsState"] and not any(
                    p["min"] > 0 and p.get("type", "")[:1].isupper() for p in inputs
                )
                out.append(OpDef(base, res["type"], d["code"], inputs, get))
    return out


# -- values -----------------------------------------------------------------------------

URLS = [
    ICD,
    f"{ICD}?fhir_vs",
    # the full content's (codesystems/): a value set, the concept map to CPT, CPT
    "http://fhirterm.org/fhir/ValueSet/icd10cm-billable",
    "http://fhirterm.org/fhir/ConceptMap/icd10cm-to-cpt",
    "http://www.ama-assn.org/go/cpt",
    f"{ICD}?fhir_vs=isa/M99",
    "http://example.org/cs",
    "http://example.org/vs",
    "http://example.org/cm",
    "http://hl7.org/fhir/ValueSet/x",
    "urn:uuid:1",
    "",
]
CODES = ["M99.44", "M99.4", "M99", "T07.XXXA", "m99.44", "M99-M99", "13", "a", "b", "", " "]
ODD = [
    "%",
    "%zz",
    "|",
    "a|b|c",
    ",",
    ",,",
    "\x00",
    "\u202e",
    "²",
    "--5",
    "9" * 4301,
    "1e5",
    "-0",
    "+5",
    "*",
    "en;q=0.5,de",
    "((((a{50}){50}){50}){50})",
    "null",
    "{}",
    "[]",
    "true",
]

any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
short_text = st.one_of(st.sampled_from(CODES + URLS + ODD[:-3]), st.text(max_size=30))
# huge text (bodies only: a query's length is the HTTP server's limit, not ours), up to
# HUGE characters: far beyond any code or URL, well within the body limit
HUGE = int(os.environ.get("FHIRTERM_FUZZ_HUGE", "60000"))
huge_text = st.builds(
    lambda c, n: (c * n)[:HUGE],
    st.sampled_from(["x", "é", "M99.", " ", "a|"]),
    st.integers(1000, HUGE),
)
OTHER_TEXT = ["2099", "en", "de-CH", "en;q=0.5,de", "5", "stenosis", "sacr canal", "parent"]


def text_of(declared: str, huge: bool) -> st.SearchStrategy[str]:
    """Text for a parameter of type ``declared``: mostly what it usually holds (codes for a
    code, URLs for a uri), sometimes anything."""
    if declared == "canonical":  # url|version
        usual = [*URLS, f"{ICD}|2099", f"{ICD}|2098", "http://example.org/cs|1", f"{ICD}|*"]
    elif declared in ("uri", "url"):
        usual = URLS
    else:
        usual = CODES + OTHER_TEXT
    odd = [st.sampled_from(ODD), st.text(max_size=30)] + ([huge_text] if huge else [])
    return st.one_of(st.sampled_from(usual), st.sampled_from(usual), *odd)


integers = st.one_of(
    st.integers(min_value=-3, max_value=200),
    st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**63, 2**64, 10**30]),
)
coding = st.fixed_dictionaries(
    {"system": st.sampled_from(URLS), "code": st.sampled_from(CODES)},
    optional={"version": st.sampled_from(["2099", "x"]), "display": short_text},
)
codeable_concept = st.fixed_dictionaries(
    {"coding": st.lists(coding, max_size=3)}, optional={"text": short_text}
)
FILTER_OPS = [
    "=",
    "is-a",
    "descendent-of",
    "is-not-a",
    "regex",
    "in",
    "not-in",
    "generalizes",
    "exists",
    "child-of",
]
include = st.fixed_dictionaries(
    {},
    optional={
        "system": st.sampled_from(URLS),
        "version": st.sampled_from(["2099", "*", "1.x"]),
        "concept": st.lists(
            st.fixed_dictionaries(
                {"code": st.sampled_from(CODES)}, optional={"display": short_text}
            ),
            max_size=4,
        ),
        "filter": st.lists(
            st.fixed_dictionaries(
                {
                    "property": st.sampled_from(
                        ["concept", "code", "parent", "child", "display", "x"]
                    ),
                    "op": st.sampled_from(FILTER_OPS),
                    "value": short_text,
                }
            ),
            max_size=2,
        ),
        "valueSet": st.lists(st.sampled_from(URLS), max_size=2),
    },
)
value_set = st.fixed_dictionaries(
    {
        "resourceType": st.just("ValueSet"),
        "url": st.sampled_from(URLS),
        "status": st.just("active"),
        "compose": st.fixed_dictionaries(
            {"include": st.lists(include, min_size=1, max_size=3)},
            optional={"exclude": st.lists(include, max_size=2), "inactive": st.booleans()},
        ),
    },
    optional={"version": st.sampled_from(["1", "2"])},
)
cs_concept = st.recursive(
    st.fixed_dictionaries(
        {"code": st.sampled_from([*CODES[:-2], "c1", "c2", "c3"])},
        optional={
            "display": short_text,
            "property": st.lists(
                st.fixed_dictionaries(
                    {"code": st.sampled_from(["inactive", "parent", "status", "p"])},
                    optional={"valueCode": short_text, "valueBoolean": st.booleans()},
                ),
                max_size=2,
            ),
            "designation": st.lists(
                st.fixed_dictionaries(
                    {"value": short_text}, optional={"language": st.sampled_from(["en", "de"])}
                ),
                max_size=2,
            ),
        },
    ),
    lambda inner: st.fixed_dictionaries(
        {"code": st.sampled_from(["c4", "c5", "c6"]), "concept": st.lists(inner, max_size=3)}
    ),
    max_leaves=8,
)
code_system = st.fixed_dictionaries(
    {
        "resourceType": st.just("CodeSystem"),
        "url": st.sampled_from(URLS),
        "status": st.just("active"),
        "content": st.sampled_from(["complete", "fragment", "supplement", "not-present"]),
        "concept": st.lists(cs_concept, max_size=4),
    },
    optional={
        "version": st.sampled_from(["1", "2099"]),
        "supplements": st.sampled_from(URLS),
        "caseSensitive": st.booleans(),
    },
)
concept_map = st.fixed_dictionaries(
    {
        "resourceType": st.just("ConceptMap"),
        "url": st.sampled_from(URLS),
        "status": st.just("active"),
        "group": st.lists(
            st.fixed_dictionaries(
                {
                    "source": st.sampled_from(URLS),
                    "target": st.sampled_from(URLS),
                    "element": st.lists(
                        st.fixed_dictionaries(
                            {
                                "code": st.sampled_from(CODES),
                                "target": st.lists(
                                    st.fixed_dictionaries(
                                        {"code": st.sampled_from(CODES)},
                                        optional={
                                            "equivalence": st.sampled_from(
                                                ["equivalent", "wider", "x"]
                                            ),
                                            "relationship": st.sampled_from(["equivalent", "x"]),
                                        },
                                    ),
                                    max_size=2,
                                ),
                            }
                        ),
                        max_size=3,
                    ),
                }
            ),
            max_size=2,
        ),
    },
)


def one_in(draw: st.DrawFn, n: int) -> bool:
    """True once in ``n`` draws. (Not ``integers(0, n - 1) == 0``: Hypothesis draws the
    simplest value, 0, far more often than its share; here the simplest is False.)"""
    return draw(st.sampled_from([False] * (n - 1) + [True]))


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a node below ``value`` (keys and indexes)."""
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for k, v in items:
        yield (*path, k)
        yield from _paths(v, (*path, k))


@st.composite
def corrupted(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> Any:
    """A value of ``base``, one of whose nodes is often replaced by any JSON value."""
    value = draw(base)
    paths = list(_paths(value))
    if not paths or not one_in(draw, 3):
        return value
    path = draw(st.sampled_from(paths))
    node = value
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = draw(any_json)
    return value


def resource_of(declared: str) -> st.SearchStrategy[Any]:
    if declared == "ValueSet":
        return value_set
    if declared == "ConceptMap":
        return concept_map
    if declared == "Parameters":
        return st.builds(
            lambda ps: {"resourceType": "Parameters", "parameter": ps},
            st.lists(
                st.builds(
                    lambda n, v: {"name": n, "valueCode": v},
                    st.sampled_from(["code", "system", "display", "bogus"]),
                    short_text,
                ),
                max_size=3,
            ),
        )
    return st.one_of(code_system, value_set, concept_map)


# the value[x] element FHIR uses for each declared type
VALUE_KEY = {
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "Coding": "valueCoding",
    "CodeableConcept": "valueCodeableConcept",
    "uri": "valueUri",
    "canonical": "valueCanonical",
    "code": "valueCode",
    "dateTime": "valueDateTime",
}
OTHER_KEYS = [
    "valueString",
    "valueCode",
    "valueInteger",
    "valueBoolean",
    "valueDecimal",
    "valueCoding",
    "valueCodeableConcept",
    "valueUri",
    "valueFoo",
    "value",
    "resource",
    "part",
]
RESOURCE_TYPES = ("Resource", "CodeSystem", "ValueSet", "ConceptMap", "Parameters")


def typed_value(declared: str) -> st.SearchStrategy[Any]:
    if declared == "boolean":
        return st.booleans()
    if declared == "integer":
        return integers
    if declared == "Coding":
        return corrupted(coding)
    if declared == "CodeableConcept":
        return corrupted(codeable_concept)
    if declared in RESOURCE_TYPES:
        return corrupted(resource_of(declared))
    return text_of(declared, huge=True)


@st.composite
def json_parameter(draw: st.DrawFn, p: dict[str, Any]) -> dict[str, Any]:
    """One Parameters.parameter entry for ``p``: mostly of its type, sometimes not."""
    declared = p.get("type", "string")
    if one_in(draw, 8):  # the wrong value[x], any JSON in it
        return {"name": p["name"], draw(st.sampled_from(OTHER_KEYS)): draw(any_json)}
    key = "resource" if declared in RESOURCE_TYPES else VALUE_KEY.get(declared, "valueString")
    return {"name": p["name"], key: draw(typed_value(declared))}


@st.composite
def query_value(draw: st.DrawFn, p: dict[str, Any]) -> str:
    declared = p.get("type", "string")
    if declared == "boolean":
        return draw(st.sampled_from(["true", "false", "yes", "", "TRUE", "1"]))
    if declared == "integer":
        return draw(st.one_of(integers.map(str), st.sampled_from(ODD)))
    if declared == "Coding":
        c = draw(coding)
        return draw(st.sampled_from([f"{c['system']}|{c['code']}", c["code"], "|", "a|b|c"]))
    if declared in ("CodeableConcept", *RESOURCE_TYPES):
        return draw(st.sampled_from(["{}", "x", json.dumps({"coding": [{"code": "A"}]})]))
    return draw(text_of(declared, huge=False))


CORE = {"url", "system", "code", "codeA", "codeB", "sourceCode", "sourceSystem", "validation"}
UNKNOWN = [{"name": n, "type": "string"} for n in ("bogus", "Code", "code ", "")]


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: bytes | None
    headers: dict[str, str]


@st.composite
def request(draw: st.DrawFn, ops: list[OpDef]) -> Request:
    op = draw(st.sampled_from(ops))
    # the parameters that name what to work on, each usually sent (a request of random
    # parameters seldom names a code and its system), then others
    core = [p for p in op.inputs if p["name"] in CORE and not one_in(draw, 4)]
    others = draw(st.lists(st.sampled_from(op.inputs), max_size=4, unique_by=lambda p: p["name"]))
    params = core + [p for p in others if p not in core]
    if one_in(draw, 6):  # one more: repeated, or a name the operation lacks
        params.append(draw(st.sampled_from([*op.inputs, *UNKNOWN])))
    instance = draw(st.sampled_from(["", "", "", "", "/icd10cm", "/unknown-id"]))
    path = f"/{op.base}/{op.resource}{instance}/${op.code}"
    headers = {"Accept": "application/fhir+json"}
    if draw(st.booleans()):
        headers["Accept-Language"] = draw(
            st.sampled_from(["de", "en;q=0.5,fr", "*", "x-y-z-1234567890"])
        )
    if op.get and draw(st.booleans()):
        # a parameter that takes a resource or a CodeableConcept only now and then: it is a
        # 400 in a query whatever its value
        if not one_in(draw, 10):
            params = [
                p for p in params if p.get("type") not in ("CodeableConcept", *RESOURCE_TYPES)
            ]
        pairs = [(p["name"], draw(query_value(p))) for p in params]
        query = "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in pairs)
        return Request("GET", path, query, None, headers)
    entries = [draw(json_parameter(p)) for p in params]
    body = json.dumps({"resourceType": "Parameters", "parameter": entries}).encode()
    headers["Content-Type"] = "application/fhir+json"
    return Request("POST", path, "", body, headers)


@dataclass
class Tally:
    """What the answers were: statuses, and the 4xx messages by kind (quoted values and
    numbers left out)."""

    statuses: Counter[int] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)

    def figures(self) -> dict[str, Any]:
        n = self.statuses
        return {
            "cases": sum(n.values()),
            "2xx": sum(v for s, v in n.items() if s < 300),
            "4xx": sum(v for s, v in n.items() if 400 <= s < 500),
            "5xx": sum(v for s, v in n.items() if s >= 500),
            "statuses": dict(sorted(n.items())),
            "4xx messages, most common": dict(self.messages.most_common(25)),
        }


def check(send: Send, req: Request, tally: Tally) -> None:
    """Send ``req``; assert the answer's status and shape; count it."""
    status, body, content_type = send(req.method, req.path, req.query, req.body, req.headers)
    tally.statuses[status] += 1
    where = f"{req.method} {req.path}?{req.query[:300]} {(req.body or b'')[:300]!r}"
    assert status < 500, f"{status} for {where}: {body[:300]!r}"
    assert content_type.startswith("application/fhir+json"), (status, content_type, where)
    resource = json.loads(body)
    if status >= 400:
        assert resource["resourceType"] == "OperationOutcome", where
        text = resource["issue"][0]["details"]["text"]
        assert text, where
        kind = re.sub(r"[0-9]+", "N", re.sub(r"'[^']*'", "'X'", text))[:80]
        tally.messages[f"{status} {kind}"] += 1
    else:
        assert resource["resourceType"] in ("Parameters", "ValueSet"), where


def fuzz_settings(cases: int, derandomize: bool) -> settings:
    return settings(
        max_examples=cases,
        derandomize=derandomize,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


# -- quick profile: the Flask test client on the small release ---------------------------


def test_fuzz_quick(small_app: Any) -> None:
    client = small_app.test_client()

    def send(
        method: str, path: str, query: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, str]:
        r = client.open(path, method=method, query_string=query or None, data=body, headers=headers)
        return r.status_code, r.data, r.headers.get("Content-Type", "")

    ops = definitions(send)
    assert {(o.resource, o.code) for o in ops} >= {
        ("CodeSystem", "lookup"),
        ("CodeSystem", "validate-code"),
        ("CodeSystem", "subsumes"),
        ("ValueSet", "expand"),
        ("ValueSet", "validate-code"),
        ("ValueSet", "batch-validate-code"),
        ("ConceptMap", "translate"),
    }
    tally = Tally()

    @fuzz_settings(QUICK_CASES, derandomize=QUICK_SEED is None)
    @given(request(ops))
    def run(req: Request) -> None:
        check(send, req, tally)

    if QUICK_SEED is not None:
        run = seed(int(QUICK_SEED))(run)
    run()
    figures = tally.figures()
    print(json.dumps(figures, indent=1))
    assert figures["cases"] >= QUICK_CASES and figures["2xx"] and figures["4xx"], figures


# -- slow profile: real HTTP against a live server ----------------------------------------


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The root URL of the server to fuzz: FHIRTERM_FUZZ_BASE, else a `fhirterm serve`
    (two workers) on the small release started here."""
    if not os.environ.get("FHIRTERM_FUZZ_SLOW"):
        pytest.skip("the slow fuzz runs with FHIRTERM_FUZZ_SLOW=1 (pytest -m fuzz_slow)")
    if os.environ.get("FHIRTERM_FUZZ_BASE"):
        yield os.environ["FHIRTERM_FUZZ_BASE"].rstrip("/")
        return
    port = free_port()
    env = {"FHIRTERM_BASE_URL": f"http://127.0.0.1:{port}/fhir"}
    cache = tmp_path_factory.mktemp("fuzzcache")
    with live.start(env, workers=2, port=port, cache=cache) as server:
        yield server.root


@pytest.mark.fuzz_slow
@pytest.mark.server
def test_fuzz_slow(fuzz_server: str) -> None:
    import requests

    # a few keep-alive connections in turn, so that every worker gets requests
    sessions = [requests.Session() for _ in range(4)]
    turn = itertools.count()

    def send(
        method: str, path: str, query: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, str]:
        url = fuzz_server + path + (f"?{query}" if query else "")
        session = sessions[next(turn) % len(sessions)]
        r = session.request(method, url, data=body, headers=headers, timeout=120)
        return r.status_code, r.content, r.headers.get("Content-Type", "")

    ops = definitions(send)
    tally = Tally()

    @fuzz_settings(SLOW_CASES, derandomize=False)
    @given(request(ops))
    def run(req: Request) -> None:
        check(send, req, tally)

    run()
    figures = {"server": fuzz_server, **tally.figures()}
    print(json.dumps(figures))
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "fuzz.json").write_text(json.dumps(figures, indent=1))
    assert figures["cases"] >= SLOW_CASES and figures["5xx"] == 0
