"""The live display of a scenario being played: messages sent, rate, faults injected, REST
calls made, and simulated time elapsed and remaining."""

from __future__ import annotations

import time
from datetime import timedelta
from types import TracebackType

from rich.live import Live
from rich.table import Table

from device_sim.player import PlayStats
from device_sim.timeline import Timeline


def _span(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class PlayProgress:
    def __init__(self, timeline: Timeline) -> None:
        self._timeline = timeline
        self._live = Live(self._render(PlayStats()), refresh_per_second=4, transient=False)

    def _render(self, stats: PlayStats) -> Table:
        elapsed = max(time.monotonic() - stats.started, 1e-9)
        table = Table.grid(padding=(0, 2))
        table.add_row("scenario", f"{self._timeline.scenario} (seed {self._timeline.seed})")
        table.add_row("messages", f"{stats.sent + stats.refused} of {stats.total}"
                      f" ({stats.refused} refused by the broker)")
        table.add_row("rate", f"{(stats.sent + stats.refused) / elapsed:,.0f} msg/s")
        faults = ", ".join(f"{name} {n}" for name, n in sorted(stats.faults.items()))
        table.add_row("faults", faults or "none yet")
        if self._timeline.actions:
            table.add_row("API calls", f"{stats.api_calls + stats.api_failed} of "
                          f"{len(self._timeline.actions)} ({stats.api_failed} failed)")
        table.add_row("simulated", f"{_span(stats.simulated_s)} elapsed, "
                      f"{_span(max(0.0, stats.span_s - stats.simulated_s))} to go")
        return table

    def update(self, stats: PlayStats) -> None:
        self._live.update(self._render(stats))

    def __enter__(self) -> PlayProgress:
        self._live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._live.__exit__(kind, error, trace)
