"""Compare a server response with an expected response of the tx-ecosystem suite.

An expected response is a template, not a literal (IG page "Test Case Documentation",
`tests/readme.md`; semantics checked against the reference runner's CompareUtilities,
reimplemented here, not copied):

* strings: `$$` (anything), `$id$ $uuid$ $url$ $token$ $string$ $date$ $instant$ $semver$`
  (a value of that kind), `$version$` (the server's FHIR version, also inside longer strings),
  `$choice:a|b$` (one of), `$fragments:a|b$` (contains all, case-insensitive),
  `$external:N$` / `$external:N:a|b$` (the externals file's message N for this response
  file; without one, the fragments if any, else anything). Two strings that both contain
  `<div` (narrative) are equal.
* objects: every property of the actual must be expected (except in pattern mode, used for
  the metadata tests), every expected property must be present unless listed in
  `$optional-properties$` (`*` = all), or it is an array whose entries are all optional, or
  an object that is itself optional. `$count-arrays$` names arrays compared by length only.
* arrays: order never matters. Each expected entry is matched to a distinct actual entry
  (a bipartite matching); entries with a passing `$optional$` may stay unmatched; entries
  with a failing `$only$` must not be there at all; every actual entry must be matched
  (except in pattern mode).
* `$optional$` / `$only$` filters: `true`, `"{mode}"`, `"!{mode}"`, `"version:N"` (server
  FHIR version starts with N), `"warning:{text}"` (optional, reported when missing).

This module knows nothing of HTTP or of the suite's files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

CONTROL_KEYS = frozenset(
    {"$optional$", "$only$", "$optional-properties$", "$count-arrays$", "fhir_comments"}
)

_A = re.ASCII
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

REQUIRED, OPTIONAL, ABSENT = "required", "optional", "absent"
# keys whose literal expected value an actual array entry must share: a cheap, exact pre-test
_KEYS = ("name", "code", "url", "system", "severity", "language", "uri")


class TemplateError(ValueError):
    """An expected string of the form `$...$` that is no known template."""


@dataclass(frozen=True)
class Rules:
    """What a comparison depends on besides the two documents."""

    modes: frozenset[str] = frozenset({"general"})
    version: str | None = None  # server FHIR version ("5.0.0"); None: `$version$` matches anything
    externals: Mapping[str, str] | None = None  # message number -> text, for this response file
    pattern: bool = False  # extra actual properties and array entries are allowed


@dataclass(frozen=True)
class Diff:
    """The first difference found: where, and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(root)'}: {self.message}"

    @property
    def depth(self) -> int:
        return self.path.count(".") + self.path.count("[")


@dataclass
class Outcome:
    diff: Diff | None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.diff is None


def filter_passes(token: str, rules: Rules) -> bool:
    """The filter grammar shared by `$optional$` and `$only$`."""
    if token.startswith("!"):
        return not filter_passes(token[1:], rules)
    if token.startswith("warning:"):
        return True
    if token.startswith("version:"):
        return rules.version is not None and rules.version.startswith(token[len("version:") :])
    return token in rules.modes


def _flag(value: Any, rules: Rules) -> bool:
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and filter_passes(value, rules)


def entry_status(item: Any, rules: Rules) -> tuple[str, str | None]:
    """REQUIRED / OPTIONAL / ABSENT for an expected entry, and its warning text if any."""
    if not isinstance(item, dict):
        return REQUIRED, None
    if "$only$" in item and not _flag(item["$only$"], rules):
        return ABSENT, None
    opt = item.get("$optional$")
    if _flag(opt, rules):
        warning = (
            opt[len("warning:") :] if isinstance(opt, str) and opt.startswith("warning:") else None
        )
        return OPTIONAL, warning
    return REQUIRED, None


def _fragments(actual: str, spec: str) -> bool:
    low = actual.lower()
    return all(f.lower() in low for f in spec.split("|"))


def string_matches(expected: str, actual: str, rules: Rules) -> bool:
    """Whether `actual` satisfies the expected string (a literal or a template)."""
    if len(expected) >= 2 and expected[0] == "$" and expected[-1] == "$":
        body = expected[1:-1]
        if expected == "$$":
            return True
        if body.startswith("choice:"):
            return actual in body[len("choice:") :].split("|")
        if body.startswith("fragments:"):
            return _fragments(actual, body[len("fragments:") :])
        if body.startswith("external:"):
            parts = body.split(":", 2)
            if rules.externals is not None and parts[1] in rules.externals:
                return actual == rules.externals[parts[1]]
            return len(parts) < 3 or _fragments(actual, parts[2])
        if expected == "$version$":
            return rules.version is None or actual == rules.version
        check = TYPE_TOKENS.get(expected)
        if check is None:
            raise TemplateError(expected)
        return check(actual)
    if "$version$" in expected:
        if rules.version is None:
            pattern = ".*".join(re.escape(p) for p in expected.split("$version$"))
            return re.fullmatch(pattern, actual, re.DOTALL) is not None
        return actual == expected.replace("$version$", rules.version)
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


