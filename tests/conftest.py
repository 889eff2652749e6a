"""Shared fixtures: a small hand-made release, the full April 2026 release, apps and clients.

Markers are applied here, not by hand: a test that uses a fixture made with
``@full_release`` (directly or through another fixture) is marked ``full``, so
``-m "not full"`` never loads the full release; a test marked ``bench`` (it runs
a script of bench/) is skipped unless ``-m`` names ``bench``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from fhirterm.config import Settings
from fhirterm.loading import load_registry
from fhirterm.registry import Registry
from fhirterm.web import create_app

from . import live, shapes
from .live import REPO, SMALL_CONTENT, SMALL_XML

HERE = Path(__file__).parent
ICD = "http://hl7.org/fhir/sid/icd-10-cm"

_FULL_RELEASE = "_fhirterm_full_release"
F = TypeVar("F", bound=Callable[..., Any])


def full_release(fixture_function: F) -> F:
    """Tags a fixture function (under its ``@pytest.fixture``) as loading the full
    ICD-10-CM release or starting a server over it: every test whose fixtures include
    it is marked ``full`` by ``pytest_collection_modifyitems``."""
    setattr(fixture_function, _FULL_RELEASE, True)
    return fixture_function


def uses_full_release(item: pytest.Item) -> bool:
    """Whether any fixture in the test's closure is tagged with ``full_release``."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        getattr(d.func, _FULL_RELEASE, False)
        for defs in info.name2fixturedefs.values()
        for d in defs
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = str(config.getoption("markexpr") or "")
    for item in items:
        if uses_full_release(item) and item.get_closest_marker("full") is None:
            item.add_marker(pytest.mark.full)
        if item.get_closest_marker("bench") is not None and "bench" not in selected:
            item.add_marker(pytest.mark.skip(reason="benchmark smoke test: run with -m bench"))


@pytest.fixture(scope="session", autouse=True)
def fhir_shapes() -> Iterator[None]:
    """Every FHIR response a test gets from a Flask test client, or from a live server
    through ``requests`` (the conformance runner, fhirpy's and fhirclient's sync clients),
    is checked as its release's resource (``shapes.check``): a test that meets an invalid
    body fails at the request."""
    open_ = FlaskClient.open
    send = requests.Session.send

    def checked(self: FlaskClient, *args: Any, **kwargs: Any) -> Any:
        resp = open_(self, *args, **kwargs)
        req = resp.request  # get_data buffers a streamed body, so the test still reads it
        path = req.full_path.rstrip("?")
        shapes.check(req.method, path, resp.content_type or "", resp.get_data())
        return resp

    def checked_send(
        self: requests.Session, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        resp = send(self, request, **kwargs)
        if not kwargs.get("stream"):  # .content of a stream would read it before the caller
            url = urlsplit(request.url or "")
            path = url.path + (f"?{url.query}" if url.query else "")
            ctype = resp.headers.get("Content-Type", "")
            shapes.check(request.method or "", path, ctype, resp.content)
        return resp

    checked.__wrapped__ = open_  # type: ignore[attr-defined]  # the unchecked request
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FlaskClient, "open", checked)
        mp.setattr(requests.Session, "send", checked_send)
        yield


@pytest.fixture(autouse=True)
def _stand_in_servers(request: pytest.FixtureRequest) -> Iterator[None]:
    """No shape check for a test marked ``not_fhirterm`` (its servers are stand-ins)."""
    if request.node.get_closest_marker("not_fhirterm") is None:
        yield
        return
    shapes.paused = True
    try:
        yield
    finally:
        shapes.paused = False


def small_settings(tmp: Path | None = None, **kw: object) -> Settings:
    return Settings(content_dir=SMALL_CONTENT, icd10cm=(str(SMALL_XML),), cache_dir=tmp, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def small_registry() -> Registry:
    return load_registry(small_settings())


@pytest.fixture(scope="session")
def small_app(small_registry: Registry):  # type: ignore[no-untyped-def]
    return create_app(small_settings(), small_registry)


@pytest.fixture()
def client(small_app):  # type: ignore[no-untyped-def]
    return small_app.test_client()


@pytest.fixture(scope="session")
@full_release
def full_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The bundled April 2026 release with the repository's codesystems/ content."""
    cache = Path(os.environ.get("FHIRTERM_TEST_CACHE", tmp_path_factory.mktemp("cache")))
    return load_registry(Settings(content_dir=REPO / "codesystems", cache_dir=cache))


@pytest.fixture(scope="session")
def full_app(full_registry: Registry):  # type: ignore[no-untyped-def]
    return create_app(Settings(content_dir=REPO / "codesystems"), full_registry)


@pytest.fixture()
def full_client(full_app):  # type: ignore[no-untyped-def]
    return full_app.test_client()


@pytest.fixture(scope="session")
@full_release
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `fhirterm serve` on a free port with the full content; yields the FHIR base."""
    with live.start(full=True, cache=tmp_path_factory.mktemp("srvcache")) as server:
        yield server.base
