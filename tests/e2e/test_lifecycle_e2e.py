"""The lifecycle scenario (device_sim/scenarios/lifecycle.yaml) played through a real broker
into a real gateway on event time, its REST calls made between the readings: every trip
moves, is routed and is recommended a disposition as the ground truth (docs/lifecycle.md's
model, in device_sim/_lifecycle.py) says, and no trip does anything else."""

from __future__ import annotations

import json
from pathlib import Path

from support.common import ROOT
from support.gateways import boomerang, play_scenario
from support.servers import InfluxDB

from device_sim.scenario import load_scenario

SCENARIO = ROOT / "device_sim" / "scenarios" / "lifecycle.yaml"
# The trips' store on PostgreSQL is tested in-process by test_trips_api.py (routing, moves by
# telemetry and by people, a recall re-routing, rentals cycling); a minute and more of CI for
# this scenario again on it buys little (CI must stay under 25 minutes).
STATE_ENGINES = ("sqlite",)


def test_trips_played_on_event_time_move_route_and_recommend_as_the_truth_says(
    tmp_path: Path, influxdb: InfluxDB
) -> None:
    # At the scenario's own time scale (about a minute of wall time): a call is stamped by
    # the gateway's event clock, which trails the readings still in ingest by their latency
    # times the time scale, and the truth's tolerances are reckoned for this one.
    time_scale = f"{load_scenario(SCENARIO).time_scale:g}"
    with play_scenario(tmp_path, influxdb, SCENARIO, "lifecycle",
                       time_scale=time_scale) as played:
        calls = played.figures["api"]
        assert calls["failed"] == 0, calls["errors"]
        assert calls["made"] == calls["of"] > 0
        verdict = boomerang("sim", "verify", str(played.truth), "--api", played.gateway.api)
        print(verdict.stdout)
        figures = json.loads(verdict.stdout.strip().splitlines()[-1])
        assert figures["alerts"]["missed"] == 0, verdict.stdout
        assert figures["alerts"]["unexpected"] == 0, verdict.stdout
        assert figures["trip_changes"]["expected"] > 100
        assert figures["trip_changes"]["missed"] == 0, verdict.stdout
        assert figures["trip_changes"]["unexpected"] == 0, verdict.stdout
        assert figures["hubs"]["wrong"] == 0, verdict.stdout
        assert figures["recommendations"]["wrong"] == 0, verdict.stdout
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr
