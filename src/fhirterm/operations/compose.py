"""The compose compiler: a ValueSet resource -> ``CompiledValueSet`` (``valueset.py``).

Both uses compile through here: $expand (``compile_value_set``: every code system,
filter and imported value set must resolve, else the request fails) and both
$validate-code (``compile_for_validation``: what does not resolve is reported by the
validation, not raised). Imported value sets (``valueSet`` of an include or exclude,
``#id`` for a contained one) are compiled with their importer, with cycle detection;
implicit value sets (``{system}?fhir_vs``, ``?fhir_vs=isa/{code}``) come from a
synthetic compose. The code system version an include means is resolved by
``versions.resolve``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import (
    CircularValueSet,
    InvalidRequest,
    InvalidValueSet,
    NotFound,
    NotSupported,
    VersionMismatch,
)
from ..index import CodeSystemIndex
from ..memo import Memo, memo_in
from ..model import Designation
from ..registry import Registry
from . import messages as M
from .contracts import VersionRules
from .filters import compile_filter, filter_op
from .valueset import CompiledValueSet, Include, vurl
from .versions import NO_RULES, present_versions, resolve

IMPLICIT_MEMO = "valueset.implicit"  # key of the implicit value set memo in Registry.derived
# Enough for the is-a value set of every category of ICD-10-CM (1,918 in the 2026 release),
# which clients validating against "the category of this code" go through: emptied when
# full, a smaller memo would be emptied every few hundred requests. About 1.1 KB each.
IMPLICIT_MEMO_MAX = 2048


def registry_implicit(registry: Registry, url: str) -> dict[str, Any] | None:
    """``implicit(url)``, built once per registry and url and remembered in
    ``registry.derived`` (a per-request registry has its own; bounded: emptied when full).

    The same resource is answered for the same url: like the registry's own resources, it
    is read-only.
    """
    memo: Memo[str, dict[str, Any]] = memo_in(registry.derived, IMPLICIT_MEMO, IMPLICIT_MEMO_MAX)
    vs = memo.get(url)
    if vs is None:
        vs = implicit(url)
        if vs is not None:
            memo.put(url, vs)
    return vs


def implicit(url: str) -> dict[str, Any] | None:
    """The ValueSet behind an implicit url (``{system}?fhir_vs[=isa/{code}]``), else None.

    Raises NotSupported for a ``fhir_vs`` form other than these two.
    """
    system, sep, query = url.partition("?")
    if not sep or not query.startswith("fhir_vs"):
        return None
    include: dict[str, Any] = {"system": system}
    _, eq, rest = query.partition("=")
    if eq:
        if not rest.startswith("isa/") or len(rest) <= 4:
            raise NotSupported(
                f"Implicit value set '{url}' is not supported; use {system}?fhir_vs or "
                f"{system}?fhir_vs=isa/CODE",
                expression="url",
            )
        include["filter"] = [{"property": "concept", "op": "is-a", "value": rest[4:]}]
    return {
        "resourceType": "ValueSet",
        "url": url,
        "status": "active",
        "compose": {"include": [include]},
    }


def find_value_set(
    registry: Registry, ref: str, vs_defaults: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """The value set a reference (``url`` or ``url|version``, not ``#id``) names, implicit
    ones included; one without a version takes ``vs_defaults`` (default-valueset-version)."""
    url, _, version = ref.partition("|")
    version = version or (vs_defaults or {}).get(url, "")
    return registry_implicit(registry, url) or registry.canonical("ValueSet", url, version or None)


def resolve_value_set(registry: Registry, url: str, version: str | None = None) -> dict[str, Any]:
    """The ValueSet resource for ``url`` (implicit ones included); NotFound otherwise."""
    vs = implicit(url) or registry.canonical("ValueSet", url, version)
    if vs is None:
        v = f" version '{version}'" if version else ""
        raise NotFound(f"A definition for the value set '{url}'{v} could not be found")
    return vs


def include_code_system(
    registry: Registry,
    system: str,
    version: str | None,
    versions: VersionRules | None = None,
    action: str = "expanded",
) -> CodeSystemIndex:
    """The code system version an include (or exclude) of ``system`` draws on.

    ``version`` is the one the compose states (a wildcard such as ``1.x`` picks the newest
    match); ``versions`` are the request's system-version rules (force, default, check).
    Raises NotFound for an unknown system or version, VersionMismatch when a
    check-system-version rule rejects the version.
    """
    found = resolve(registry, versions or NO_RULES, system, version)
    cs = found.cs
    if cs is None:
        if not registry.has_system(system):
            # raises NotFound naming the system
            return registry.code_system(system, found.version or None)
        raise NotFound(
            f"A definition for CodeSystem '{system}' version '{found.version}' could not be "
            f"found, so the value set cannot be {action}. Valid versions: "
            f"{present_versions(registry, system)}"
        )
    if found.violated is not None and cs.info.version:
        raise VersionMismatch(
            f"The version '{cs.info.version}' is not allowed for system '{system}': "
            f"required to be '{found.violated}' by a version-check parameter"
        )
    return cs


class UnresolvedImport(Exception):
    """A value set a compose imports is not known (validation reports it as its answer)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name  # the reference, with the default version it was looked for in


@dataclass(slots=True)
class Compiler:
    """Compiles one request's value sets. ``lenient`` (validation): a code system that is
    not known is left unresolved (``Include.cs`` None), filters are compiled when a code is
    tested (``Include.holds``), and an unknown import raises UnresolvedImport."""

    registry: Registry
    versions: VersionRules | None = None
    vs_defaults: dict[str, str] | None = None
    versions_match: bool | None = None
    lenient: bool = False

    def value_set(
        self,
        vs: dict[str, Any],
        stack: tuple[str, ...] = (),
        contained: dict[str, dict[str, Any]] | None = None,
    ) -> CompiledValueSet:
        """``vs`` compiled, its imports too; ``stack``: the value sets importing it."""
        name = vurl(vs)
        if name in stack:
            raise CircularValueSet(M.VS_CIRCULAR.format(url=name, path=", ".join(stack)))
        stack = (*stack, name)
        if contained is None:
            # "#id" imports name a resource contained in the value set (for a contained
            # value set: in its container)
            contained = {
                str(r["id"]): r
                for r in vs.get("contained", [])
                if isinstance(r, dict) and r.get("resourceType") == "ValueSet" and r.get("id")
            }
        compose = vs.get("compose")
        if not isinstance(compose, dict):
            raise InvalidRequest(
                f"The value set '{name}' has no compose to evaluate", expression="compose"
            )
        parts = {
            kind: [
                self.include(inc, f"compose.{kind}[{i}]", stack, contained)
                for i, inc in enumerate(compose.get(kind) or [])
            ]
            for kind in ("include", "exclude")
        }
        return CompiledValueSet(
            vs.get("url"),
            vs.get("version"),
            vs,
            parts["include"],
            parts["exclude"],
            compose.get("inactive"),
            versions_match=versions_match_of(compose, self.versions_match),
        )

    def include(
        self, inc: Any, where: str, stack: tuple[str, ...], contained: dict[str, dict[str, Any]]
    ) -> Include:
        """One include or exclude, at ``where`` (``compose.include[0]``)."""
        if not isinstance(inc, dict):
            raise InvalidRequest(f"{where} must be an object", expression=where)
        system = inc.get("system")
        filters = inc.get("filter") or []
        cs = None
        if self.lenient:
            cs = (
                self.registry.find_code_system(system, inc.get("version") or None)
                if system
                else None
            )
            imported = self.imports(inc, stack, contained)
            for j, f in enumerate(filters):
                if f.get("value") in (None, ""):
                    raise InvalidValueSet(
                        M.FILTER_NO_VALUE.format(
                            system=system, prop=f.get("property"), op=filter_op(f)
                        ),
                        expression=f"ValueSet.{where}.filter[{j}]",
                    )
            compiled = []
        else:
            if system:
                cs = include_code_system(self.registry, system, inc.get("version"), self.versions)
            elif "concept" in inc or "filter" in inc:
                raise InvalidRequest(
                    f"{where} lists concepts or filters without a system",
                    expression=f"{where}.system",
                )
            compiled = (
                [compile_filter(cs, f, f"{where}.filter[{i}]") for i, f in enumerate(filters)]
                if cs is not None
                else []
            )
            imported = self.imports(inc, stack, contained)
            if cs is None and not imported:
                raise InvalidRequest(f"{where} needs a system or a valueSet", expression=where)
        out = Include(
            cs, filters=compiled, value_sets=imported, stated_version=inc.get("version") or None
        )
        out.system, out.filter_defs = system, tuple(filters)
        out.refs = tuple(inc.get("valueSet") or ())
        if "concept" in inc:
            _concepts(out, inc["concept"])
        return out

    def imports(
        self, inc: dict[str, Any], stack: tuple[str, ...], contained: dict[str, dict[str, Any]]
    ) -> list[CompiledValueSet]:
        """The value sets ``inc`` imports, compiled in their order."""
        out = []
        for ref in inc.get("valueSet") or []:
            if isinstance(ref, str) and ref.startswith("#"):
                local = contained.get(ref[1:])
                if local is None:
                    if self.lenient:
                        raise UnresolvedImport(self._name(ref))
                    raise NotFound(
                        f"A definition for the value set '{ref}' could not be found: the value "
                        "set contains no ValueSet with that id"
                    )
                compiled = self.value_set(local, stack, contained)
                compiled.contained = True
            else:
                target = find_value_set(self.registry, ref, self.vs_defaults)
                if target is None:
                    if self.lenient:
                        raise UnresolvedImport(self._name(ref))
                    pinned = (self.vs_defaults or {}).get(ref) if "|" not in ref else None
                    v = f" version '{pinned}'" if pinned else ""
                    raise NotFound(f"A definition for the value set '{ref}'{v} could not be found")
                compiled = self.value_set(target, stack)
            out.append(compiled)
        return out

    def _name(self, ref: str) -> str:
        default = (self.vs_defaults or {}).get(ref)
        return f"{ref}|{default}" if default else ref


def _concepts(inc: Include, listed: list[Any]) -> None:
    """The compose's concept list of ``inc``: codes with their displays, extensions and
    designations."""
    inc.concepts = {c.get("code"): c.get("display") for c in listed}
    entries: dict[str, dict[str, Any]] = {}
    for c in listed:
        entries.setdefault(c.get("code"), c)
    inc.entries = entries
    inc.concept_extensions = {
        c["code"]: tuple(c["extension"])
        for c in listed
        if c.get("code") and isinstance(c.get("extension"), list)
    }
    inc.concept_designations = {
        c["code"]: tuple(
            Designation(
                str(d.get("value", "")),
                d.get("language"),
                d.get("use"),
                tuple(x for x in d.get("extension", []) if isinstance(x, dict)),
            )
            for d in c["designation"]
            if isinstance(d, dict)
        )
        for c in listed
        if c.get("code") and isinstance(c.get("designation"), list)
    }


def compile_value_set(
    registry: Registry,
    vs: dict[str, Any],
    versions: VersionRules | None = None,
    vs_defaults: dict[str, str] | None = None,
    versions_match: bool | None = None,
) -> CompiledValueSet:
    """Compile a ValueSet resource for expansion; imports recursively, with cycle detection.

    ``versions`` (system-version, check-system-version, force-system-version, the date of
    service) choose the code system versions; ``vs_defaults`` (url -> version,
    default-valueset-version) the versions of imported value sets referenced without one.
    Raises InvalidRequest for a malformed compose, NotFound for an unknown code system,
    code or imported value set, NotSupported for an operator we do not do,
    CircularValueSet for an import cycle, VersionMismatch when a version check fails.
    ``versions_match`` is the request's versionsMatch (None: not sent; see
    ``versions_match_of``).
    """
    return Compiler(registry, versions, vs_defaults, versions_match).value_set(vs)


VALIDATION_MEMO = "compose.validation"  # key of the memo in Registry.derived
# As many as the implicit value sets kept (IMPLICIT_MEMO_MAX): kept by the identity of the
# resource, so a smaller memo would lose the compiled forms of value sets still kept.
VALIDATION_MEMO_MAX = 2048


def compile_for_validation(
    registry: Registry,
    vs: dict[str, Any],
    vs_defaults: dict[str, str] | None = None,
    remember: bool = False,
) -> CompiledValueSet:
    """Compile a ValueSet resource for $validate-code (``Compiler.lenient``).

    Raises InvalidRequest for a malformed compose, InvalidValueSet for a filter without a
    value, CircularValueSet for an import cycle, UnresolvedImport for an unknown import.
    With ``remember`` (a value set that outlives the request: the registry's, an implicit
    one) and no ``vs_defaults``, the compiled form is kept in ``registry.derived`` (a
    per-request registry has its own; adding content empties it) and used again, by
    identity of the resource: resources are read-only. Bounded (emptied when full).
    """
    if not remember or vs_defaults:
        return Compiler(registry, vs_defaults=vs_defaults, lenient=True).value_set(vs)
    memo: Memo[int, CompiledValueSet] = memo_in(
        registry.derived, VALIDATION_MEMO, VALIDATION_MEMO_MAX
    )
    compiled = memo.get(id(vs))
    # the entry holds ``vs`` itself, so its id is not reused while the entry lives
    if compiled is None or compiled.resource is not vs:
        compiled = memo.put(id(vs), Compiler(registry, lenient=True).value_set(vs))
    return compiled


EXPANSION_PARAMETER = "http://hl7.org/fhir/StructureDefinition/valueset-expansion-parameter"


def compose_parameter(compose: dict[str, Any], name: str) -> Any:
    """The value a compose's expansion-parameter extension gives ``name``, else None."""
    for ext in compose.get("extension", []) or []:
        if not isinstance(ext, dict) or ext.get("url") != EXPANSION_PARAMETER:
            continue
        parts = {e.get("url"): e for e in ext.get("extension", []) if isinstance(e, dict)}
        if (parts.get("name") or {}).get("valueCode") != name:
            continue
        return next(
            (v for k, v in (parts.get("value") or {}).items() if k.startswith("value")), None
        )
    return None


def versions_match_of(compose: dict[str, Any], requested: bool | None = None) -> bool:
    """Whether the versions of a code system the compose names are taken to match.

    The request's versionsMatch, else the compose's expansion parameter (a boolean, or the
    text true/false), else inferred: a compose whose includes and excludes all name one code
    system, each with a version, and exclude only versions it does not include, subtracts one
    version from another by code (the "what is new in version 2" value set).
    """
    if requested is not None:
        return requested
    stated = compose_parameter(compose, "versionsMatch")
    if isinstance(stated, bool):
        return stated
    if isinstance(stated, str) and stated.strip().lower() in ("true", "false"):
        return stated.strip().lower() == "true"
    includes = [i for i in compose.get("include", []) or [] if isinstance(i, dict)]
    excludes = [e for e in compose.get("exclude", []) or [] if isinstance(e, dict)]
    if not includes or not excludes:
        return False
    system = includes[0].get("system")
    parts = [*includes, *excludes]
    if not system or any(p.get("system") != system or not p.get("version") for p in parts):
        return False
    return not {i["version"] for i in includes} & {e["version"] for e in excludes}
