"""When InfluxDB answers history queries with an error, the API's 503 says only that the
telemetry store did not answer: InfluxDB's own error text, and its address, go to the
gateway's log, never to an API client."""

from __future__ import annotations

import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from support.common import free_port
from support.gateways import run_gateway
from support.servers import Mosquitto, serve_http

# What this module tests does not touch the state database (tests/e2e/conftest.py).
STATE_ENGINES = ("sqlite",)

INFLUX_ERROR = "shard 7 corrupt at /var/lib/influxdb/data/boomerang-internal"


class FailingInfluxDB(BaseHTTPRequestHandler):
    """A real HTTP server in InfluxDB's place that answers every request with a 500 whose
    body is an error text of its own."""

    def _fail(self) -> None:
        body = f'{{"error": "{INFLUX_ERROR}"}}'.encode()
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._fail()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self._fail()

    def log_message(self, *args: Any) -> None:
        pass


def test_history_503_carries_no_influxdb_error_text(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto
) -> None:
    influx_port = free_port()
    env = {"BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
           "BOOMERANG_INFLUX_URL": f"http://127.0.0.1:{influx_port}"}
    with serve_http(influx_port, FailingInfluxDB), \
            run_gateway(Path(tmp_path_factory.mktemp("gateway-failing-influx")), env,
                        telemetry_down=True) as gateway, gateway.client() as api:
        asset_id = f"trk-{uuid.uuid4().hex[:8]}"
        api.post("/api/v1/assets", json={"id": asset_id, "tag_id": "tag-never",
                                         "kind": "rental", "flow": "rental_return"}
                 ).raise_for_status()
        for path in (f"/api/v1/assets/{asset_id}/track", "/api/v1/tags/tag-never/latest"):
            response = api.get(path)
            assert response.status_code == 503, response.text
            assert INFLUX_ERROR not in response.text and str(influx_port) not in response.text
            assert response.json() == {
                "detail": "the telemetry store did not answer; try again later"}
        log = gateway.output()
    # The operator still learns why: a warning in the log, with InfluxDB's words.
    warnings = [line for line in log.splitlines()
                if "level=WARNING" in line and "gateway.api.history" in line]
    assert len(warnings) == 2 and all(INFLUX_ERROR in line for line in warnings), log[-3000:]

