"""ARCHITECTURE.md holds: a lower layer never imports an upper one, the module map lists
every module there is and no other, and the operations' modules and functions keep to
the sizes it states (or it says why not)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "fhirterm"
ARCHITECTURE = SRC.parent.parent / "ARCHITECTURE.md"

# module (prefix) -> imports it must never make
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "model": ("fhirterm", "flask", "orjson", "fhir.resources"),
    "errors": ("fhirterm", "flask", "orjson", "fhir.resources"),
    "config": ("fhirterm", "flask", "orjson", "fhir.resources"),
    "memo": ("fhirterm", "flask", "orjson", "fhir.resources"),
    "index": (
        "fhirterm.providers",
        "fhirterm.registry",
        "fhirterm.operations",
        "fhirterm.wire",
        "fhirterm.web",
        "flask",
    ),
    "history": (
        "fhirterm.providers",
        "fhirterm.registry",
        "fhirterm.operations",
        "fhirterm.wire",
        "fhirterm.web",
        "flask",
    ),
    "providers": (
        "fhirterm.registry",
        "fhirterm.operations",
        "fhirterm.wire",
        "fhirterm.web",
        "flask",
    ),
    "registry": (
        "fhirterm.providers",
        "fhirterm.operations",
        "fhirterm.wire",
        "fhirterm.web",
        "flask",
    ),
    "operations": (
        "fhirterm.providers",
        "fhirterm.wire",
        "fhirterm.web",
        "fhirterm.loading",
        "flask",
        "orjson",
        "fhir.resources",
    ),
    "wire": (
        "fhirterm.registry",
        "fhirterm.providers",
        "fhirterm.web",
        "fhirterm.loading",
        "flask",
    ),
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = ".".join(("fhirterm", *path.relative_to(SRC).with_suffix("").parts[:-1]))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer: str) -> None:
    files = (
        [SRC / f"{layer}.py"]
        if (SRC / f"{layer}.py").exists()
        else sorted((SRC / layer).rglob("*.py"))
    )
    assert files
    for f in files:
        bad = sorted(
            i
            for i in imports(f)
            for ban in FORBIDDEN[layer]
            if (i == ban or i.startswith(ban + ".")) and not i.startswith(f"fhirterm.{layer}")
        )
        assert not bad, f"{f.relative_to(SRC)} imports {bad}"


def modules_used(path: Path) -> set[str]:
    """The modules of fhirterm that ``path`` imports (a name imported from a package is
    the package's module of that name when there is one)."""
    out: set[str] = set()
    for i in imports(path):
        if not i.startswith("fhirterm"):
            continue
        parts = i.split(".")
        # the longest prefix that is a module or package of fhirterm
        for n in range(len(parts), 0, -1):
            rel = Path(*parts[1:n])
            if n == 1 or (SRC / rel).with_suffix(".py").exists() or (SRC / rel).is_dir():
                out.add(".".join(parts[:n]))
                break
    return {m for m in out if not any(o.startswith(m + ".") for o in out)}


# the one module of operations the wire layer may use: the request and result types
CONTRACTS = "fhirterm.operations.contracts"


def test_wire_uses_only_the_operation_contracts() -> None:
    for f in sorted((SRC / "wire").rglob("*.py")):
        bad = sorted(
            m
            for m in modules_used(f)
            if (m == "fhirterm.operations" or m.startswith("fhirterm.operations."))
            and m != CONTRACTS
        )
        assert not bad, f"{f.relative_to(SRC)} uses {bad}: the wire layer knows only {CONTRACTS}"


def test_contracts_are_plain_data() -> None:
    """The contracts stand on the value types alone, so the wire layer reaches nothing else
    of the operations (nor the registry) through them."""
    used = modules_used(SRC / "operations" / "contracts.py")
    assert used <= {"fhirterm.model", "fhirterm.errors"}, used


def test_modules_used_reads_packages_and_names() -> None:
    assert modules_used(SRC / "wire" / "render.py") >= {CONTRACTS, "fhirterm.errors"}
    assert "fhirterm.operations.contracts" in modules_used(SRC / "wire" / "requests.py")


# an entry of the map: indented by two spaces a level (at most three levels), a module
# `name.py` or a package `name/`, then its description; deeper lines continue one
MAP_ENTRY = re.compile(r"^((?:  ){1,3})([A-Za-z_]\w*(?:\.py|/))(?=\s|$)")


def mapped_modules(text: str) -> set[str]:
    """The paths (relative to src/fhirterm) of the modules and packages the map names."""
    block = text.split("```\nsrc/fhirterm/\n", 1)[1].split("```", 1)[0]
    out: set[str] = set()
    parents: list[str] = []
    for line in block.splitlines():
        m = MAP_ENTRY.match(line)
        if m is None:
            continue
        depth = len(m.group(1)) // 2 - 1
        assert depth <= len(parents), f"map entry without its package: {line!r}"
        parents = parents[:depth]
        out.add("".join(parents) + m.group(2))
        if m.group(2).endswith("/"):
            parents.append(m.group(2))
    return out


def source_modules() -> set[str]:
    """Every module of src/fhirterm as a path, a package as ``name/`` (its __init__ is the
    package)."""
    out: set[str] = set()
    for f in SRC.rglob("*.py"):
        rel = f.relative_to(SRC)
        if rel.name == "__init__.py":
            if rel.parent != Path("."):
                out.add(f"{rel.parent.as_posix()}/")
        else:
            out.add(rel.as_posix())
    return out


def test_module_map_lists_every_module() -> None:
    mapped = mapped_modules(ARCHITECTURE.read_text())
    actual = source_modules()
    assert not actual - mapped, (
        f"modules missing from ARCHITECTURE.md's map: {sorted(actual - mapped)}"
    )
    assert not mapped - actual, (
        f"ARCHITECTURE.md maps modules that do not exist: {sorted(mapped - actual)}"
    )


def test_module_map_parser_reads_nesting() -> None:
    text = "```\nsrc/fhirterm/\n  a.py   x\n  p/     y\n    b.py z\n         c.py continued\n  d.py\n```\n"
    assert mapped_modules(text) == {"a.py", "p/", "p/b.py", "d.py"}


# Size limits of the operations: a module a reader can hold, functions that fit a screen.
OPERATIONS = SRC / "operations"
MODULE_MAX_LINES = 500
FUNCTION_MAX_LINES = 80
# an exception ARCHITECTURE.md's "Sizes" section grants: `operations/x.py` (a module) or
# `operations/x.py:name` (a function; Class.method for a method), then its reason
EXCEPTION = re.compile(r"^- `(operations/[\w.]+\.py(?::[\w.]+)?)`:?\s+\S", re.M)


def size_exceptions(text: str) -> set[str]:
    """The modules and functions ARCHITECTURE.md's "Sizes" section lists with a reason."""
    parts = re.split(r"^## Sizes\b.*\n", text, maxsplit=1, flags=re.M)
    if len(parts) < 2:
        return set()
    section = re.split(r"^## ", parts[1], maxsplit=1, flags=re.M)[0]
    return set(EXCEPTION.findall(section))


def _long_functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """(Class.name, lines) of the functions and methods below ``node`` over the limit."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            span = (child.end_lineno or child.lineno) - child.lineno + 1
            if span > FUNCTION_MAX_LINES:
                yield f"{prefix}{child.name}", span
            yield from _long_functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _long_functions(child, f"{prefix}{child.name}.")


def oversized(folder: Path) -> dict[str, int]:
    """Modules over MODULE_MAX_LINES and functions over FUNCTION_MAX_LINES in ``folder``
    (``operations/x.py`` or ``operations/x.py:Class.name`` -> its lines; a function's lines
    run from its ``def`` to its last line, docstring included)."""
    out: dict[str, int] = {}
    for path in sorted(folder.glob("*.py")):
        name = f"{folder.name}/{path.name}"
        text = path.read_text()
        if len(text.splitlines()) > MODULE_MAX_LINES:
            out[name] = len(text.splitlines())
        for function, span in _long_functions(ast.parse(text)):
            out[f"{name}:{function}"] = span
    return out


def test_operations_modules_and_functions_are_small() -> None:
    allowed = size_exceptions(ARCHITECTURE.read_text())
    big = oversized(OPERATIONS)
    over = {k: v for k, v in big.items() if k not in allowed}
    assert not over, (
        f"over {MODULE_MAX_LINES} lines a module or {FUNCTION_MAX_LINES} a function in "
        f"operations/ (split it, or say why in ARCHITECTURE.md's Sizes section): {over}"
    )
    stale = sorted(allowed - set(big))
    assert not stale, f"ARCHITECTURE.md's Sizes section lists what is no longer over: {stale}"


def test_oversized_finds_long_functions_and_modules(tmp_path: Path) -> None:
    folder = tmp_path / "operations"
    folder.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_MAX_LINES))
    method = "\n".join("    " + line for line in body.splitlines())
    (folder / "a.py").write_text(f"class C:\n    def m(self) -> None:\n{method}\n")
    (folder / "b.py").write_text(f"def f() -> None:\n{body}\n" + "\n" * MODULE_MAX_LINES)
    (folder / "c.py").write_text("def g() -> None:\n    pass\n")
    assert oversized(folder) == {
        "operations/a.py:C.m": FUNCTION_MAX_LINES + 1,
        "operations/b.py:f": FUNCTION_MAX_LINES + 1,
        "operations/b.py": FUNCTION_MAX_LINES + 1 + MODULE_MAX_LINES,
    }
    text = "## Sizes\n\n- `operations/b.py`: why\n- `operations/a.py:C.m` why too\n\n## Next\n- `operations/c.py`: x\n"
    assert size_exceptions(text) == {"operations/b.py", "operations/a.py:C.m"}
