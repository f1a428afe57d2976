"""What the dashboards' asset_states snapshots cost: one snapshot of every asset on its way,
against a baseline measured in the same run, turning as many readings into line protocol
(what ingest does for every reading anyway). Prints JSON.

    .venv/bin/python tests/bench/bench_snapshots.py --assets 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts import AlertStore, RuleEngine, SubscriptionStore, WebhookOutbox
from alerts.domain import Asset, AssetKind, Flow
from gateway.cli import tune_garbage_collector
from gateway.migrations import upgrade
from gateway.snapshots import SNAPSHOT_PART, Snapshots
from ingest.readings import Reading, TagBinding
from ingest.sinks import Point, telemetry_point, to_line
from ingest.statedb import StateDb

T0 = datetime(2026, 11, 29, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    n = args.assets
    with tempfile.TemporaryDirectory() as tmp:
        db = StateDb.open(f"sqlite:///{Path(tmp) / 'state.db'}")  # as the gateway: migrated
        upgrade(db)
        engine = RuleEngine(AlertStore(db), WebhookOutbox(db), SubscriptionStore(db),
                            lambda: T0)
        engine.upsert_assets([
            Asset(f"a{i}", AssetKind.RENTAL, Flow.RENTAL_RETURN, tag_id=f"t{i}", sku="GEN",
                  profile="cold_chain", customer=f"customer {i % 50}",
                  due_at=T0 + timedelta(days=1)) for i in range(n)])
        readings = [Reading(f"t{i}", T0, 1, {"lat": 50.0 + i / n, "lon": 8.0, "temp_c": 5.0,
                                             "battery_pct": 80.0}) for i in range(n)]
        engine.judge_readings(readings)
        tune_garbage_collector()  # as `boomerang serve` does after start-up

        started = time.perf_counter()
        binding = TagBinding("a", "rental", "rental_return")
        baseline = [to_line(telemetry_point(r, binding)) for r in readings]
        baseline_s = time.perf_counter() - started

        points: list[Point] = []
        parts: list[float] = []
        last = time.perf_counter()

        def offer(batch: Sequence[Point]) -> None:
            nonlocal last
            points.extend(batch)
            now = time.perf_counter()
            parts.append(now - last)
            last = now

        snapshots = Snapshots(engine, offer, rules_now=lambda: T0, asset_interval_s=60,
                              stats_interval_s=0, instance="bench", started_at=T0, run=db.run)
        started = last = time.perf_counter()
        asyncio.run(snapshots.on_rules_clock(T0 + timedelta(minutes=1)))
        snapshot_s = time.perf_counter() - started
        started = time.perf_counter()
        lines = [to_line(p) for p in points]
        lines_s = time.perf_counter() - started
        db.close()
    figures = {
        "assets": n, "points": len(points),
        "baseline_readings_to_lines_s": round(baseline_s, 3),
        "snapshot_s": round(snapshot_s, 3), "snapshot_lines_s": round(lines_s, 3),
        "ratio_to_baseline": round((snapshot_s + lines_s) / baseline_s, 2),
        "longest_part_ms": round(max(parts) * 1000, 1), "part_size": SNAPSHOT_PART,
        "median_part_ms": round(sorted(parts)[len(parts) // 2] * 1000, 1),
        "first_part_ms": round(parts[0] * 1000, 1),
        "bytes_per_point": sum(map(len, lines)) // len(lines),
        "baseline_bytes_per_line": sum(map(len, baseline)) // len(baseline),
    }
    print(json.dumps(figures))
    if args.output:
        args.output.write_text(json.dumps({"command": "tests/bench/bench_snapshots.py "
                                           f"--assets {n}", **figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
