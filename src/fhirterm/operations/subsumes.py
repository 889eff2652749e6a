"""CodeSystem $subsumes: https://hl7.org/fhir/R4/codesystem-operation-subsumes.html"""

from __future__ import annotations

from ..errors import CodeNotFound, InvalidRequest
from ..model import Coding
from ..registry import Registry
from .contracts import SubsumesRequest


def subsumes(registry: Registry, req: SubsumesRequest) -> str:
    """The relation of A to B: equivalent, subsumes, subsumed-by or not-subsumed.

    Raises InvalidRequest when A or B is missing or the systems differ,
    NotFound for an unknown system, CodeNotFound for an unknown code.
    """

    def side(code: str | None, coding: Coding | None, name: str) -> tuple[str, str | None, str]:
        if code is not None and coding is not None:
            raise InvalidRequest(
                f"Send code{name} or coding{name}, not both", expression=f"code{name}"
            )
        if coding is not None:
            if not coding.code:
                raise InvalidRequest(f"coding{name} has no code", expression=f"coding{name}.code")
            system = coding.system or req.system
            if not system:
                raise InvalidRequest(
                    f"coding{name} has no system", expression=f"coding{name}.system"
                )
            if req.system and coding.system and coding.system != req.system:
                raise InvalidRequest(
                    f"coding{name}.system '{coding.system}' differs from system '{req.system}'",
                    expression=f"coding{name}.system",
                )
            return system, coding.version or req.version, coding.code
        if code is None:
            raise InvalidRequest(f"Missing code{name} (or coding{name})", expression=f"code{name}")
        if not req.system:
            raise InvalidRequest(f"code{name} needs system", expression="system")
        return req.system, req.version, code

    sa, va, a = side(req.code_a, req.coding_a, "A")
    sb, vb, b = side(req.code_b, req.coding_b, "B")
    if sa != sb:
        raise InvalidRequest(
            f"A and B are in different code systems ('{sa}', '{sb}'); $subsumes compares "
            "codes of one code system",
            expression="codingB.system",
        )
    cs = registry.code_system(sa, va or vb)
    for code, name in ((a, "A"), (b, "B")):
        if cs.get(code) is None:
            v = f" version '{cs.info.version}'" if cs.info.version else ""
            raise CodeNotFound(
                f"Unknown code '{code}' in the CodeSystem '{sa}'{v}", expression=f"code{name}"
            )
    a_real, b_real = cs.get(a), cs.get(b)
    assert a_real is not None and b_real is not None
    if a_real.code == b_real.code:
        return "equivalent"
    if cs.subsumes(a_real.code, b_real.code):
        return "subsumes"
    if cs.subsumes(b_real.code, a_real.code):
        return "subsumed-by"
    return "not-subsumed"
