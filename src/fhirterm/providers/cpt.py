"""Load official CPT descriptors that a licensed user holds, over the shipped CPT fragment.

The project ships CPT code numbers with short descriptions of its own only
(CPT descriptors belong to the AMA). A licensed user turns the fragment into a
CodeSystem with the official descriptors with ``fhirterm import-cpt``.

Accepted file formats (UTF-8 or Latin-1), one code per line:

- CSV or tab-separated with a header row naming a code column (``code``,
  ``cpt_code``, ``hcpcs``) and a descriptor column (``description``,
  ``descriptor``, ``long_description``, ``short_description``, ``display``);
- the AMA data-file layout: a five-character code, whitespace, the descriptor
  (``LONGULT.txt``, ``MEDU.txt``, ``SHORTU.txt``).

Lines that do not start with a five-character CPT code (``0000F``, ``99213``,
``0001U``) are ignored; a file with no code at all is an error.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from ..errors import ContentError

CODE = re.compile(r"^[0-9]{4}[0-9FTUM]$")
CODE_COLUMNS = ("code", "cpt_code", "cpt", "hcpcs")
TEXT_COLUMNS = (
    "description",
    "descriptor",
    "long_description",
    "long_descriptor",
    "short_description",
    "display",
)


def read_descriptors(path: Path) -> dict[str, str]:
    """code -> descriptor from a CSV/TSV with a header, or an AMA fixed-layout file."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    first = text.splitlines()[0] if text.strip() else ""
    out: dict[str, str] = {}
    delim = "\t" if "\t" in first else ","
    header = [
        h.strip().lower().replace(" ", "_") for h in next(csv.reader([first], delimiter=delim))
    ]
    code_col = next((header.index(c) for c in CODE_COLUMNS if c in header), None)
    text_col = next((header.index(c) for c in TEXT_COLUMNS if c in header), None)
    if code_col is not None and text_col is not None:
        for row in csv.reader(io.StringIO(text), delimiter=delim):
            if len(row) > max(code_col, text_col) and CODE.match(row[code_col].strip()):
                out[row[code_col].strip()] = " ".join(row[text_col].split())
    else:
        for line in text.splitlines():
            m = re.match(r"^([0-9]{4}[0-9FTUM])\s+(.+)$", line.strip())
            if m:
                out[m.group(1)] = " ".join(m.group(2).split())
    if not out:
        raise ContentError(
            str(path),
            "file",
            "no CPT codes found: expected a CSV/TSV with code and description "
            "columns, or lines of a five-character code and its descriptor",
        )
    return out


def apply_descriptors(
    code_system: dict[str, Any], descriptors: dict[str, str], all_codes: bool
) -> dict[str, Any]:
    """A copy of the CPT CodeSystem with official displays; ``all_codes`` adds every code of the file.

    The copy is marked as holding the licensee's descriptors (no longer the
    project's own short descriptions).
    """
    cs = dict(code_system)
    concepts = [dict(c) for c in cs.get("concept", [])]
    have = {c["code"] for c in concepts}
    for c in concepts:
        if c["code"] in descriptors:
            c["display"] = descriptors[c["code"]]
    if all_codes:
        concepts += [
            {"code": k, "display": v} for k, v in sorted(descriptors.items()) if k not in have
        ]
    cs["concept"] = concepts
    cs["description"] = (
        "CPT with official AMA descriptors loaded by a licensed user with fhirterm import-cpt. "
        "Not for redistribution."
    )
    return cs
