"""Compare a server response with an expected response of the tx-ecosystem suite.

The verdict is the reference runner's: `CompareUtilities.compareObjects / compareNodes /
matches` (hapifhir/org.hl7.fhir.core, org.hl7.fhir.r5/.../test/utils/CompareUtilities.java,
reimplemented here, not copied). The actual document has already been scrubbed and sorted
as TxTester does (normalize.py). The rules:

* objects (`compareObjects`): every property of the actual must be in the expected object
  or named in its `$optional-properties$` (not in pattern mode, used for the metadata
  tests); every expected property must be in the actual unless it is `$optional$`, named in
  `$optional-properties$` (`*` = all), or its value is an array none of whose *object*
  entries lacks a `$optional$` key (`allOptional`: an array of strings may be absent, and
  so may an array whose objects all carry `$optional$`, whatever its value).
  `$count-arrays$` names arrays compared by length only.
* arrays (`compareNodes`): compared **in order**. The actual may have no more entries than
  the expected, and no fewer than its non-optional ones. Expected entries are walked in
  order against a cursor into the actual: a match advances the cursor; a mismatch fails
  unless the expected entry is optional (`$optional$` true or a passing filter), which is
  then skipped. Actual entries left over fail. In pattern mode each expected entry is looked
  for from the cursor onwards (an ordered subsequence).
* strings (`matches`): `$$`, `$instant$ $date$ $uuid$ $id$ $url$ $token$ $semver$
  $string$`, `$version$` (also inside a longer string), `$choice:a|b$`, `$fragments:a|b$`
  (all, case-insensitive), `$external:N:a|b$` (the externals file's message N; without one
  the fragments, which Java reads as the text between the 2nd and 3rd `:`). Two strings that
  both contain `<div` are equal. Two strings that differ are still equal when both decode
  as lenient Base64 (commons-codec `Base64.decodeBase64`) to the same non-empty bytes: a
  quirk of `compareNodes` (`sameBytes(unBase64(..))`) that makes "Display 2" equal
  "Display #2".
* `$optional$` filters (`passesOptionalFilter`): `"{mode}"`, `"!{mode}"`, `"version:N"`
  (server FHIR version starts with N), `"warning:{text}"` (optional, reported when absent).

`Rules.strict` gives the repository's stricter reading, reported beside the verdict and
never counted: no Base64 quirk, and `$external:N:...$` fragments are everything after `N:`
(so a fragment holding a URL is checked whole). The absent-array rule stays as Java has it:
the pinned fixtures, recorded from two servers, disagree on `issue.location` (117 expect
it, 46 for the same kinds of issue have none), so only a server that never writes it (it is
deprecated in favour of `expression` since R4) can satisfy both.

This module knows nothing of HTTP or of the suite's files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# Keys of an expected object that are instructions, not content.
CONTROL_KEYS = frozenset({"$optional$", "$optional-properties$", "$count-arrays$", "fhir_comments"})

_A = re.ASCII
# org.hl7.fhir.utilities.regex.RegexConstants
_INSTANT = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))",
    _A,
)
_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?",
    _A,
)
_UUID = re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", _A)
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}", _A)
_URL = re.compile(r"(https?://|www\.)[-a-zA-Z0-9+&@#/%?=~_|!:.;]*[-a-zA-Z0-9+&@#/%=~_|]", _A)
_TOKEN = re.compile(r"[0-9a-zA-Z_][0-9a-zA-Z_.\-]*", _A)
_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    _A,
)

TYPE_TOKENS: dict[str, Callable[[str], bool]] = {
    "$instant$": lambda s: _INSTANT.fullmatch(s) is not None,
    "$date$": lambda s: _DATE.fullmatch(s) is not None,
    "$uuid$": lambda s: _UUID.fullmatch(s) is not None,
    "$id$": lambda s: _ID.fullmatch(s) is not None,
    "$url$": lambda s: _URL.fullmatch(s) is not None,
    "$token$": lambda s: _TOKEN.fullmatch(s) is not None,
    "$semver$": lambda s: _SEMVER.fullmatch(s) is not None,
    "$string$": lambda s: s == s.strip(),
}

# commons-codec Base64 decode table: the standard and the URL-safe alphabets
_B64 = {
    c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}
_B64[ord("-")] = 62
_B64[ord("_")] = 63


class TemplateError(ValueError):
    """An expected string of the form `$...$` that is no known template."""


@dataclass(frozen=True)
class Rules:
    """What a comparison depends on besides the two documents."""

    modes: frozenset[str] = frozenset({"general"})
    version: str | None = None  # server FHIR version ("5.0.0"); None: `$version$` matches anything
    externals: Mapping[str, str] | None = None  # message number -> text, for this response file
    pattern: bool = False  # extra actual properties and array entries are allowed
    strict: bool = False  # the repository's stricter reading (see the module docstring)


@dataclass(frozen=True)
class Diff:
    """The first difference found: where, and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.message}"


