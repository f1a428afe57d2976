"""The live display of a scenario being played says what a developer watches for."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from device_sim.player import PlayStats
from device_sim.progress import PlayProgress
from device_sim.scenario import load_scenario
from device_sim.timeline import compile_scenario

SCENARIO = Path(__file__).resolve().parents[3] / "device_sim" / "scenarios" / "rentals.yaml"


def test_the_display_shows_messages_rate_faults_and_simulated_time() -> None:
    timeline = compile_scenario(load_scenario(SCENARIO), now=datetime.now(UTC))
    stats = PlayStats(total=len(timeline.emissions), sent=120, refused=3,
                      faults=Counter({"silent": 1, "overdue": 2}),
                      simulated_s=3600.0, span_s=4 * 3600.0)
    console = Console(record=True, width=120)
    console.print(PlayProgress(timeline)._render(stats))
    text = console.export_text()
    assert f"123 of {len(timeline.emissions)}" in text
    assert "3 refused by the broker" in text
    assert "overdue 2, silent 1" in text
    assert "1:00:00 elapsed, 3:00:00 to go" in text
    assert "msg/s" in text and "rentals" in text