def _number_text(v: Any) -> str:
    return str(v)


class Comparer:
    """Compares one expected document with one actual document under `rules`."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules

    def compare(self, expected: Any, actual: Any) -> Outcome:
        warnings: list[str] = []
        diff = self._cmp("", expected, actual, warnings)
        return Outcome(diff, warnings if diff is None else [])

    # -- dispatch -------------------------------------------------------------------------

    def _cmp(
        self, path: str, e: Any, a: Any, warns: list[str], count_only: bool = False
    ) -> Diff | None:
        if isinstance(e, dict):
            if not isinstance(a, dict):
                return Diff(path, f"expected an object, found {_kind(a)} {brief(a)}")
            return self._object(path, e, a, warns)
        if isinstance(e, list):
            if not isinstance(a, list):
                return Diff(path, f"expected an array, found {_kind(a)} {brief(a)}")
            if count_only:
                if len(e) == len(a):
                    return None
                return Diff(path, f"expected {len(e)} entries (count only), found {len(a)}")
            return self._array(path, e, a, warns)
        if isinstance(a, dict | list):
            return Diff(path, f"expected {_kind(e)} {brief(e)}, found {_kind(a)}")
        return self._primitive(path, e, a)

    def _primitive(self, path: str, e: Any, a: Any) -> Diff | None:
        ke, ka = _kind(e), _kind(a)
        if ke != ka:
            return Diff(
                path, f"property types differ: expected {ke} {brief(e)}, found {ka} {brief(a)}"
            )
        if ke == "string":
            if "<div" in e and "<div" in a:
                return None
            try:
                if string_matches(e, a, self.rules):
                    return None
            except TemplateError:
                return Diff(path, f"unhandled template {e!r} in the expected response")
            return Diff(path, f"expected {_describe(e, self.rules)}, found {a!r}")
        same = _number_text(e) == _number_text(a) if ke == "number" else e == a
        return None if same else Diff(path, f"expected {brief(e)}, found {brief(a)}")

    # -- objects --------------------------------------------------------------------------

    def _object(
        self, path: str, e: dict[str, Any], a: dict[str, Any], warns: list[str]
    ) -> Diff | None:
        optional = set(_strings(e.get("$optional-properties$")))
        counted = set(_strings(e.get("$count-arrays$")))
        for k, av in a.items():
            if k == "fhir_comments":
                continue
            p = f"{path}.{k}"
            if k in e and k not in CONTROL_KEYS:
                ev = e[k]
                if isinstance(ev, dict) and entry_status(ev, self.rules)[0] == ABSENT:
                    return Diff(p, "must not be present here ($only$)")
                d = self._cmp(p, ev, av, warns, k in counted)
                if d is not None:
                    return d
            elif not self.rules.pattern:
                return Diff(p, f"unexpected property, value {brief(av)}")
        for k, ev in e.items():
            if k in CONTROL_KEYS or k in a or "*" in optional or k in optional:
                continue
            if not self._may_be_missing(f"{path}.{k}", ev, warns):
                return Diff(f"{path}.{k}", f"missing property, expected {brief(ev)}")
        return None

    def _may_be_missing(self, path: str, ev: Any, warns: list[str]) -> bool:
        # As the reference comparer (CompareUtilities.allOptional): an array may be
        # missing unless one of its object entries is required; entries that are
        # not objects (a mistyped "$optional": ["location"]) require nothing.
        if isinstance(ev, list):
            entries = [item for item in ev if isinstance(item, dict)]
        elif isinstance(ev, dict):
            entries = [ev]
        else:
            return False
        found: list[str] = []
        for item in entries:
            status, warning = entry_status(item, self.rules)
            if status == REQUIRED:
                return False
            if warning:
                found.append(f"{path}: optional content missing ({warning})")
        warns.extend(found)
        return True

    # -- arrays ---------------------------------------------------------------------------

    def _array(self, path: str, e: list[Any], a: list[Any], warns: list[str]) -> Diff | None:
        kept: list[Any] = []
        status: list[tuple[str, str | None]] = []
        forbidden: list[Any] = []
        for item in e:
            st = entry_status(item, self.rules)
            if st[0] == ABSENT:
                forbidden.append(item)
            else:
                kept.append(item)
                status.append(st)
        n, m = len(kept), len(a)
        memo: dict[tuple[int, int], tuple[Diff | None, list[str]]] = {}

        def pair(i: int, j: int) -> tuple[Diff | None, list[str]]:
            key = (i, j)
            if key not in memo:
                w: list[str] = []
                memo[key] = (self._cmp(f"{path}[{i}]", kept[i], a[j], w), w)
            return memo[key]

        def fits(i: int, j: int) -> bool:
            return _prefilter(kept[i], a[j]) and pair(i, j)[0] is None

        match_exp = [-1] * n
        match_act = [-1] * m
        if n == m and all(fits(i, i) for i in range(n)):
            match_exp = list(range(n))
            match_act = list(range(m))
        else:
            cands: dict[int, list[int]] = {}

            def candidates(i: int) -> list[int]:
                if i not in cands:
                    order = ([i] if i < m else []) + [j for j in range(m) if j != i]
                    cands[i] = [j for j in order if fits(i, j)]
                return cands[i]

            order = [i for i in range(n) if status[i][0] == REQUIRED]
            order += [i for i in range(n) if status[i][0] != REQUIRED]
            for i in order:
                _augment(i, candidates, match_exp, match_act)
        for i in range(n):
            if match_exp[i] == -1:
                st, warning = status[i]
                if st == REQUIRED:
                    return self._explain_missing(path, i, kept[i], a, match_act)
                if warning:
                    warns.append(f"{path}[{i}]: optional entry missing ({warning})")
        if not self.rules.pattern:
            for j in range(m):
                if match_act[j] == -1:
                    return Diff(
                        f"{path}[{j}]", f"unexpected entry in the actual array {brief(a[j])}"
                    )
        for item in forbidden:
            for j in range(m):
                if self._cmp(path, item, a[j], []) is None:
                    return Diff(f"{path}[{j}]", f"entry must not be present ($only$) {brief(a[j])}")
        for i in range(n):
            if match_exp[i] != -1:
                warns.extend(pair(i, match_exp[i])[1])
        return None

    def _explain_missing(
        self, path: str, i: int, item: Any, a: list[Any], match_act: list[int]
    ) -> Diff:
        """Report an unmatched expected entry through its nearest actual entry."""
        what = f"no actual entry matches expected {path}[{i}] {brief(item)}"
        if not a:
            return Diff(f"{path}[{i}]", f"missing entry {brief(item)} (the actual array is empty)")
        pool = [j for j in range(len(a)) if match_act[j] == -1] or list(range(len(a)))
        best: Diff | None = None
        for j in pool[:50]:
            d = self._cmp(f"{path}[{i}]", item, a[j], [])
            if d is not None and (best is None or d.depth > best.depth):
                best = d
        if best is None or best.depth <= Diff(f"{path}[{i}]", "").depth:
            return Diff(f"{path}[{i}]", what)
        return Diff(best.path, f"{best.message} ({what})")


def _augment(
    start: int, candidates: Callable[[int], list[int]], match_exp: list[int], match_act: list[int]
) -> bool:
    """Find an augmenting path from expected entry `start` (breadth first, no recursion)."""
    came_from: dict[int, int] = {}
    queue = [start]
    seen = {start}
    while queue:
        u = queue.pop(0)
        for j in candidates(u):
            if j in came_from:
                continue
            came_from[j] = u
            if match_act[j] == -1:
                while j != -1:
                    u2 = came_from[j]
                    previous = match_exp[u2]
                    match_exp[u2], match_act[j] = j, u2
                    j = previous
                return True
            w = match_act[j]
            if w not in seen:
                seen.add(w)
                queue.append(w)
    return False


def _prefilter(e: Any, a: Any) -> bool:
    """False only when the full comparison would certainly fail (a differing literal key)."""
    if not (isinstance(e, dict) and isinstance(a, dict)):
        return True
    for k in _KEYS:
        ev, av = e.get(k), a.get(k)
        if (
            isinstance(ev, str)
            and isinstance(av, str)
            and ev != av
            and "$" not in ev
            and "<div" not in ev
        ):
            return False
    return True


def _strings(v: Any) -> list[str]:
    return [s for s in v if isinstance(s, str)] if isinstance(v, list) else []


def compare(expected: Any, actual: Any, rules: Rules | None = None) -> Outcome:
    """Compare `actual` with the template `expected`."""
    return Comparer(rules or Rules()).compare(expected, actual)
