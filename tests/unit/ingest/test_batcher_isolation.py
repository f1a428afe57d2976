"""The batcher in front of real sinks: a point a sink refuses costs only itself (the batch is
split until it is found), a sink that is down gets the batch again whole, nothing is retried
that retrying cannot fix, and cancellation ends a write at once."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from support.common import free_port
from support.servers import serve_http, silent_server

from ingest.sinks import InfluxV1Sink, Point, PointBatcher, Spool, SqliteTelemetrySink

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def points(count: int, tags: int = 50) -> list[Point]:
    return [Point("telemetry", {"tag_id": f"t{n % tags}", "asset_id": "unassigned"},
                  {"temp_c": 4.0, "seq": n}, T0 + timedelta(seconds=n)) for n in range(count)]


class CountingSqliteSink(SqliteTelemetrySink):
    """The real SQLite sink, counting its writes."""

    writes = 0

    async def write(self, points: Sequence[Point]) -> None:
        self.writes += 1
        await super().write(points)


async def write_through(batcher: PointBatcher, batch: list[Point]) -> None:
    done = asyncio.Event()
    running = asyncio.create_task(batcher.run())
    await batcher.add(batch, done.set)
    batcher.flush_soon()
    async with asyncio.timeout(30):
        await done.wait()
    await batcher.close()
    await running


async def test_a_point_sqlite_cannot_hold_costs_only_itself(tmp_path: Path) -> None:
    """seq >= 2**63 once made every write of its batch fail and be retried forever."""
    sink = CountingSqliteSink(tmp_path / "telemetry.db")
    refused: list[tuple[Sequence[Point], str]] = []
    written: list[int] = []
    batcher = PointBatcher(sink, max_points=5000, on_rejected=lambda p, r: refused.append((p, r)),
                           on_written=lambda p: written.append(len(p)))
    batch = points(5000)
    bad = Point("telemetry", {"tag_id": "poison", "asset_id": "unassigned"},
                {"temp_c": 4.0, "seq": 2**63}, T0)
    batch[1234] = bad
    await write_through(batcher, batch)
    await sink.close()

    assert [(list(p), "too large" in r) for p, r in refused] == [([bad], True)]
    db = sqlite3.connect(tmp_path / "telemetry.db")
    assert db.execute("SELECT count(*) FROM telemetry").fetchone() == (4999,)
    assert sum(written) == 4999
    # Found by halving: about two writes per level, 13 levels for 5000 points.
    assert sink.writes <= 2 * 13 + 1


@contextlib.contextmanager
def influx_stand_in(answer: list[int], refuse_marker: bytes | None = None
                    ) -> Iterator[tuple[str, list[bytes]]]:
    """A real HTTP server in InfluxDB's place: answers `/write` with the statuses of
    `answer` in turn; after them, 400 to a body holding `refuse_marker`, else 204."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            bodies.append(body)
            if answer:
                status = answer.pop(0)
            elif refuse_marker is not None and refuse_marker in body:
                status = 400
            else:
                status = 204
            payload = b'{"error":"partial write: field type conflict: dropped=1"}'
            self.send_response(status)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    with serve_http(port, Handler):
        yield f"http://127.0.0.1:{port}", bodies


async def test_a_sink_that_is_down_gets_the_batch_again_whole() -> None:
    with influx_stand_in([503, 500]) as (url, bodies):
        sink = InfluxV1Sink(url, "db")
        refused: list[Sequence[Point]] = []
        batcher = PointBatcher(sink, on_rejected=lambda p, _: refused.append(p))
        await write_through(batcher, points(100))
        await sink.close()
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
    assert refused == [] and batcher.healthy


