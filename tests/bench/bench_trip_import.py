"""Trip import benchmark: what routing costs a CSV import of trips. The same N trips of N
assets are imported twice into a fresh gateway each (in-process, its API through httpx's
ASGI transport, the state database real: SQLite in a temp dir): once with each row's
destination given, once without, so every row is routed (candidates costed, the day's count
per hub read) from its origin. The ratio of the two times is the figure; both are wall time
of the whole request: rows checked, written, and their opening `trip.status_changed` queued
for one subscription.

    .venv/bin/python tests/bench/bench_trip_import.py [--trips 10000] [--hubs 8]
        [--output tests/bench/trip-import-latest.json]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _report import report

from gateway.api import create_api
from gateway.api._deps import get_gateway
from gateway.app import Gateway
from gateway.settings import Settings

ADMIN_KEY = "bench-admin-key-0123456789abcdef"
SERVICES = ("restock", "repair", "refurbish", "recycle", "redeploy")
FLOWS = ("customer_return", "warranty_repair", "trade_in", "b2b_return", "end_of_life")


def hubs(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Hubs over Germany, each handling a couple of services, some with a daily capacity."""
    found = []
    for n in range(count):
        found.append({
            "id": f"hub-{n}", "name": f"Hub {n}", "kind": "hub",
            "circle": {"lat": rng.uniform(48, 54), "lon": rng.uniform(6, 14), "radius_m": 2000},
            "handles": {"services": rng.sample(SERVICES, 3)},
            "handling_cost": round(rng.uniform(0, 20), 2),
            **({"daily_capacity": rng.randint(500, 5000)} if n % 3 == 0 else {})})
    return found


def csv_of(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = [",".join(columns)]
    lines += [",".join("" if row.get(c) is None else str(row[c]) for c in columns)
              for row in rows]
    return "\n".join(lines) + "\n"


async def import_once(trips: int, hub_count: int, routed: bool, seed: int
                      ) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as workdir:
        settings = Settings(data_dir=Path(workdir), admin_key=ADMIN_KEY,  # type: ignore[arg-type]
                            webhook_allow_private=True)
        async with Gateway.open(settings) as gateway:
            app = create_api(gateway)
            app.dependency_overrides[get_gateway] = lambda: gateway
            async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://gateway",
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=600) as api:
                fences = hubs(hub_count, rng)
                for fence in fences:
                    (await api.post("/api/v1/geofences", json=fence)).raise_for_status()
                (await api.post("/api/v1/subscriptions", json={
                    "url": "http://127.0.0.1:9/hook",
                    "event_types": ["trip.status_changed"]})).raise_for_status()
                assets = [{"id": f"a{n}", "kind": "shipment", "flow": "customer_return"}
                          for n in range(trips)]
                # Registered as v1 does it (a trip each, opened from the asset's fields),
                # timed too; then those trips are closed, so that the assets are free for
                # the timed trip import.
                started = time.perf_counter()
                (await api.post("/api/v1/assets:import", content=csv_of(
                    assets, ["id", "kind", "flow"]), headers={"content-type": "text/csv"})
                 ).raise_for_status()
                asset_seconds = time.perf_counter() - started
                await gateway.db.run(_close_open_trips, gateway)
                rows = []
                for n in range(trips):
                    rows.append({
                        "asset_id": f"a{n}", "flow": rng.choice(FLOWS),
                        "origin_lat": round(rng.uniform(47.5, 54.5), 5),
                        "origin_lon": round(rng.uniform(6, 15), 5),
                        "destination": None if routed else rng.choice(fences)["id"]})
                body = csv_of(rows, ["asset_id", "flow", "origin_lat", "origin_lon",
                                     "destination"])
                started = time.perf_counter()
                answer = await api.post("/api/v1/trips:import", content=body,
                                        headers={"content-type": "text/csv"})
                seconds = time.perf_counter() - started
                answer.raise_for_status()
                report = answer.json()
    return {"routed": routed, "seconds": round(seconds, 3), "created": report["created"],
            "rejected": report["rejected"],
            "rows_per_s": round(trips / seconds, 1),
            "asset_import_seconds": round(asset_seconds, 3)}


def _close_open_trips(gateway: Gateway) -> None:
    from sqlalchemy import update

    from gateway.registry.assets import ASSETS
    from gateway.registry.trips import TRIPS
    with gateway.db.transaction():
        gateway.db.execute(update(TRIPS).values(status="closed", closed_at=TRIPS.c.created_at))
        gateway.db.execute(update(ASSETS).values(trip_status="closed", state="received"))
    gateway.registry_writer.upsert_assets(gateway.registry.assets())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trips", type=int, default=10_000)
    parser.add_argument("--hubs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None)
    options = parser.parse_args()
    plain = asyncio.run(import_once(options.trips, options.hubs, False, options.seed))
    routed = asyncio.run(import_once(options.trips, options.hubs, True, options.seed))
    result = {
        "benchmark": "trip_import", "trips": options.trips, "hubs": options.hubs,
        "state": "sqlite", "python": platform.python_version(),
        "with_destination": plain, "routed": routed,
        "routing_cost_ratio": round(routed["seconds"] / plain["seconds"], 3),
    }
    report(result, options.output)


if __name__ == "__main__":
    main()
