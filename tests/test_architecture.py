"""The layers of ARCHITECTURE.md: a lower layer never imports an upper one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "fhirterm"

# module (prefix) -> imports it must never make
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "model": ("fhirterm", "flask", "orjson", "fhir.resources"),
    "errors": ("fhirterm", "flask", "orjson", "fhir.resources"),
    "config": ("fhirterm", "flask", "orjson", "fhir.resources"),
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
