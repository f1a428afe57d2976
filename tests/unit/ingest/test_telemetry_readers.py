"""The telemetry readers: InfluxQL quoting, and the SQLite reader over what its sink wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from ingest.readings import Reading, TagBinding
from ingest.sinks import Position, SqliteTelemetryReader, SqliteTelemetrySink, telemetry_point
from ingest.sinks.influxql import influxql_string, influxql_time

T0 = datetime(2026, 11, 29, 8, 0, 0, 123456, tzinfo=UTC)
BINDING = TagBinding("asset-1", "shipment", "recall")


def test_influxql_string_escapes_quotes_backslashes_and_newlines() -> None:
    assert influxql_string("tag-1") == "'tag-1'"
    assert influxql_string("it's") == r"'it\'s'"
    assert influxql_string("a\\'; DROP") == r"'a\\\'; DROP'"
    assert influxql_string("two\nlines") == r"'two\nlines'"


def test_influxql_time_is_utc_microseconds_within_influxdbs_range() -> None:
    assert influxql_time(T0) == "'2026-11-29T08:00:00.123456Z'"
    plus_two = T0.astimezone(timezone(timedelta(hours=2)))
    assert influxql_time(plus_two) == "'2026-11-29T08:00:00.123456Z'"
    assert influxql_time(datetime(1, 1, 1, tzinfo=UTC)) == "'1677-09-22T00:00:00.000000Z'"
    assert influxql_time(datetime(9999, 1, 1, tzinfo=UTC)) == "'2262-04-10T00:00:00.000000Z'"


async def write(path: Path, readings: list[Reading]) -> None:
    sink = SqliteTelemetrySink(path)
    await sink.write([telemetry_point(r, BINDING) for r in readings])
    await sink.close()


async def test_sqlite_track_is_oldest_first_and_cut_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.db"
    await write(path, [Reading("tag-1", T0 + timedelta(minutes=m), m, {"temp_c": float(m)})
                       for m in (3, 0, 2, 1, 4)])
    reader = SqliteTelemetryReader(path)
    found = await reader.track("asset-1", T0, T0 + timedelta(minutes=4), 2)
    assert [r.seq for r in found.readings] == [0, 1]
    assert found.truncated and found.next_from == T0 + timedelta(minutes=2)
    rest = await reader.track("asset-1", T0 + timedelta(minutes=2), T0 + timedelta(minutes=4), 2)
    assert [r.seq for r in rest.readings] == [2, 3] and not rest.truncated
    await reader.close()


async def test_sqlite_latest_falls_back_to_the_newest_located_reading(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.db"
    await write(path, [
        Reading("tag-1", T0, 1, {"lat": 50.0, "lon": 8.0}),
        Reading("tag-1", T0 + timedelta(minutes=2), 3, {"temp_c": 4.0}),
        Reading("tag-1", T0 + timedelta(minutes=1), 2, {"lat": 51.0, "lon": 9.0}),
    ])
    reader = SqliteTelemetryReader(path)
    latest = await reader.latest("tag-1")
    assert latest is not None
    assert latest.reading.seq == 3 and latest.reading.values == {"temp_c": 4.0}
    assert latest.position == Position(51.0, 9.0, T0 + timedelta(minutes=1))
    assert await reader.latest("tag-2") is None
    await reader.close()
