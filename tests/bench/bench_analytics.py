"""Return analytics benchmark: every table of docs/analytics.md (every grouping of those
grouped by choice) over a year of N trips, unfiltered: the heaviest case; then over the last
30 days, the API's default window. The trips, their status changes and their alerts are
written straight into the state database (SQLite in a temp dir, migrated as the gateway does;
or the empty database at --state-url, such as a PostgreSQL one) at realistic ratios: a
quarter as many assets as trips, each asset's trips spread over the year; a flow mix of
returns, rentals and recalls; most trips through to the end of their machine, the newest
still on their way; about five changes and 0.3 alerts a trip. Each table is run once to warm
up, then timed once, through AnalyticsService as the API calls it.

    .venv/bin/python tests/bench/bench_analytics.py [--trips 100000] [--seed 1]
        [--state-url URL] [--output tests/bench/analytics-latest.json]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _report import report
from sqlalchemy import insert, text

from alerts.store import ALERTS
from alerts.trips import machine_of
from gateway.migrations import upgrade
from gateway.registry.assets import ASSETS
from gateway.registry.trips import TRIP_CHANGES, TRIPS
from gateway.services.analytics import TABLES, AnalyticsFilter, AnalyticsService
from ingest.statedb import StateDb

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DAYS = 365
FLOWS = (("customer_return", 40), ("warranty_repair", 12), ("trade_in", 5), ("b2b_return", 8),
         ("end_of_life", 5), ("rental_return", 20), ("recall", 10))
REASONS = ("wrong_size", "defective", "changed_mind", "damaged", "not_as_described", "other",
           None)
DISPOSITIONS = ("restock", "refurbish", "repair", "recycle", "quarantine", "redeploy")
ALERT_KINDS = (("out_of_spec", "temp_c", 25), ("out_of_spec", "humidity_pct", 10),
               ("out_of_spec", "shock_g", 20), ("out_of_spec", "tilt_deg", 5),
               ("out_of_spec", "light_lux", 5), ("overdue", "due_at", 15),
               ("silent", "silent", 10), ("low_battery", "battery_pct", 8),
               ("late_predicted", "eta", 2))
CHUNK = 5000
PATHS = {"return": ("authorized", "in_transit", "arrived", "inspected", "dispositioned", "closed"),
         "rental": ("checked_out", "returned", "inspected", "available"),
         "recall": ("identified", "located", "in_transit", "received", "remedied")}
"""Each machine's statuses, in the order a trip goes through them."""


