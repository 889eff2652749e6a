"""Operation parameters from a query string or a Parameters resource.

Every parameter a client sends is accounted for: an operation reads the
names it knows and ``Params.check`` rejects the rest, so nothing is silently
dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

# registers the "werkzeug.url_quote" codec error handler: parse_query decodes as
# werkzeug's request.args does
import werkzeug.urls  # noqa: F401

from ..errors import InvalidRequest
from ..memo import Memo
from ..model import Coding
from . import checks
from .opdefs import INTEGERS, RESOURCE_TYPES, STRINGS, Operation, Param

# Parameters that belong to the exchange, not to one operation: the format,
# and ``uuid``, a client's identifier for the request (the HL7 test suite
# sends one with every request), which the server logs.
GENERAL = frozenset({"_format", "_pretty", "uuid"})


@dataclass(slots=True)
class Params:
    """An ordered multi-map of parameter name -> (FHIR type, value).

    From a query string every value is a string; from a Parameters body the
    type is the value[x] suffix (``Coding``, ``code``...), ``resource`` or
    ``part`` (a nested Params). ``items`` is read-only after construction
    except through ``take``: a name index is built with it, because an
    operation asks for a dozen names and most are absent (each accessor
    answers an absent name with one dict lookup).
    """

    items: list[tuple[str, str, Any]] = field(default_factory=list)
    from_query: bool = False
    _by_name: dict[str, list[tuple[str, Any]]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        ix = self._by_name
        for n, t, v in self.items:
            if n in ix:
                ix[n].append((t, v))
            else:
                ix[n] = [(t, v)]

    def take(self, name: str) -> list[tuple[str, Any]]:
        """Remove every ``name`` parameter and return their (type, value) pairs."""
        taken = self._by_name.pop(name, None)
        if not taken:
            return []
        self.items = [it for it in self.items if it[0] != name]
        return taken

    def names(self) -> set[str]:
        return set(self._by_name)

    def all(self, name: str) -> list[tuple[str, Any]]:
        return self._by_name.get(name, [])

    def check(self, allowed: Collection[str], operation: str) -> None:
        """InvalidRequest naming the first parameter ``operation`` does not take."""
        for n, _, _ in self.items:
            if n not in allowed and n not in GENERAL:
                expected = ", ".join(sorted(set(allowed) - GENERAL))
                raise InvalidRequest(
                    f"Unknown parameter '{n}' for {operation}; expected one of: {expected}",
                    expression=n,
                )

    def check_operation(self, op: Operation) -> None:
        """InvalidRequest for the first parameter ``op`` does not take, takes once but was
        sent more often, or sent with a value of another type than ``op`` declares.

        Names ``op`` refuses (``op.refused``) pass: the request parser answers them with a
        message of their own.
        """
        by_name = op.by_name
        for n, t, v in self.items:
            param = by_name.get(n)
            if param is None:
                if n in GENERAL or n in op.refused:
                    continue
                expected = ", ".join(sorted(p.name for p in op.inputs))
                raise InvalidRequest(
                    f"Unknown parameter '{checks.shown(n)[1:-1]}' for {op.resource}/${op.code}; "
                    f"expected one of: {expected}",
                    expression=n,
                )
            if param.max == "1" and len(self._by_name[n]) > 1:
                raise InvalidRequest(
                    f"Parameter '{n}' may appear once, found {len(self._by_name[n])} times",
                    expression=n,
                )
            if param.type in STRINGS and (self.from_query or t in checks.STRING_TYPES):
                continue  # the common case: text, already checked to be a JSON string
            _check_type(param, t, v, self.from_query)

    def _one(self, name: str) -> tuple[str, Any] | None:
        vals = self._by_name.get(name)
        if vals is None:
            return None
        return _single(name, vals)

    # The accessors below look the name up themselves rather than through ``_one``: an
    # operation asks for a dozen names and most are absent, which is then one dict lookup
    # and no further call.

    def text(self, name: str) -> str | None:
        """A primitive parameter as text (code, uri, string, canonical...)."""
        vals = self._by_name.get(name)
        if vals is None:
            return None
        t, val = vals[0] if len(vals) == 1 else _single(name, vals)
        if t in ("Coding", "CodeableConcept", "resource", "part"):
            raise InvalidRequest(
                f"Parameter '{name}' must be a primitive value, found {t}", expression=name
            )
        if isinstance(val, bool):
            return "true" if val else "false"
        return str(val)

    def flag(self, name: str) -> bool | None:
        vals = self._by_name.get(name)
        if vals is None:
            return None
        _t, val = vals[0] if len(vals) == 1 else _single(name, vals)
        if isinstance(val, bool):
            return val
        if isinstance(val, str) and val in ("true", "false"):
            return val == "true"
        raise InvalidRequest(
            f"Parameter '{name}' must be true or false, found {val!r}", expression=name
        )

    def integer(self, name: str) -> int | None:
        v = self._one(name)
        if v is None:
            return None
        val = v[1]
        if isinstance(val, str) and self.from_query:
            return checks.integer_text(val, name)
        return checks.integer(val, name)

    def texts(self, name: str) -> tuple[str, ...]:
        vals = self._by_name.get(name)
        if not vals:
            return ()
        out: list[str] = []
        for t, val in vals:
            if t in ("Coding", "CodeableConcept", "resource", "part"):
                raise InvalidRequest(
                    f"Parameter '{name}' must be a primitive value, found {t}", expression=name
                )
            # A query may list several values separated by commas (property=parent,child)
            out.extend(x for x in str(val).split(",") if x) if self.from_query else out.append(
                str(val)
            )
        return tuple(out)

    def coding(self, name: str) -> Coding | None:
        vals = self._by_name.get(name)
        if vals is None:
            return None
        t, val = vals[0] if len(vals) == 1 else _single(name, vals)
        if t == "Coding":
            return coding_from_json(val, name)
        if self.from_query and isinstance(val, str):
            # Query form system|code (also system|version|code is not FHIR; keep it simple)
            system, sep, code = val.rpartition("|")
            if not sep:
                raise InvalidRequest(
                    f"Parameter '{name}' in a query must be written system|code, found {val!r}",
                    expression=name,
                )
            return Coding(system or None, code or None)
        raise InvalidRequest(f"Parameter '{name}' must be a Coding, found {t}", expression=name)

    def codeable_concept(self, name: str) -> tuple[Coding, ...] | None:
        vals = self._by_name.get(name)
        if vals is None:
            return None
        t, val = vals[0] if len(vals) == 1 else _single(name, vals)
        if t != "CodeableConcept" or not isinstance(val, dict):
            raise InvalidRequest(
                f"Parameter '{name}' must be a CodeableConcept (send it in a POST body)",
                expression=name,
            )
        codings = val.get("coding", [])
        if not isinstance(codings, list):
            raise InvalidRequest(f"{name}.coding must be an array", expression=f"{name}.coding")
        return tuple(coding_from_json(c, f"{name}.coding[{i}]") for i, c in enumerate(codings))


def _check_type(param: Param, t: str, v: Any, from_query: bool) -> None:
    """InvalidRequest unless ``v`` (of value[x] type ``t``; text from a query) is of the type
    ``param`` declares. Values from a body were checked against their own type when read."""
    name, declared = param.name, param.type or "part"
    if from_query:
        if declared == "boolean":
            if v not in ("true", "false"):
                raise InvalidRequest(
                    f"Parameter '{name}' must be true or false, found {checks.shown(v)}",
                    expression=name,
                )
        elif declared in INTEGERS:
            checks.integer_text(v, name)
        elif declared == "Coding":
            if "|" not in v:
                raise InvalidRequest(
                    f"Parameter '{name}' in a query must be written system|code, "
                    f"found {checks.shown(v)}",
                    expression=name,
                )
        elif declared not in STRINGS:
            raise InvalidRequest(
                f"Parameter '{name}' is a {declared}: send it in a POST body (Parameters)",
                expression=name,
            )
        return
    if declared in STRINGS:
        ok = t in checks.STRING_TYPES
        wanted = f"a {declared} (valueString, valueCode, valueUri...)"
    elif declared in INTEGERS:
        ok = t in INTEGERS
        wanted = "an integer (valueInteger)"
    elif declared in RESOURCE_TYPES:
        ok = t == "resource"
        wanted = f"a {declared} resource (resource)"
    else:
        ok = t == declared
        wanted = f"a {declared} (value{declared[0].upper()}{declared[1:]})"
    if not ok:
        found = {"resource": "a resource", "part": "parts"}.get(t, f"value{t[:1].upper()}{t[1:]}")
        raise InvalidRequest(f"Parameter '{name}' must be {wanted}, found {found}", expression=name)
    if t == "resource":
        checks.resource(v, name, None if declared == "Resource" else declared)


def _single(name: str, vals: list[tuple[str, Any]]) -> tuple[str, Any]:
    """The one value of a parameter sent ``vals`` (never empty); InvalidRequest when it was
    sent several times."""
    if len(vals) > 1:
        raise InvalidRequest(
            f"Parameter '{name}' may appear once, found {len(vals)} times", expression=name
        )
    return vals[0]


def coding_from_json(val: Any, where: str) -> Coding:
    if not isinstance(val, dict):
        raise InvalidRequest(f"{where} must be a Coding object", expression=where)
    for k in ("system", "code", "version", "display"):
        if k in val and not isinstance(val[k], str):
            raise InvalidRequest(f"{where}.{k} must be a string", expression=f"{where}.{k}")
    return Coding(val.get("system"), val.get("code"), val.get("version"), val.get("display"))


_DECODED_MAX = 4096
_DECODED: Memo[str, str] = Memo(_DECODED_MAX)  # escaped name or value -> decoded (_unquote)


def _unquote(raw: str) -> str:
    # Clients repeat the same escaped strings (system=http%3A%2F%2F...) in every
    # request, and decoding them is a good part of reading a query: remember the
    # recent ones.
    out = _DECODED.get(raw)
    if out is None:
        # Text such as a display escapes only spaces and commas, and is seldom sent
        # twice: replaced in place (the same text as the general decoding when no
        # other escape is left, as each '%' was one of those) and not remembered,
        # so it does not push the repeated strings out of the memo.
        plain = raw.replace("+", " ").replace("%20", " ").replace("%2C", ",")
        if "%" not in plain:
            return plain
        # the bytes the escapes stand for, decoded once: the same text as
        # urllib.parse.unquote(..., errors=...) gives, in about half the time
        # (unquote decodes each run of escapes separately)
        out = unquote_to_bytes(raw.replace("+", " ")).decode("utf-8", "werkzeug.url_quote")
        _DECODED.put(raw, out)
    return out


def parse_query(qs: str) -> list[tuple[str, str]]:
    """Name/value pairs of a query string, in order, blank values kept.

    The same pairs as werkzeug's ``request.args`` (``urllib.parse.parse_qsl``
    with ``keep_blank_values`` and invalid bytes left percent-encoded), so a
    query means the same on the fast path and through Flask; several times
    cheaper, because most names and values have nothing to decode and the
    escaped ones repeat.
    """
    out: list[tuple[str, str]] = []
    for part in qs.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "+" in name or "%" in name:
            name = _unquote(name)
        if "+" in value or "%" in value:
            value = _unquote(value)
        out.append((name, value))
    return out


def from_query(pairs: Iterable[tuple[str, str]]) -> Params:
    return Params([(k, "string", v) for k, v in pairs], from_query=True)


def from_parameters(body: Any) -> Params:
    """Read a Parameters resource; InvalidRequest when it is not one."""
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        found = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
        raise InvalidRequest(
            f"The request body must be a Parameters resource, found {found!r}",
            expression="resourceType",
        )
    return Params(_items(body.get("parameter", []), "Parameters.parameter"))


_BOOLEAN_TEXT = {"true": True, "false": False}


def _items(params: Any, where: str) -> list[tuple[str, str, Any]]:
    if not isinstance(params, list):
        raise InvalidRequest(f"{where} must be an array", expression=where)
    out: list[tuple[str, str, Any]] = []
    for i, p in enumerate(params):
        w = f"{where}[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise InvalidRequest(f"{w} must be an object with a name", expression=w)
        values = [k for k in p if k.startswith("value")]
        if len(values) > 1:
            raise InvalidRequest(f"{w} ('{p['name']}') has more than one value[x]", expression=w)
        if values:
            suffix, value = values[0][5:], p[values[0]]
            if suffix == "Boolean" and isinstance(value, str) and value in _BOOLEAN_TEXT:
                # FHIR's lexical form of a boolean, which some clients put in a JSON string
                # (the HL7 test suite does, batch/batch-validate-bad): that exact text only
                value = _BOOLEAN_TEXT[value]
            try:
                checks.value_x(suffix, value, f"{w}.{values[0]}")
            except InvalidRequest as e:
                raise InvalidRequest(
                    f"Parameter '{checks.shown(p['name'])[1:-1]}': {e.message}",
                    expression=e.expression,
                ) from None
            # the type as FHIR names it (valueCode -> code, valueCoding -> Coding)
            t = suffix[0].lower() + suffix[1:]
            if t not in checks.PRIMITIVES:
                t = suffix
            out.append((p["name"], t, value))
        elif "resource" in p:
            out.append((p["name"], "resource", p["resource"]))
        elif "part" in p:
            out.append((p["name"], "part", Params(_items(p["part"], f"{w}.part"))))
        else:
            raise InvalidRequest(f"{w} ('{p['name']}') has no value", expression=w)
    return out
