"""Keyset paging over a table: a sort by one of its named fields, ties broken by id, and the
key its last row ends a page at, from which the next page starts exactly."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

SortKey = tuple[str | None, ...]
"""Where a page ended: the sort terms of its last row, None where it has no value."""

# A nullable column's NULL becomes an empty BLOB, which SQLite sorts after every TEXT: the
# rows without a value come last (first when descending), and the row-value comparison of a
# keyset never meets a NULL, which would drop rows.
_NO_VALUE = b""


def last_when_null(column: str) -> str:
    """The sort term of a nullable TEXT column."""
    return f"IFNULL({column}, X'')"


@dataclass(frozen=True, slots=True)
class SortOrder:
    """A sort by one of a table's sort fields, ascending or descending. A subclass names the
    table's rows (`WHAT`) and what each field orders by (`TERMS`), the id last, so that the
    order is total and a page's key resumes exactly."""

    field: str = "id"
    descending: bool = False

    WHAT: ClassVar[str] = ""
    TERMS: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __post_init__(self) -> None:
        if self.field not in self.TERMS:
            raise ValueError(f"cannot sort {self.WHAT} by {self.field!r}; "
                             f"by {', '.join(self.TERMS)}")

    @classmethod
    def parse(cls, text: str) -> Self:
        """`field` or `-field` (descending)."""
        return cls(text.removeprefix("-"), text.startswith("-"))

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(cls.TERMS)

    def __str__(self) -> str:
        return f"-{self.field}" if self.descending else self.field

    @property
    def terms(self) -> tuple[str, ...]:
        return self.TERMS[self.field]

    @property
    def key_length(self) -> int:
        return len(self.terms)


def fetch_page(
    db: sqlite3.Connection,
    table: str,
    columns: Sequence[str],
    order: SortOrder,
    *,
    limit: int | None,
    after: SortKey | None,
    where: Mapping[str, Any],
) -> tuple[list[tuple[Any, ...]], SortKey | None]:
    """Up to `limit` rows of `columns` in `order` after the key `after` (a previous page's),
    and the key to pass for the next page, None on the last. `where` is SQL conditions, each
    with the one parameter it takes."""
    clauses = list(where)
    args: list[Any] = list(where.values())
    terms = order.terms
    if after is not None:
        if len(after) != len(terms):
            raise ValueError(f"a key of sort {order} has {len(terms)} terms")
        bound = [_NO_VALUE if value is None else value for value in after]
        before, beyond = ("<=", "<") if order.descending else (">=", ">")
        if len(terms) > 1:
            # Implied by the row-value comparison, but SQLite seeks an expression index
            # only on a bound of the expression alone.
            clauses.append(f"{terms[0]} {before} ?")
            args.append(bound[0])
        clauses.append(f"({', '.join(terms)}) {beyond} ({', '.join('?' * len(terms))})")
        args.extend(bound)
    query = f"SELECT {', '.join(columns)}, {', '.join(terms)} FROM {table}"
    if clauses:
        query += " WHERE " + " AND ".join(clauses)
    query += " ORDER BY " + ", ".join(
        f"{term} DESC" if order.descending else term for term in terms)
    if limit is not None:
        query += f" LIMIT {int(limit) + 1}"
    rows = db.execute(query, args).fetchall()
    more = limit is not None and len(rows) > limit
    rows = rows[:limit]
    next_key = None
    if more and rows:
        next_key = tuple(None if value == _NO_VALUE else value
                         for value in rows[-1][len(columns):])
    return [row[:len(columns)] for row in rows], next_key
