"""Both InfluxDB writers land the contract's schema in a real InfluxDB.

InfluxDB 1.6 has no /api/v2/write, so the v2 writer goes through a test-only endpoint
that forwards it to /write: the translation InfluxDB 1.8 does itself."""

from __future__ import annotations

import gc
import threading
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.common import free_port
from support.servers import InfluxDB

from ingest.readings import Reading, TagBinding
from ingest.sinks import (
    InfluxV1Sink,
    InfluxV2Sink,
    SqliteTelemetrySink,
    telemetry_point,
    to_line,
)

# What this module tests does not touch the state database (tests/e2e/conftest.py).
STATE_ENGINES = ("sqlite",)

BINDING = TagBinding("asset-1", "shipment", "recall")


@pytest.fixture
def v2_forwarder(influxdb: InfluxDB) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """POST /api/v2/write?bucket=B&precision=P -> POST /write?db=B&precision=P."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = httpx.URL(self.path)
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            seen.append({"path": url.path, "params": dict(url.params),
                         "authorization": self.headers.get("authorization")})
            precision = {"us": "u", "ms": "ms", "s": "s", "ns": "ns"}[url.params["precision"]]
            response = httpx.post(f"{influxdb.url}/write", content=body,
                                  params={"db": url.params["bucket"], "precision": precision})
            self.send_response(response.status_code)
            self.send_header("content-length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def readings(count: int) -> list[Reading]:
    start = datetime.now(UTC) - timedelta(hours=2)
    return [Reading("tag-1", start + timedelta(seconds=i), i, {"temp_c": 4.0 + i / 100,
                                                             "lat": 50.0, "lon": 8.0})
            for i in range(count)]


async def test_the_v2_writer_lands_points_through_the_v2_write_api(
    influxdb: InfluxDB, v2_forwarder: tuple[str, list[dict[str, Any]]]
) -> None:
    url, seen = v2_forwarder
    bucket = f"v2_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(bucket)
    sink = InfluxV2Sink(url, org="boomerang", bucket=bucket, token="t0ken")
    await sink.write([telemetry_point(r, BINDING) for r in readings(120)])
    await sink.close()
    assert seen[0]["path"] == "/api/v2/write"
    assert seen[0]["params"]["org"] == "boomerang"
    assert seen[0]["authorization"] == "Token t0ken"
    assert influxdb.count(bucket, "SELECT count(temp_c) FROM telemetry "
                                  "WHERE asset_id='asset-1' AND flow='recall'") == 120


async def test_the_v1_writer_lands_points_and_creates_the_database(influxdb: InfluxDB) -> None:
    db = f"v1_{uuid.uuid4().hex[:8]}"
    sink = InfluxV1Sink(influxdb.url, db)
    await sink.ensure_database()
    await sink.write([telemetry_point(r, BINDING) for r in readings(50)])
    await sink.close()
    assert influxdb.count(db, "SELECT count(seq) FROM telemetry WHERE tag_id='tag-1'") == 50


async def test_a_v1_write_lets_go_of_its_body_without_a_garbage_collection(
        influxdb: InfluxDB) -> None:
    """httpx leaves each request in a reference cycle; a body held there waited for a full
    collection, which `serve`'s tuned collector makes rare: 30 MB a fleet snapshot."""
    db = f"v1_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(db)
    sink = InfluxV1Sink(influxdb.url, db)
    points = [telemetry_point(r, BINDING) for r in readings(5000)]
    body_bytes = len("\n".join(to_line(point) for point in points))
    await sink.write(points)  # the connection, opened once
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        for _ in range(5):
            await sink.write(points)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    await sink.close()
    assert held < body_bytes
    assert influxdb.count(db, "SELECT count(temp_c) FROM telemetry") == 5000


async def test_the_sqlite_sink_stores_a_replayed_batch_once(tmp_path: Path) -> None:
    sink = SqliteTelemetrySink(tmp_path / "telemetry.db")
    points = [telemetry_point(r, BINDING) for r in readings(30)]
    await sink.write(points)
    await sink.write(points)
    await sink.close()
    import sqlite3

    db = sqlite3.connect(tmp_path / "telemetry.db")
    assert db.execute("SELECT count(*), min(seq), max(seq) FROM telemetry").fetchone() == (
        30, 0, 29)
