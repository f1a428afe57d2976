"""Keyset paging over a table: a sort by one of its named fields, ties broken by id, and the
key its last row ends a page at, from which the next page starts exactly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Table,
    Text,
    case,
    func,
    literal,
    select,
    tuple_,
    type_coerce,
)

from ingest.statedb import StateDb

SortKey = tuple[str | None, ...]
"""Where a page ended: the sort terms of its last row, as text (a null flag as "0" or "1")."""

SortTerms = tuple[ColumnElement[Any], ...]


def _inline(value: object, type_: Any) -> ColumnElement[Any]:
    # A constant written into the SQL itself, not a parameter: SQLite serves a sort from an
    # index on expressions only when the sort's expressions are the very ones indexed.
    return literal(value, type_, literal_execute=True)


def last_when_null(column: ColumnElement[Any]) -> tuple[ColumnElement[int], ColumnElement[str]]:
    """The sort terms of a nullable TEXT column: 1 for a row without a value, else 0 (so those
    rows come last, first when descending), then the value, '' for none. Neither term is ever
    NULL, so the keyset's row-value comparison never meets one, which would drop rows; and
    both engines sort and index them alike (`gateway.migrations` indexes the due date's)."""
    return (case((column.is_(None), _inline(1, Integer)), else_=_inline(0, Integer)),
            func.coalesce(column, _inline("", Text), type_=Text))


@dataclass(frozen=True, slots=True)
class SortOrder:
    """A sort by one of a table's sort fields, ascending or descending. A subclass names the
    table's rows (`WHAT`) and what each field orders by (`TERMS`), the id last, so that the
    order is total and a page's key resumes exactly. A term is a TEXT column or expression,
    or a null flag of `last_when_null` (an INTEGER, 0 or 1)."""

    field: str = "id"
    descending: bool = False

    WHAT: ClassVar[str] = ""
    TERMS: ClassVar[Mapping[str, SortTerms]] = {}

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
    def terms(self) -> SortTerms:
        return self.TERMS[self.field]

    @property
    def key_length(self) -> int:
        return len(self.terms)


def _is_flag(term: ColumnElement[Any]) -> bool:
    return isinstance(term.type, Integer)


_FLAGS = {"0": 0, "1": 1}


def _bound(order: SortOrder, term: ColumnElement[Any], value: str | None) -> Any:
    """A key's term as the value to compare the term with."""
    if not _is_flag(term):
        return value
    if value not in _FLAGS:
        raise ValueError(f"not a key of sort {order}: a null flag is '0' or '1'")
    return _FLAGS[value]


def fetch_page(
    db: StateDb,
    table: Table,
    columns: Sequence[ColumnElement[Any]],
    order: SortOrder,
    *,
    limit: int | None,
    after: SortKey | None,
    where: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[Row[Any]], SortKey | None]:
    """Up to `limit` rows of `columns` (of `table`; each row has the sort terms after them) in
    `order` after the key `after` (a previous page's), and the key to pass for the next page,
    None on the last. `where` is conditions every row meets. Raises ValueError for a key that
    is not one of `order`."""
    # Text terms are read and compared as the stored text itself (a timestamp's too, which
    # is what a key carries), without a CAST, which would keep an index from serving them.
    terms = [term if _is_flag(term) else type_coerce(term, Text) for term in order.terms]
    clauses = list(where)
    if after is not None:
        if len(after) != len(terms):
            raise ValueError(f"a key of sort {order} has {len(terms)} terms")
        bound = [_bound(order, term, value) for term, value in zip(terms, after, strict=True)]
        if len(terms) > 1:
            # Implied by the row-value comparison, but SQLite seeks an index on an
            # expression only on a bound of the expression alone.
            clauses.append(terms[0] <= bound[0] if order.descending else terms[0] >= bound[0])
        key, start = tuple_(*terms), tuple_(*(literal(value, term.type)
                                               for term, value in zip(terms, bound, strict=True)))
        clauses.append(key < start if order.descending else key > start)
    query = (select(*columns, *(term.label(f"sort_term_{n}") for n, term in enumerate(terms)))
             .select_from(table).where(*clauses)
             .order_by(*(term.desc() if order.descending else term for term in terms)))
    if limit is not None:
        query = query.limit(int(limit) + 1)
    rows = db.rows(query)
    more = limit is not None and len(rows) > limit
    rows = rows[:limit]
    next_key = None
    if more and rows:
        next_key = tuple(None if value is None else str(value)
                         for value in rows[-1][len(columns):])
    return rows, next_key


def equal_to(table: Table, filterable: frozenset[str], what: str, equal: Mapping[str, Any]
             ) -> list[ColumnElement[bool]]:
    """The conditions `column = value` of a listing's filters (None: not filtered)."""
    where: list[ColumnElement[bool]] = []
    for column, value in equal.items():
        if value is not None:
            if column not in filterable:
                raise ValueError(f"cannot filter {what} by {column}")
            where.append(table.c[column] == str(value))
    return where


def in_chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    """Both engines limit the parameters of one statement."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