def trips_of(n: int, rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                  list[dict[str, Any]], list[dict[str, Any]]]:
    """Assets, trips, changes and alerts."""
    hubs = [f"hub-{i}" for i in range(10)]
    carriers = ["DHL", "UPS", "DPD", "GLS", "Hermes", None]
    packaging = ["box", "crate", "pallet", "envelope", None]
    flows = [flow for flow, weight in FLOWS for _ in range(weight)]
    assets, trips, changes, alerts = [], [], [], []
    asset_count = max(1, n // 4)
    per_asset = [n // asset_count + (1 if i < n % asset_count else 0) for i in range(asset_count)]
    for a, count in enumerate(per_asset):
        flow = rng.choice(flows)
        asset_id = f"a{a}"
        assets.append({
            "id": asset_id, "tag_id": f"t{a}", "kind": "rental" if flow == "rental_return"
            else "shipment", "flow": flow, "sku": f"SKU-{rng.randrange(200)}",
            "category": f"class-{rng.randrange(10)}", "state": "received",
            "created_at": T0 - timedelta(days=DAYS + 30)})
        cycle = timedelta(days=DAYS / count)  # an asset's trips spread over the year
        for k in range(count):
            trip_id = f"{asset_id}-{k}"
            last = k == count - 1
            moment = min(T0 - timedelta(days=DAYS) + cycle * (k + rng.uniform(0, 1)),
                         T0 - timedelta(hours=1))
            trip, trip_changes = _trip(trip_id, asset_id, flow, moment, last, rng,
                                       hubs, carriers, packaging)
            trips.append(trip)
            changes += trip_changes
            for _ in range(_poisson(rng, 0.3)):
                kind, key = _weighted(rng, ALERT_KINDS)
                alerts.append({
                    "id": f"alt-{len(alerts)}", "asset_id": asset_id, "kind": kind, "key": key,
                    "severity": "warning", "state": "resolved", "summary": "bench",
                    "details": {}, "opened_at": trip["created_at"] + timedelta(hours=1),
                    "resolved_at": trip["created_at"] + timedelta(hours=2), "trip_id": trip_id})
    return assets, trips, changes, alerts


def _trip(trip_id: str, asset_id: str, flow: str, start: datetime, last: bool,
          rng: random.Random, hubs: list[str], carriers: list[Any], packaging: list[Any]
          ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    machine = machine_of(flow).name
    path = list(PATHS[machine])
    if machine == "recall" and rng.random() < 0.3:
        path.remove("located")
    steps = [0.0, rng.uniform(2, 48) if machine != "rental" else rng.uniform(24, 24 * 20),
             rng.uniform(1, 72), rng.uniform(1, 48), rng.uniform(0.5, 24), rng.uniform(1, 96)]
    # An asset's last trip may stop on the way (lost, never sent, a recall never found);
    # the newest are still on it.
    reached = len(path)
    if last and rng.random() < 0.1:
        reached = rng.randrange(1, len(path))
    if last and machine == "recall" and rng.random() < 0.2:
        reached = 1
    times, moment = [], start
    for i in range(reached):
        moment += timedelta(hours=steps[i])
        if moment >= T0:
            break
        times.append(moment)
    statuses = path[:len(times)]
    hub = rng.choice(hubs)
    arrival_status = {"rental": "returned", "recall": "received"}.get(machine, "arrived")
    arrived = times[statuses.index(arrival_status)] if arrival_status in statuses else None
    trip: dict[str, Any] = {
        "id": trip_id, "asset_id": asset_id, "flow": flow, "status": statuses[-1],
        "customer": f"customer-{rng.randrange(2000)}",
        "reason": rng.choice(REASONS) if machine == "return" else None,
        "destination": hub, "carrier": rng.choice(carriers), "packaging": rng.choice(packaging),
        "created_at": times[0], "updated_at": times[-1],
        "closed_at": times[-1] if statuses[-1] == path[-1] else None,
    }
    if arrived is not None:
        recommended = rng.choice(DISPOSITIONS)
        inspected = "inspected" in statuses
        trip |= {"recommended": recommended, "recommended_rule": "default:bench",
                 "recommended_at": arrived,
                 "actual": (recommended if rng.random() < 0.8 else rng.choice(DISPOSITIONS))
                 if inspected else None}
        if rng.random() < 0.9:  # the others were moved by hand: timed by their changes
            leg = min(times[statuses.index(arrival_status)] - times[0], timedelta(
                hours=rng.uniform(1, 72)))
            trip |= {"lane": f"{rng.randrange(47, 55)}N{rng.randrange(6, 15)}E",
                     "transit_started_at": arrived - leg, "transit_arrived_at": arrived,
                     "transit_km": rng.uniform(10, 600)}
    changes = [{"trip_id": trip_id, "status": status,
                "previous_status": statuses[i - 1] if i else None, "at": moment,
                "reason": "bench"} for i, (status, moment) in enumerate(zip(statuses, times,
                                                                               strict=True))]
    return trip, changes


def _poisson(rng: random.Random, mean: float) -> int:
    count, threshold, product = 0, pow(2.718281828459045, -mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def _weighted(rng: random.Random, choices: tuple[tuple[str, str, int], ...]) -> tuple[str, str]:
    kind, key, _ = rng.choices(choices, weights=[c[2] for c in choices])[0]
    return kind, key


def fill(db: StateDb, n: int, seed: int) -> dict[str, int]:
    assets, trips, changes, alerts = trips_of(n, random.Random(seed))
    full = {"eta_p50": None, "eta_p90": None, "eta_at": None, "eta_basis": None,
            "eta_remaining_km": None, "late_probability": None, "lane": None,
            "transit_started_at": None, "transit_arrived_at": None, "transit_km": None,
            "recommended": None, "recommended_rule": None, "recommended_at": None,
            "actual": None}
    trips = [full | trip for trip in trips]
    for table, rows in ((ASSETS, assets), (TRIPS, trips), (TRIP_CHANGES, changes),
                        (ALERTS, alerts)):
        for start in range(0, len(rows), CHUNK):
            with db.transaction():
                db.execute(insert(table), rows[start:start + CHUNK])
    if db.is_postgresql:  # as autovacuum would have by then; the gateway never runs
        db.execute(text("ANALYZE"))  # SQLite's ANALYZE, so neither does the benchmark
    return {"assets": len(assets), "trips": len(trips), "changes": len(changes),
            "alerts": len(alerts)}


async def time_tables(db: StateDb, days: int) -> dict[str, float]:
    service = AnalyticsService(db, lambda: T0)
    every = AnalyticsFilter(start=T0 - timedelta(days=days), end=T0)
    seconds = {}
    for name, spec in TABLES.items():
        for by in spec.by or (None,):
            await service.table(name, every, by)  # warm: the pages in the cache
            started = time.perf_counter()
            found = await service.table(name, every, by)
            elapsed = time.perf_counter() - started
            assert found.rows, (name, by)
            seconds[f"{name}?by={by}" if by else name] = round(elapsed, 3)
    return seconds


def run(n: int, seed: int, state_url: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = StateDb.open(state_url or f"sqlite:///{Path(tmp) / 'state.db'}")
        try:
            upgrade(db)
            started = time.perf_counter()
            counts = fill(db, n, seed)
            fill_s = time.perf_counter() - started
            seconds = asyncio.run(time_tables(db, DAYS))
            default_window = asyncio.run(time_tables(db, 30))
            state = db.dialect
        finally:
            db.close()
    heaviest = max(seconds, key=lambda name: seconds[name])
    return {"benchmark": "analytics", **counts, "window_days": DAYS, "state": state,
            "python": platform.python_version(), "fill_seconds": round(fill_s, 1),
            "seconds": seconds, "heaviest": {"table": heaviest, "seconds": seconds[heaviest]},
            "all_tables_seconds": round(sum(seconds.values()), 3),
            "last_30_days_seconds": default_window,
            "last_30_days_heaviest_seconds": max(default_window.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state-url", help="an empty state database to run on, e.g. "
                        "postgresql://user@host/db (default: SQLite in a temp dir)")
    parser.add_argument("--output", type=Path, default=None)
    options = parser.parse_args()
    result = run(options.trips, options.seed, options.state_url)
    report(result, options.output)


if __name__ == "__main__":
    main()
