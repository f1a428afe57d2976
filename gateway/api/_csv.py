"""The CSV bodies of the import endpoints: read within a size limit, split into rows, and each
row's cells checked by a pydantic model. A bad row becomes that row's problems, so that it
never stops the others; only a file that cannot be read as a table is refused whole."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from fastapi import HTTPException, Request, Response, status
from pydantic import BaseModel, ValidationError

from gateway.imports import ImportRow, Outcome, Problem, RowOutcome, chunks

MAX_CSV_BYTES = 20 * 1024 * 1024
CSV_MEDIA_TYPES = ("text/csv", "application/csv")
LIST_SEPARATOR = ";"

ImportMode = Literal["upsert", "create"]

# A recall's serial list is one cell and may hold 100,000 serials: far past the csv
# module's 128 KiB default; the body limit bounds it instead.
csv.field_size_limit(MAX_CSV_BYTES)

OPENAPI_CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "UTF-8 CSV; the header row names the columns (the JSON field names); "
        f"at most {MAX_CSV_BYTES // (1024 * 1024)} MiB",
    }
}
IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    415: {"description": "the body is not text/csv"},
    422: {"description": "the file is not a table: no header, an unknown or repeated column, "
          "not UTF-8; or a bad `mode`"},
}


def _unreadable(where: str, msg: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": ["body", where], "msg": msg, "type": "value_error"}])


async def read_csv_body(request: Request) -> str:
    """The body as text; 415 unless it is CSV. The API's BodySizeLimit (gateway/api/_bodies.py)
    answers 413 past MAX_CSV_BYTES, before the body is read whole."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in CSV_MEDIA_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"send the file as text/csv, not {media or 'without a content-type'}")
    body = await request.body()
    try:
        return body.decode("utf-8-sig")  # spreadsheets write a byte-order mark
    except UnicodeDecodeError as exc:
        raise _unreadable("file", f"not UTF-8 text (byte {exc.start}): save the file as "
                          "CSV UTF-8") from None


async def parse_rows(
    text: str,
    model: type[BaseModel],
    *,
    lists: frozenset[str] = frozenset(),
    empty: Mapping[str, Any] | None = None,
) -> list[ImportRow]:
    """Rows of `text` checked by `model` (which has an `id` field). Cells are stripped; a
    cell of a `lists` column holds items separated by `;`; an empty cell is the column's
    `empty` value, None by default (which clears an optional field). A chunk of rows at a
    time, letting the event loop run between two."""
    # Universal newlines: files from old spreadsheets end lines with a lone CR. Strict: an
    # unclosed quote would otherwise swallow every row after it into one cell.
    reader = csv.reader(io.StringIO(text, newline=None), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise _unreadable("header", "the file is empty: its first row names the columns")
        known = model.model_fields
        unknown = [name for name in header if name not in known]
        if unknown:
            raise _unreadable("header", f"unknown column {', '.join(map(repr, unknown))}; "
                              f"the columns are {', '.join(known)}")
        repeated = [name for name, count in Counter(header).items() if count > 1]
        if repeated:
            raise _unreadable("header", f"column {', '.join(map(repr, repeated))} repeated")
        rows = []
        async for chunk in chunks(enumerate(reader, start=2)):
            rows += [_row(number, header, cells, model, lists, empty or {})
                     for number, cells in chunk if any(cell.strip() for cell in cells)]
    except csv.Error as exc:
        raise _unreadable("file", f"row {reader.line_num}: {exc}") from None
    return rows


def _row(
    number: int,
    header: list[str],
    cells: list[str],
    model: type[BaseModel],
    lists: frozenset[str],
    empty: Mapping[str, Any],
) -> ImportRow:
    named_id = None
    if "id" in header and header.index("id") < len(cells):
        named_id = cells[header.index("id")].strip() or None
    if len(cells) != len(header):
        return ImportRow(number, named_id, problems=[Problem(
            "", f"{len(cells)} cells where the header names {len(header)} columns")])
    values: dict[str, Any] = {}
    for name, raw in zip(header, cells, strict=True):
        cell = raw.strip()
        if name in lists:
            values[name] = [item.strip() for item in cell.split(LIST_SEPARATOR) if item.strip()]
        else:
            values[name] = cell if cell else empty.get(name)
    try:
        checked = model.model_validate(values)
    except ValidationError as exc:
        return ImportRow(number, named_id, problems=[
            Problem(str(error["loc"][0]) if error["loc"] else "",
                    error["msg"].removeprefix("Value error, "))
            for error in exc.errors()])
    changes = checked.model_dump(exclude_unset=True)
    row_id = changes.pop("id", None)
    for name in lists & changes.keys():
        changes[name] = tuple(changes[name])
    return ImportRow(number, row_id, changes)


def report(outcomes: list[RowOutcome]) -> Response:
    """An ImportReport, serialised here rather than validated by FastAPI: for a large file
    that would hold up the event loop for longer than the whole import does between two
    chunks."""
    counts = Counter(outcome.outcome for outcome in outcomes)
    body: dict[str, Any] = {
        "created": counts[Outcome.CREATED], "updated": counts[Outcome.UPDATED],
        "rejected": counts[Outcome.REJECTED],
        "rows": [{"row": o.row, "id": o.id, "outcome": o.outcome,
                  "errors": [{"field": p.field, "reason": p.reason} for p in o.problems]}
                 for o in outcomes],
    }
    return Response(orjson.dumps(body), media_type="application/json")
