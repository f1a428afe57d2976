"""The contract test: schemathesis generates requests from the live OpenAPI schema (with an
admin key, so that every operation is reached) and finds no server error."""

from __future__ import annotations

import sys
from pathlib import Path

from support import processes
from support.common import ROOT
from support.gateways import run_gateway
from support.servers import Mosquitto

EXAMPLES_PER_OPERATION = "25"


def test_generated_requests_find_no_server_error(tmp_path: Path, mosquitto: Mosquitto) -> None:
    env = {"BOOMERANG_MQTT_URL": mosquitto.gateway_url()}
    with run_gateway(tmp_path / "gw", env, record_responses=False) as gateway:
        result = processes.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run",
             f"{gateway.api}/openapi.json", "--header",
             f"Authorization: Bearer {gateway.admin_key}", "--checks", "not_a_server_error",
             "--max-examples", EXAMPLES_PER_OPERATION, "--seed", "1",
             "--report-dir", str(tmp_path / "report")],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        print(result.stdout[-3000:])
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "Server error" not in result.stdout
        assert "Traceback" not in gateway.output()
