"""`boomerang demo` as a person runs it: one command, readings and alerts within a minute."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from support import processes
from support.common import ROOT, free_port

# What this module tests does not touch the state database (tests/e2e/conftest.py).
STATE_ENGINES = ("sqlite",)


def demo(*args: str) -> subprocess.Popen[str]:
    ports = ["--mqtt-port", str(free_port()), "--api-port", str(free_port()),
             "--webhook-port", str(free_port())]
    return processes.popen(
        [sys.executable, "-m", "gateway", "demo", *ports, *args], cwd=ROOT, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin",
                                                             "COLUMNS": "200"},
    )


def test_the_demo_shows_readings_alerts_and_verified_webhooks() -> None:
    process = demo("--duration", "40")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert "alert.opened recall" in output
    assert "alert.opened out_of_spec" in output  # the temperature excursion
    assert "alert.opened overdue" in output  # the rental past due
    assert "asset.arrived" in output
    assert "webhook signature ok alert.opened recall" in output
    final = [line for line in output.splitlines() if "readings ingested" in line][-1]
    ingested = int(final.split("readings ingested")[1].split()[0])
    assert ingested > 500
    assert "dead letters 0 " not in final  # the malformed tag is dead-lettered
    assert "demo stopped" in output


def test_the_demo_plays_a_scenario_and_prints_its_verdict() -> None:
    process = demo("--scenario", "device_sim/scenarios/cold_chain_returns.yaml",
                   "--time-scale", "6000")
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output
    assert "cold_chain_returns (seed" in output
    assert "missed 0" in output and "unexpected 0" in output
    assert "demo stopped" in output


def test_ctrl_c_stops_the_demo_cleanly() -> None:
    process = demo()
    time.sleep(8)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "demo stopped" in output and "Traceback" not in output


def test_demo_help_names_what_it_starts_and_the_ports() -> None:
    result = processes.run([sys.executable, "-m", "gateway", "demo", "--help"], cwd=ROOT,
                           capture_output=True, text=True, env={"COLUMNS": "200",
                                                                "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0
    for words in ("MQTT broker", "1884", "REST", "8080", "webhook receiver", "8081",
                  "simulator"):
        assert words in result.stdout
