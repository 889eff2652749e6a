"""Limits on the work one request may ask for, and the request's regular-expression deadline.

Every limit is a setting (``fhirterm.config.Settings``); work beyond one is refused with
``TooCostly`` (422 too-costly) and a message naming the limit and how to narrow or page
the request. The web layer starts a ``Budget`` for each operation request (``begin``);
the operations read it with ``current``; the web layer ends it (``end``) with the
request. A caller outside a request (a test, the CLI) gets a fresh budget from each
``current`` call.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import Any

from ..config import Settings
from ..errors import TooCostly

DEFAULT = Settings()  # the limits outside a request


class Budget:
    """One request's limits (the server's settings) and the deadline of its regular-expression
    evaluation.

    The regex deadline starts at the first regex test of the request and is shared by
    every regex filter the request evaluates (all includes, excludes and imported value
    sets); the CPU deadline (thread CPU time, so other processes' load does not count)
    starts with the budget.
    """

    __slots__ = ("_cpu_deadline", "_regex_deadline", "limits")

    def __init__(self, limits: Settings) -> None:
        self.limits = limits
        self._regex_deadline: float | None = None
        self._cpu_deadline = time.thread_time() + limits.cpu_budget_ms / 1000

    def check_cpu(
        self,
        what: str,
        how: str = "narrow it: fewer or smaller includes and excludes, or a filter",
    ) -> None:
        """TooCostly when this request's thread has used more CPU time than
        ``cpu_budget_ms`` since the budget began; ``what`` names the work and ``how`` says
        how to ask for less, in the message.

        Called every so many steps of a loop whose length the client chooses (the
        members of a value set): ~0.3 µs a call."""
        if time.thread_time() > self._cpu_deadline:
            raise TooCostly(
                f"{what} took more than the {self.limits.cpu_budget_ms / 1000:g} s of CPU "
                f"this server gives one request (FHIRTERM_CPU_BUDGET_MS); {how}"
            )

    def regex_remaining(self) -> float:
        """Seconds of regex evaluation left to this request (<= 0: none)."""
        now = time.monotonic()
        if self._regex_deadline is None:
            self._regex_deadline = now + self.limits.regex_budget_ms / 1000
        return self._regex_deadline - now


_current: ContextVar[Budget | None] = ContextVar("fhirterm_budget", default=None)


def begin(limits: Settings) -> Token[Budget | None]:
    """Start the budget of a request (in this thread's context); ``end`` takes the token."""
    return _current.set(Budget(limits))


def end(token: Token[Budget | None]) -> None:
    """End the request's budget: what runs next in this context is outside the request."""
    _current.reset(token)


def current() -> Budget:
    """The budget of the request being answered; a fresh default one outside a request."""
    b = _current.get()
    return b if b is not None else Budget(DEFAULT)


def check_codings(n: int, where: str = "codeableConcept") -> None:
    """TooCostly when one request carries more than ``max_codings`` codings."""
    most = current().limits.max_codings
    if n > most:
        raise TooCostly(
            f"The request carries {n:,} codings to validate; this server validates at most "
            f"{most:,} in one request (FHIRTERM_MAX_CODINGS): send them in several requests",
            expression=where,
        )


CHECK_EVERY = 128  # steps between two check_cpu calls in a loop


# the keys whose list items count as concepts of a tx-resource (CodeSystem and ValueSet
# concepts at any depth, expansion contains, ConceptMap elements)
_CONCEPT_KEYS = frozenset({"concept", "contains", "element"})


def count_concepts(resources: list[Any], stop: int) -> int:
    """The concepts in ``resources`` (see ``_CONCEPT_KEYS``), counted up to just over ``stop``."""
    n = 0
    stack: list[object] = list(resources)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, list):
                    if k in _CONCEPT_KEYS:
                        n += len(v)
                        if n > stop:
                            return n
                    stack.extend(x for x in v if isinstance(x, dict | list))
                elif isinstance(v, dict):
                    stack.append(v)
        elif isinstance(node, list):
            stack.extend(x for x in node if isinstance(x, dict | list))
    return n


def check_tx_concepts(resources: list[Any]) -> None:
    """TooCostly when the tx-resources of one request carry more than ``max_tx_concepts``
    concepts: reading them costs time and memory in proportion, on every request."""
    most = current().limits.max_tx_concepts
    n = count_concepts(resources, most)
    if n > most:
        raise TooCostly(
            f"The tx-resource parameters carry more than {most:,} concepts, the most this "
            "server reads for one request (FHIRTERM_MAX_TX_CONCEPTS); load large code "
            "systems into the server's content instead, or send only the concepts needed",
            expression="tx-resource",
        )
