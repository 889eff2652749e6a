"""The human-readable pages: a page for every code, search, and browsing from the top.

A Flask blueprint mounted at ``/browse`` (``app.create_app``), rendered on the
server with Flask's Jinja2 templates (autoescaped: every text of the content
and every value a request carries is escaped). The pages read the same
content as the FHIR operations through ``operations.pages`` (a code page is
the code's ``$lookup`` answer arranged for a reader) and never call the
server over HTTP. They sit behind the fast path and the response cache, which
only answer FHIR operation paths, so the hot path does not see them; their
only cost there is one path test in ``headers.ResponseHeaders``, which gives
them a Content-Security-Policy that allows this blueprint's own stylesheet
and script and nothing from any other host.

Addresses (stable; docs/pages.md):

- ``/browse/``: the code systems, and search (``?q=``; ``&cs={id}`` for one code system)
- ``/browse/{code-system-id}``: a code system from the top (chapters, or its concepts)
- ``/browse/{code-system-id}/{code}``: a code, or a chapter (``13``) or block (``M99-M99``)
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from ...index import CodeSystemIndex
from ...operations import pages as model
from ...registry import Registry
from ..endpoints import State
from ..headers import PAGES

PREFIX = PAGES  # the one place the address is set is headers.PAGES
NOTE_LABELS = {
    "note": "Note",
    "includes": "Includes",
    "inclusion-term": "Inclusion terms",
    "excludes1": "Excludes1",
    "excludes2": "Excludes2",
    "code-first": "Code first",
    "use-additional-code": "Use additional code",
    "code-also": "Code also",
    "seventh-character-note": "7th character note",
}
NOTE_HELP = {
    "excludes1": "never coded together with this code",
    "excludes2": "not included here; both may be coded when both are present",
    "inclusion-term": "conditions classified to this code",
}
MAX_QUERY = 200  # characters of a search read (a longer query is cut, and the page says so)
PER_SYSTEM = 25  # results per code system on the result page
AS_YOU_TYPE = 10  # results per code system in the list shown while typing


def _registry() -> Registry:
    st: State = current_app.extensions["fhirterm"]
    # The pages show the content of the newest FHIR release the server speaks (R5): the
    # shared content plus FHIR's own R5 code systems.
    return st.content(True)


def _shared(cs: CodeSystemIndex) -> bool:
    st: State = current_app.extensions["fhirterm"]
    return (cs.info.version or "") in st.registry.code_systems.get(cs.info.url, {})


def lookup_url(cs: CodeSystemIndex, code: str, newest: bool) -> str:
    """The address of the FHIR ``$lookup`` of ``code`` (at ``/fhir`` for the shared
    content, at ``/r5`` for FHIR's own R5 code systems)."""
    base = "fhir" if _shared(cs) else "r5"
    args: dict[str, Any] = {"system": cs.info.url, "code": code}
    if not newest and cs.info.version:
        args["version"] = cs.info.version
    return url_for(f"{base}.CodeSystem_lookup", **args)


def read_url(cs: CodeSystemIndex) -> str:
    """The address of the FHIR read of the code system (``/fhir`` or ``/r5``, as above)."""
    return url_for(f"{'fhir' if _shared(cs) else 'r5'}.cs_read", id_=cs.info.id)


# what a path segment may hold unescaped (RFC 3986 pchar, as werkzeug's url building keeps it)
_SAFE = "!$&'()*+,;=:@-._~"


def href(cs_id: str, code: str | None = None) -> str:
    """The address of a code system's page, or of one of its codes (or groupings).

    Built by hand rather than by ``url_for`` (~15 µs a call, and a code page holds
    dozens of links); the same address ``url_for`` gives for ``pages.code``.
    """
    root = f"{request.script_root}{PREFIX}/{quote(cs_id, safe=_SAFE)}"
    return root if code is None else f"{root}/{quote(code, safe=_SAFE)}"


def long_date(value: str | None) -> str:
    """``2026-05-08`` as ``May 8, 2026`` (any other text unchanged)."""
    if not value:
        return ""
    try:
        d = dt.date.fromisoformat(value[:10])
    except ValueError:
        return value
    return f"{d:%B} {d.day}, {d.year}"


def _html(template: str, status: int = 200, **ctx: Any) -> Response:
    body = render_template(template, **ctx)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


def _query() -> tuple[str, bool]:
    q = request.args.get("q", "")
    return q[:MAX_QUERY], len(q) > MAX_QUERY


def pages_blueprint() -> Blueprint:
    """The pages, mountable at ``PREFIX``; the host app holds a ``State`` as ``create_app`` does."""
    bp = Blueprint(
        "pages",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/_static",
    )
    bp.add_app_template_filter(long_date, "long_date")

    @bp.context_processor
    def common() -> dict[str, Any]:
        return {
            "note_labels": NOTE_LABELS,
            "note_help": NOTE_HELP,
            "lookup_url": lookup_url,
            "read_url": read_url,
            "href": href,
        }

    @bp.get("/")
    def home() -> Response:
        reg = _registry()
        q, cut = _query()
        scope = None
        if cs_id := request.args.get("cs"):
            scope = model.code_system(reg, cs_id)
        partial = request.args.get("partial") == "1"
        jump = _jump(reg, q, scope) if q.strip() else None
        if jump is not None and not partial:
            return redirect(url_for("pages.code", cs_id=jump[0], code=jump[1]), 302)  # type: ignore[return-value]
        hits = (
            model.search(reg, q, scope, AS_YOU_TYPE if partial else PER_SYSTEM) if q.strip() else []
        )
        ctx: dict[str, Any] = {"q": q, "cut": cut, "hits": hits, "scope": scope, "jump": jump}
        if partial:
            return _html("results.html", **ctx)
        return _html("home.html", systems=model.systems(reg), **ctx)

    @bp.get("/<cs_id>")
    def system(cs_id: str) -> Response:
        reg = _registry()
        cs = model.code_system(reg, cs_id)
        if cs is None:
            return _missing(reg, None, cs_id)
        return _html("system.html", page=model.system_page(reg, cs), cs=cs)

    @bp.get("/<cs_id>/<path:code>")
    def code(cs_id: str, code: str) -> Response:
        reg = _registry()
        cs = model.code_system(reg, cs_id)
        if cs is None:
            return _missing(reg, None, cs_id)
        if code in cs.concepts:
            page = model.code_page(reg, cs, code)
            return _html("code.html", page=page, cs=cs)
        if code in cs.groupings:
            return _html("grouping.html", page=model.grouping_page(reg, cs, code), cs=cs)
        found = model.find(reg, cs, code)
        if found is not None:
            return redirect(url_for("pages.code", cs_id=cs_id, code=found), 302)  # type: ignore[return-value]
        return _missing(reg, cs, code)

    @bp.get("/<cs_id>/<path:code>/")
    def trailing(cs_id: str, code: str) -> Response:
        return redirect(url_for("pages.code", cs_id=cs_id, code=code), 302)  # type: ignore[return-value]

    return bp


def _jump(reg: Registry, q: str, scope: CodeSystemIndex | None) -> tuple[str, str] | None:
    """(code system id, code) when the query names a code (or a variant of one, such as
    ``m99.44`` or ``M9944``) of the code system searched, or of any code system."""
    targets = (
        [scope]
        if scope is not None
        else [
            cs
            for cs in reg.all_code_systems()
            if reg.versions(cs.info.url)[0] == (cs.info.version or "")
        ]
    )
    for cs in targets:
        found = model.find(reg, cs, q)
        if found is not None:
            return cs.info.id, found
    return None


def _missing(reg: Registry, cs: CodeSystemIndex | None, what: str) -> Response:
    """A 404 page: the code (or code system) is unknown; the search for it, if any."""
    hits = model.search(reg, what, cs, PER_SYSTEM) if cs is not None and what.strip() else []
    return _html(
        "missing.html",
        status=404,
        cs=cs,
        what=what[:MAX_QUERY],
        hits=hits,
        systems=model.systems(reg) if cs is None else [],
        q=what[:MAX_QUERY] if cs is not None else "",
    )
