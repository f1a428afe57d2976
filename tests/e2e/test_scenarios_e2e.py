"""A shipped scenario played through a real broker into a real gateway running on event
time: `boomerang sim verify` finds every alert and arrival the scenario's ground truth
expects. And the verdict can fail: against a gateway that saw nothing, it reports misses."""

from __future__ import annotations

from pathlib import Path

from support.common import ROOT
from support.gateways import boomerang, play_scenario, run_gateway
from support.servers import InfluxDB

SCENARIO = ROOT / "device_sim" / "scenarios" / "all_faults.yaml"


def test_a_scenario_played_on_event_time_raises_what_its_ground_truth_expects(
    tmp_path: Path, influxdb: InfluxDB
) -> None:
    with play_scenario(tmp_path, influxdb, SCENARIO, "scenario") as played:
        figures, timeline = played.figures, played.timeline
        assert figures["sent"] + figures["refused"] == len(timeline.emissions)
        # MQTT v5: the broker's ACL refuses every impersonating publish, and says so.
        assert figures["refused"] == timeline.faults["impersonation"] > 0
        verdict = boomerang("sim", "verify", str(played.truth), "--api", played.gateway.api)
        print(verdict.stdout)
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr
        assert "missed 0" in verdict.stdout
        # Beside the first, with a broker account of its own (not to take over its session).
        blind_env = {**played.gateway_env, "BOOMERANG_MQTT_URL": played.broker.gateway_url()}
        with run_gateway(tmp_path / "empty", blind_env) as empty:
            blind = boomerang("sim", "verify", str(played.truth), "--api", empty.api)
            assert blind.returncode == 1
            assert "missed 0" not in blind.stdout