@dataclass
class Outcome:
    diff: Diff | None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.diff is None


def filter_passes(token: str, rules: Rules) -> bool:
    """CompareUtilities.passesOptionalFilter."""
    if token.startswith("!"):
        return token[1:] not in rules.modes
    if token.startswith("warning:"):
        return True
    if token.startswith("version:"):
        return rules.version is not None and rules.version.startswith(token[len("version:") :])
    return token in rules.modes


def is_optional(item: Any, rules: Rules) -> bool:
    """CompareUtilities.isOptional: an object whose `$optional$` is true or a passing filter."""
    if not isinstance(item, dict):
        return False
    opt = item.get("$optional$")
    if isinstance(opt, bool):
        return opt
    return isinstance(opt, str) and filter_passes(opt, rules)


def _optional_warning(item: Any) -> str | None:
    opt = item.get("$optional$") if isinstance(item, dict) else None
    if isinstance(opt, str) and opt.startswith("warning:"):
        return opt[len("warning:") :]
    return None


def unbase64(text: str) -> bytes:
    """commons-codec `Base64.decodeBase64(String)`, lenient: characters outside the alphabet
    are skipped, `=` ends the data, 2 or 3 trailing characters give 1 or 2 bytes."""
    out = bytearray()
    acc = n = 0
    for b in text.encode("utf-8"):
        if b == 0x3D:  # '='
            break
        v = _B64.get(b)
        if v is None:
            continue
        acc = (acc << 6) | v
        n += 1
        if n == 4:
            out += acc.to_bytes(3, "big")
            acc = n = 0
    if n == 2:
        out.append((acc >> 4) & 0xFF)
    elif n == 3:
        out += ((acc >> 2) & 0xFFFF).to_bytes(2, "big")
    return bytes(out)


def same_base64(a: str, b: str) -> bool:
    """CompareUtilities.sameBytes(unBase64(a), unBase64(b))."""
    x, y = unbase64(a), unbase64(b)
    return bool(x) and bool(y) and x == y


def _fragments(actual: str, spec: str) -> bool:
    low = actual.lower()
    return all(f.lower() in low for f in spec.split("|"))


def string_matches(expected: str, actual: str, rules: Rules) -> bool:
    """CompareUtilities.matches: whether `actual` satisfies the expected string."""
    if len(expected) >= 2 and expected[0] == "$" and expected[-1] == "$":
        body = expected[1:-1]
        if body.startswith("choice:"):
            return actual in body[len("choice:") :].split("|")
        if body.startswith("fragments:"):
            return _fragments(actual, body[len("fragments:") :])
        if body.startswith("external:"):
            # Java: split(":") on the whole body; cmd[1] is the number, cmd[2] the fragments
            parts = body.split(":", 2) if rules.strict else body.split(":")
            if rules.externals is not None and not rules.strict:
                return actual == rules.externals.get(parts[1])
            if rules.externals is not None and parts[1] in rules.externals:
                return actual == rules.externals[parts[1]]
            return len(parts) <= 2 or _fragments(actual, parts[2])
        if expected == "$$":
            return True
        if expected == "$version$":
            return rules.version is None or actual == rules.version
        check = TYPE_TOKENS.get(expected)
        if check is None:
            raise TemplateError(expected)
        return check(actual)
    if "$version$" in expected and rules.version is not None:
        expected = expected.replace("$version$", rules.version)
    return actual == expected


def _kind(v: Any) -> str:
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float | Decimal):
        return "number"
    if v is None:
        return "null"
    return "string"


_KEYS = ("name", "code", "url", "system", "severity", "language", "uri")


