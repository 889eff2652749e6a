"""Memo: a dict bounded in entries, for what is derived once and asked for again.

Every memo of the server (decoded concepts, compiled filters and patterns, compiled value
sets, decoded query strings...) is one of these, so each states its size and all evict
the same way: a memo that is full is emptied before the next entry goes in. That bounds
its memory without bookkeeping on reads (no recency order to keep up: a read is the
dict's own ``get``, as fast as a plain dict), at the price of recomputing the entries a
full memo drops, which is what a memo of derived facts can afford.

A memo is read-only for its entries' sake only by convention: values are shared with
every later reader, so they must not be changed after ``put``.
"""

from __future__ import annotations

from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    """At most ``size`` entries: ``put`` into a full memo empties it first.

    Read with the dict's ``get`` (or ``in``, ``[]``); write with ``put`` only, which is
    what keeps it bounded.
    """

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a memo holds at least one entry, not {size}")
        super().__init__()
        self.size = size

    def put(self, key: K, value: V) -> V:
        """Keep ``value`` under ``key`` (emptying the memo first when it is full); returns
        ``value``."""
        if len(self) >= self.size and key not in self:
            self.clear()
        self[key] = value
        return value


def memo_in(derived: dict[str, Any], name: str, size: int) -> Memo[Any, Any]:
    """The memo ``name`` of a ``derived`` dict (``Registry.derived``,
    ``CodeSystemIndex.derived``), made with ``size`` on first use."""
    memo: Memo[Any, Any] | None = derived.get(name)
    if memo is None:
        memo = derived[name] = Memo(size)
    return memo
