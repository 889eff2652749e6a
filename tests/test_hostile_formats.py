"""Hostile input, the quick cases of formats: XML bodies and large answers.

Beside tests/test_hostile.py (the limits of the operations): what an XML body
or a read's format can make a worker do is bounded too.
"""

from __future__ import annotations

from typing import Any

import pytest

XML_IN = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"}
ROOT = (
    b"<Parameters xmlns='http://hl7.org/fhir'><parameter><name value='system'/>"
    b"<valueUri value='http://hl7.org/fhir/sid/icd-10-cm'/></parameter>"
    b"<parameter><name value='code'/><valueCode value='M99.44'/></parameter></Parameters>"
)


@pytest.mark.parametrize("before", [b"<!--a-->", b"<?a b?>", b"<!-- a - b > c -->\n "])
def test_comments_before_the_root_are_read_in_linear_time(client: Any, before: bytes) -> None:
    """The DOCTYPE check looked for a DOCTYPE after comments and processing instructions
    with a pattern whose comment could span the next one: k comments before a root were
    tried in 2^k ways (22 comments held a worker 2.5 s of CPU; these 64 would hold it
    for centuries). Now each is matched once: the body is read, and a DOCTYPE after as
    many is still refused."""
    r = client.post("/fhir/CodeSystem/$lookup", data=before * 64 + ROOT, headers=XML_IN)
    assert r.status_code == 200, r.data[:400]
    r = client.post(
        "/fhir/CodeSystem/$lookup", data=before * 64 + b"<!DOCTYPE r>" + ROOT, headers=XML_IN
    )
    assert r.status_code == 400
    assert "DOCTYPE" in r.json["issue"][0]["details"]["text"]
