"""A shipped scenario played through a real broker into a real gateway running on event
time: `boomerang sim verify` finds every alert and arrival the scenario's ground truth
expects. And the verdict can fail: against a gateway that saw nothing, it reports misses."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
from realservers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    ROOT,
    TAG_PASSWORD,
    InfluxDB,
    metric,
    run_gateway,
    run_mosquitto,
    wait_until,
)

from device_sim.scenario import load_scenario
from device_sim.timeline import compile_scenario

SCENARIO = ROOT / "device_sim" / "scenarios" / "all_faults.yaml"
TTS_BRIDGE = "tts-bridge"
TIME_SCALE = "20000"


def boomerang(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env={"PATH": "", "BOOMERANG_API_KEY": "test-admin-key",
                               "BOOMERANG_SIM_TAG_PASSWORD": TAG_PASSWORD,
                               "COLUMNS": "200"})


def settled(read: Callable[[], float], quiet_s: float = 2.0, timeout: float = 120) -> None:
    """Until `read` gives the same non-zero value for `quiet_s`."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = read()
        if now != last or now == 0:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
    raise TimeoutError(f"still changing after {timeout} s (last {last})")


def test_a_scenario_played_on_event_time_raises_what_its_ground_truth_expects(
    tmp_path: Path, influxdb: InfluxDB
) -> None:
    timeline = compile_scenario(load_scenario(SCENARIO), now=datetime.now(UTC))
    tags = tuple(sorted(u for u in timeline.logins if u != TTS_BRIDGE))
    influxdb.create_database("scenario")
    with run_mosquitto(tmp_path / "mosquitto", tags,
                       extra_users={TTS_BRIDGE: TAG_PASSWORD}) as broker:
        env = {
            "BOOMERANG_MQTT_URL":
                f"mqtt://{GATEWAY_USER}:{GATEWAY_PASSWORD}@127.0.0.1:{broker.port}",
            "BOOMERANG_INFLUX_URL": influxdb.url, "BOOMERANG_INFLUX_DB": "scenario",
            "BOOMERANG_CLOCK": "event", "BOOMERANG_TIMER_INTERVAL_S": "0.1",
        }
        with run_gateway(tmp_path / "gw", env) as gateway:
            truth = tmp_path / "truth.json"
            played = boomerang("sim", "play", str(SCENARIO), "--broker",
                               f"mqtt://127.0.0.1:{broker.port}", "--register-api",
                               gateway.api, "--time-scale", TIME_SCALE, "--no-progress",
                               "--truth", str(truth))
            assert played.returncode == 0, played.stderr
            figures = orjson.loads(played.stdout.strip().splitlines()[-1])
            assert figures["sent"] + figures["refused"] == len(timeline.emissions)
            # MQTT v5: the broker's ACL refuses every impersonating publish, and says so.
            assert figures["refused"] == timeline.faults["impersonation"] > 0
            # Handled all that the broker let through (it refuses impersonations), the
            # buffers written, and a timer tick after the last reading.
            settled(lambda: metric(gateway.api, "boomerang_ingest_messages_total"))
            wait_until(lambda: metric(gateway.api, "boomerang_sink_points_buffered") == 0,
                       30, "buffers flushed")
            time.sleep(0.5)
            verdict = boomerang("sim", "verify", str(truth), "--api", gateway.api)
            print(verdict.stdout)
            assert verdict.returncode == 0, verdict.stdout + verdict.stderr
            assert "missed 0" in verdict.stdout
        with run_gateway(tmp_path / "empty", env) as empty:
            blind = boomerang("sim", "verify", str(truth), "--api", empty.api)
            assert blind.returncode == 1
            assert "missed 0" not in blind.stdout
