"""Parse responses as fhir.resources R4B models: the shape check of every test."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class


def parse_r4(body: dict[str, Any]) -> Any:
    """Validate ``body`` as the R4B model of its resourceType; raises on an invalid shape."""
    return get_fhir_model_class(body["resourceType"]).model_validate(body)


def params(body: dict[str, Any]) -> dict[str, list[Any]]:
    """Parameters -> name -> list of values (value[x], resource or part list)."""
    out: dict[str, list[Any]] = {}
    for p in body["parameter"]:
        v = next((p[k] for k in p if k.startswith("value")), p.get("resource", p.get("part")))
        out.setdefault(p["name"], []).append(v)
    return out


def properties(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """$lookup properties -> code -> list of {value, description, sub: [...]}."""
    out: dict[str, list[dict[str, Any]]] = {}
    for p in body["parameter"]:
        if p["name"] != "property":
            continue
        entry: dict[str, Any] = {"sub": []}
        code = ""
        for part in p["part"]:
            if part["name"] == "code":
                code = part["valueCode"]
            elif part["name"] == "value":
                entry["value"] = next(part[k] for k in part if k.startswith("value"))
            elif part["name"] == "description":
                entry["description"] = part["valueString"]
            elif part["name"] == "subproperty":
                sub = {
                    q["name"]: next(q[k] for k in q if k.startswith("value")) for q in part["part"]
                }
                entry["sub"].append((sub["code"], sub.get("value")))
        out.setdefault(code, []).append(entry)
    return out