def brief(v: Any, limit: int = 100) -> str:
    """A short rendering of a value, for messages."""
    if isinstance(v, dict):
        keys = [f"{k}={v[k]}" for k in _KEYS if isinstance(v.get(k), str)]
        if keys:
            return "{" + ", ".join(keys) + "}"
    text = json.dumps(v, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(expected: str, rules: Rules) -> str:
    if expected.startswith("$external:") and expected.endswith("$") and rules.externals:
        key = expected[1:-1].split(":", 2)[1]
        if key in rules.externals:
            return f"{rules.externals[key]!r} (external {key})"
    return repr(expected)


def _strings(v: Any) -> list[str]:
    return [s for s in v if isinstance(s, str)] if isinstance(v, list) else []


class Comparer:
    """Compares one expected document with one actual document under `rules`."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def compare(self, expected: Any, actual: Any) -> Outcome:
        warnings: list[str] = []
        if isinstance(expected, dict) and isinstance(actual, dict):
            diff = self._object("", expected, actual, warnings)
        else:
            diff = self._node("", expected, actual, warnings, False)
        return Outcome(diff, warnings if diff is None else [])

    # -- compareNodes ---------------------------------------------------------------------

    def _node(self, path: str, e: Any, a: Any, warns: list[str], count_only: bool) -> Diff | None:
        ke, ka = _kind(e), _kind(a)
        composite = {"object", "array"}
        if (ke in composite or ka in composite) and ke != ka:
            return Diff(path, f"properties differ: expected {ke} {brief(e)}, found {ka} {brief(a)}")
        if ka == "object":
            return self._object(path, e, a, warns)
        if ka == "array":
            return self._array(path, e, a, warns, count_only)
        return self._primitive(path, e, a)

    def _primitive(self, path: str, e: Any, a: Any) -> Diff | None:
        ke, ka = _kind(e), _kind(a)
        if ke == ka == "boolean":
            return None if e == a else Diff(path, f"expected {brief(e)}, found {brief(a)}")
        if ke == ka == "string":
            if "<div" in a and "<div" in e:
                return None
            try:
                if string_matches(e, a, self.rules):
                    return None
            except TemplateError:
                return Diff(path, f"unhandled template {e!r} in the expected response")
            if not self.rules.strict and same_base64(a, e):
                return None
            return Diff(path, f"expected {_describe(e, self.rules)}, found {a!r}")
        if ke == ka == "number":
            return None if str(e) == str(a) else Diff(path, f"expected {e}, found {a}")
        if ke == "null":
            return None if ka == "null" else Diff(path, f"expected null, found {brief(a)}")
        return Diff(path, f"property types differ: expected {ke} {brief(e)}, found {ka} {brief(a)}")

    # -- compareObjects -------------------------------------------------------------------

    def _object(
        self, path: str, e: dict[str, Any], a: dict[str, Any], warns: list[str]
    ) -> Diff | None:
        optionals: list[str] = []
        if "$optional-properties$" in e:
            optionals = ["$optional-properties$", "$count-arrays$"]
            optionals += _strings(e["$optional-properties$"])
        counted = _strings(e.get("$count-arrays$"))
        for k, av in a.items():
            if k == "fhir_comments":
                continue
            p = f"{path}.{k}"
            if k in e:
                d = self._node(p, e[k], av, warns, k in counted)
                if d is not None:
                    return d
            elif not self.rules.pattern and k not in optionals:
                return Diff(p, f"unexpected property, value {brief(av)}")
        for k, ev in e.items():
            if k == "fhir_comments" or k == "$optional$" or "*" in optionals or k in optionals:
                continue
            if k not in a and not self._may_be_absent(ev):
                return Diff(f"{path}.{k}", f"missing property, expected {brief(ev)}")
        return None

    @staticmethod
    def _may_be_absent(ev: Any) -> bool:
        """CompareUtilities.allOptional."""
        if not isinstance(ev, list):
            return False
        return all("$optional$" in x for x in ev if isinstance(x, dict))

    # -- arrays ---------------------------------------------------------------------------

    def _array(
        self, path: str, e: list[Any], a: list[Any], warns: list[str], count_only: bool
    ) -> Diff | None:
        if count_only:
            if len(a) != len(e):
                return Diff(path, f"array item count differs: expected {len(e)}, found {len(a)}")
            return None
        optional = [is_optional(x, self.rules) for x in e]
        if self.rules.pattern:
            c = 0
            for i, item in enumerate(e):
                first: Diff | None = Diff(f"{path}[{i}]", "not found")
                found = False
                while not found and c < len(a):
                    d = self._node(f"{path}[{i}]", item, a[c], warns, False)
                    found = d is None
                    if d is not None and first is not None and first.message == "not found":
                        first = d
                    c += 1
                if not found:
                    reason = f" (first difference: {first})" if first else ""
                    return Diff(
                        f"{path}[{i}]",
                        f"expected entry {brief(item)} not found in order{reason}",
                    )
            return None
        oc = sum(optional)
        expected_min = len(e) - oc
        if len(a) > len(e) or len(a) < expected_min:
            return Diff(
                path,
                f"array item count differs: expected {len(e)}"
                + (f" ({expected_min} required)" if oc else "")
                + f", found {len(a)}",
            )
        c = 0
        for i, item in enumerate(e):
            if c >= len(a):
                if i >= len(e) - oc and optional[i]:
                    warning = _optional_warning(item)
                    if warning is not None:
                        warns.append(f"{path}[{i}]: optional entry missing ({warning})")
                    return None
                return Diff(
                    f"{path}[{i}]", f"missing entry {brief(item)} (the actual array has ended)"
                )
            d = self._node(f"{path}[{i}]", item, a[c], warns, False)
            if d is not None and not optional[i]:
                return d
            if d is None:
                c += 1
        if c < len(a):
            return Diff(f"{path}[{c}]", f"unexpected entry in the actual array {brief(a[c])}")
        return None


def compare(expected: Any, actual: Any, rules: Rules | None = None) -> Outcome:
    """Compare `actual` with the template `expected`."""
    return Comparer(rules or Rules()).compare(expected, actual)
