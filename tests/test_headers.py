"""CORS and security headers on every path of the WSGI stack, and OPTIONS.

Requests go through ``create_wsgi`` (headers -> response cache -> fast path ->
Flask) with werkzeug's test client, so each path is seen: the fast path, a
replay of the response cache, Flask's views and its errors. The browser's
side follows the Fetch standard: a preflight is an OPTIONS request with
``Origin`` and ``Access-Control-Request-Method`` (and
``Access-Control-Request-Headers`` for the non-safelisted headers it will
send, lower-cased and comma-separated, as Chromium and Firefox send them).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from werkzeug.test import Client

from fhirterm.config import Settings
from fhirterm.registry import Registry
from fhirterm.web.app import create_wsgi
from fhirterm.web.headers import ALLOWED_METHODS, DEFAULT_ALLOWED_HEADERS, EXPOSED

from .conftest import ICD, small_settings

ORIGIN = "https://smart-app.example.org"
SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
LOOKUP = f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.44"
PARAMS = orjson.dumps(
    {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": ICD},
            {"name": "code", "valueCode": "M99.44"},
        ],
    }
)


def stack(registry: Registry, **kw: Any) -> Client:
    return Client(create_wsgi(small_settings(**kw), registry))


@pytest.fixture(scope="module")
def client(small_registry: Registry) -> Client:
    return stack(small_registry)


def check_headers(r: Any, error: bool) -> None:
    """Each header once, with its value; no-store on errors only; CORS for any origin."""
    for name, value in [
        *SECURITY.items(),
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", EXPOSED),
    ]:
        assert r.headers.getlist(name) == [value], name
    assert r.headers.getlist("Cache-Control") == (["no-store"] if error else [])


@pytest.mark.parametrize(
    "method, path, kw, status",
    [
        ("get", LOOKUP, {}, 200),  # the fast path
        ("get", f"/fhir/CodeSystem/$lookup?system={ICD}&code=X99", {}, 404),  # its error
        ("get", LOOKUP, {"headers": {"Accept": "application/fhir+json;q=0.9"}}, 200),  # Flask
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {"data": PARAMS, "content_type": "application/fhir+json"},
            200,
        ),
        ("get", "/fhir/CodeSystem?_count=1", {}, 200),
        ("get", "/r5/CodeSystem/icd10cm", {}, 200),
        ("get", "/fhir/metadata", {}, 200),
        ("get", "/healthz", {}, 200),
        ("get", "/fhir/Nope", {}, 404),
        ("delete", "/fhir/CodeSystem/$lookup", {}, 405),
        ("get", "/fhir/metadata", {"headers": {"Accept": "text/html"}}, 406),
        ("get", "/fhir/CodeSystem?_count=-1", {}, 400),
        (
            "post",
            "/fhir/CodeSystem/$lookup",
            {"data": "{", "content_type": "application/fhir+json"},
            400,
        ),
    ],
)
def test_every_path_gets_the_headers(
    client: Client, method: str, path: str, kw: dict[str, Any], status: int
) -> None:
    headers = {"Origin": ORIGIN, **kw.pop("headers", {})}
    r = getattr(client, method)(path, headers=headers, **kw)
    assert r.status_code == status
    check_headers(r, error=status >= 400)


def test_replayed_responses_get_the_headers_once(small_registry: Registry) -> None:
    c = stack(small_registry)
    answers = [c.get(LOOKUP) for _ in range(4)]  # stored the second time, replayed after
    assert len({a.data for a in answers}) == 1
    for a in answers:
        check_headers(a, error=False)
    bad = f"/fhir/CodeSystem/$lookup?system={ICD}&code=M99.99"
    for _ in range(4):  # 404s are stored and replayed too
        r = c.get(bad)
        assert r.status_code == 404
        check_headers(r, error=True)


def test_preflight(client: Client) -> None:
    r = client.options(
        "/fhir/CodeSystem/$validate-code",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,prefer",
        },
    )
    assert r.status_code == 204 and r.data == b""
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Methods"] == ALLOWED_METHODS
    assert r.headers["Access-Control-Allow-Headers"] == "authorization,content-type,prefer"
    assert r.headers["Access-Control-Max-Age"] == "7200"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # no header list, or one that is not a list of header names: the default list
    for asked in (None, "x-a\x7f", "a b", "x" * 2000):
        h = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
        if asked is not None:
            h["Access-Control-Request-Headers"] = asked
        r = client.options("/fhir/metadata", headers=h)
        assert r.headers["Access-Control-Allow-Headers"] == DEFAULT_ALLOWED_HEADERS


def test_plain_options_is_204_with_allow(client: Client) -> None:
    for path in ("/fhir/metadata", "/fhir/CodeSystem", "/r5/ValueSet/x/$expand", "/healthz"):
        r = client.options(path)
        assert r.status_code == 204 and r.data == b"" and r.mimetype != "text/html"
        assert r.headers["Allow"] == ALLOWED_METHODS
        assert "Access-Control-Allow-Methods" not in r.headers  # not a preflight


def test_listed_origins(small_registry: Registry) -> None:
    c = stack(small_registry, cors_origins=(ORIGIN, "http://localhost:3000"))
    r = c.get(LOOKUP, headers={"Origin": ORIGIN})
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert r.headers["Access-Control-Expose-Headers"] == EXPOSED
    assert "Origin" in r.headers.getlist("Vary")
    r = c.get(LOOKUP, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Origin" in r.headers.getlist("Vary") and r.headers["X-Frame-Options"] == "DENY"
    pre = {"Access-Control-Request-Method": "GET"}
    r = c.options("/fhir/metadata", headers={"Origin": "http://localhost:3000", **pre})
    assert (
        r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    )
    r = c.options("/fhir/metadata", headers={"Origin": "https://evil.example", **pre})
    assert r.status_code == 204 and "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Methods" not in r.headers


def test_cors_off(small_registry: Registry) -> None:
    c = stack(small_registry, cors_origins=())
    r = c.get(LOOKUP, headers={"Origin": ORIGIN})
    assert r.status_code == 200
    assert not [k for k, _ in r.headers.items() if k.startswith("Access-Control-")]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = c.options(
        "/fhir/metadata", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    )
    assert r.status_code == 204 and "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize(
    "value, expected",
    [
        ("*", ("*",)),
        ("none", ()),
        ("", ()),
        (
            "https://a.example, http://localhost:3000/",
            ("https://a.example", "http://localhost:3000"),
        ),
    ],
)
def test_cors_setting(value: str, expected: tuple[str, ...]) -> None:
    assert Settings.from_env({"FHIRTERM_CORS_ORIGINS": value}).cors_origins == expected
    assert Settings.from_env({}).cors_origins == ("*",)


@pytest.mark.parametrize("value", ["a.example", "https://a.example/path", "ftp://a.example"])
def test_cors_setting_refuses_what_is_not_an_origin(value: str) -> None:
    with pytest.raises(ValueError, match="FHIRTERM_CORS_ORIGINS"):
        Settings.from_env({"FHIRTERM_CORS_ORIGINS": value})