async def test_a_refused_point_is_found_and_the_rest_written_with_influxdb_s_reason() -> None:
    batch = points(64)
    batch[40] = Point("telemetry", {"tag_id": "poison", "asset_id": "unassigned"},
                      {"door": "open"}, T0)
    with influx_stand_in([], refuse_marker=b"poison") as (url, bodies):
        sink = InfluxV1Sink(url, "db")
        refused: list[tuple[Sequence[Point], str]] = []
        batcher = PointBatcher(sink, on_rejected=lambda p, r: refused.append((p, r)))
        await write_through(batcher, batch)
        await sink.close()
    assert [(list(p), r) for p, r in refused] == [
        ([batch[40]], "InfluxDB refused it (field type conflict)")]
    written = [line for body in bodies if b"poison" not in body for line in body.split(b"\n")]
    assert len(written) == 63 and len(set(written)) == 63  # each good point once


class CountingSpool(Spool):
    appended: list[int]

    def append(self, points: Sequence[Point]) -> list[Point]:
        self.appended = [*getattr(self, "appended", []), len(points)]
        return super().append(points)


async def test_a_transient_failure_while_splitting_spools_only_what_is_unwritten(
    tmp_path: Path,
) -> None:
    """Refused, then split; the first half written; then the sink goes down: the spool gets
    the second half only, and no point is reported written twice."""
    batch = points(8)
    batch[6] = Point("telemetry", {"tag_id": "poison", "asset_id": "unassigned"},
                     {"door": "open"}, T0)
    # The whole batch: refused; its first half (4): written; its second half: down (503).
    # Then the drain writes the spooled half: refused again, split, the poison found.
    with influx_stand_in([400, 204, 503], refuse_marker=b"poison") as (url, _):
        sink = InfluxV1Sink(url, "db")
        written: list[Point] = []
        refused: list[Point] = []
        spool = CountingSpool(tmp_path / "spool.db", 1000)
        batcher = PointBatcher(sink, spool=spool, on_written=written.extend,
                               on_rejected=lambda p, _: refused.extend(p))
        running = asyncio.create_task(batcher.run())
        done = asyncio.Event()
        await batcher.add(batch, done.set)
        batcher.flush_soon()
        async with asyncio.timeout(30):
            await done.wait()  # handed off: half written, half spooled
            assert spool.appended == [4]
            while spool.batches:  # the drain writes the spooled half
                await asyncio.sleep(0.05)
        await batcher.close()
        await running
        await sink.close()
    assert refused == [batch[6]]
    assert sorted(p.fields.get("seq", -1) for p in written) == [0, 1, 2, 3, 4, 5, 7]


async def test_a_dead_letter_store_that_fails_is_retried_and_the_batcher_goes_on(
    tmp_path: Path,
) -> None:
    """The dead-letter store (the state database) failing is no reason to drop a refused
    point, nor to end the batcher: it waits and writes it again."""
    sink = CountingSqliteSink(tmp_path / "telemetry.db")
    refused: list[Point] = []
    attempts: list[int] = []

    def dead_letter(points: Sequence[Point], _: str) -> None:
        attempts.append(len(points))
        if len(attempts) == 1:
            raise sqlite3.OperationalError("database is locked")
        refused.extend(points)

    batcher = PointBatcher(sink, on_rejected=dead_letter)
    batch = points(10)
    batch[3] = Point("telemetry", {"tag_id": "poison", "asset_id": "unassigned"},
                     {"seq": 2**63}, T0)
    await write_through(batcher, batch)
    await sink.close()
    assert attempts == [1, 1] and refused == [batch[3]]


@pytest.fixture
def silent_influxdb() -> Iterator[str]:
    with silent_server() as url:
        yield url


async def test_cancelling_a_batcher_whose_write_hangs_ends_it(
    silent_influxdb: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """tenacity once retried the CancelledError itself, so the task outlived `cancel()`."""
    sink = InfluxV1Sink(silent_influxdb, "db")  # its own timeout is 30 s
    batcher = PointBatcher(sink)
    running = asyncio.create_task(batcher.run())
    await batcher.add(points(10))
    batcher.flush_soon()
    await asyncio.sleep(0.5)  # the write is under way, waiting for an answer
    running.cancel()
    async with asyncio.timeout(3):  # a hang fails here instead of hanging the run
        with pytest.raises(asyncio.CancelledError):
            await running
    await sink.close()
    assert "retrying" not in caplog.text
