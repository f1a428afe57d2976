"""`boomerang demo --scenario lifecycle`: a person watching sees trips move, get re-routed,
and dispositions other than restock recommended and decided."""

from __future__ import annotations

import subprocess
import sys

from support import processes
from support.common import ROOT, free_port

# What this module tests is the demo's terminal, not the state database.
STATE_ENGINES = ("sqlite",)


def test_the_lifecycle_demo_shows_trip_moves_reroutes_and_dispositions() -> None:
    ports = ["--mqtt-port", str(free_port()), "--api-port", str(free_port()),
             "--webhook-port", str(free_port())]
    # Four times the scenario's pace: what is shown, not the verdict's timing, is the point.
    process = processes.popen(
        [sys.executable, "-m", "gateway", "demo", *ports, "--scenario", "lifecycle",
         "--time-scale", "9600"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    output, _ = process.communicate(timeout=180)
    assert "Traceback" not in output, output
    assert "lifecycle (seed 17)" in output and "demo stopped" in output
    assert "trip.status_changed trp-lr-0001-1 (rental_return, asset-lr-0001): new -> " \
           "checked_out" in output
    assert "trip.rerouted trp-lx-0001-1" in output
    for shown in ("recommended quarantine (default:recall-alert)",
                  "recommended inspect (default:out-of-spec)", "disposition repair",
                  "disposition refurbish", "disposition recycle", "disposition dispose"):
        assert shown in output, shown
    assert "webhook signature ok trip.status_changed" in output
