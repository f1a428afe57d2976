"""Keyset paging for the list endpoints: the `sort`, `limit` and `cursor` parameters as one
dependency, cursors made and checked; a bad sort or cursor is 422 naming the parameter."""

# No `from __future__ import annotations`: FastAPI reads the parameters of `paging` from its
# annotations, which name values of the enclosing function, so they must be evaluated there.
import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query

from gateway.api._deps import invalid
from gateway.api.schemas import Page
from gateway.imports import Problem
from gateway.registry import SortKey, SortOrder

Order = TypeVar("Order", bound=SortOrder)
Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class PageRequest(Generic[Order]):
    """What a list request asks for: the sort, how many items, and the key to start after."""

    order: Order
    limit: int
    after: SortKey | None

    def page(self, items: list[Item], next_key: SortKey | None) -> Page[Item]:
        """The answer: `items`, and a cursor for the page after `next_key` (None: none)."""
        return Page(items=items, next_cursor=encode_cursor(self.order, next_key))


def page_request(
    order_type: type[Order], default: str, notes: str = ""
) -> Callable[..., PageRequest[Order]]:
    """A dependency taking `sort` (`default` when not given), `limit` and `cursor`."""
    sort_help = (f"`field` or `-field` (descending), one of {', '.join(order_type.fields())}; "
                 f"ties by id; {default} by default{notes}")

    def paging(
        sort: Annotated[str, Query(description=sort_help)] = default,
        limit: Annotated[int, Query(ge=1, le=1000, description="items a page")] = 100,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page "
                                            "(the same sort; filters may change)")] = None,
    ) -> PageRequest[Order]:
        try:
            order = order_type.parse(sort)
        except ValueError as exc:
            raise invalid("query", [Problem("sort", str(exc))]) from None
        return PageRequest(order, limit, decode_cursor(cursor, order))

    return paging


def encode_cursor(order: SortOrder, key: SortKey | None) -> str | None:
    """The `next_cursor` of a page that ended at `key` (None: the last page)."""
    if key is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps([str(order), *key])).decode().rstrip("=")


def decode_cursor(cursor: str | None, order: SortOrder) -> SortKey | None:
    """The key a cursor carries; 422 unless it is one this API made for the same sort."""
    if cursor is None:
        return None
    try:
        data: Any = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        data = None
    if not (isinstance(data, list) and len(data) == order.key_length + 1
            and all(isinstance(v, str) or v is None for v in data) and isinstance(data[-1], str)):
        raise invalid("query", [Problem("cursor", "not a cursor this API made: pass "
                                         "next_cursor of the previous page as it is")])
    if data[0] != str(order):
        raise invalid("query", [Problem("cursor", f"this cursor pages sort={data[0]}, "
                                         f"not sort={order}")])
    return tuple(data[1:])
