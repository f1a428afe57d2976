"""Rule benchmark: readings judged per second by the rule engine, against a baseline of the
bare decode-and-validate loop measured in the same run, so the cost of judging is a ratio.

It builds a RuleEngine over a real state db, opened and migrated as the gateway does it
(SQLite in a temp dir: WAL, synchronous=NORMAL; or the empty database at --state-url, such
as a PostgreSQL one) with one webhook subscription, a fleet of assets on the built-in
profiles, hub and allowed-area geofences, due dates and a recall, and pre-generates one
native JSON message per reading (moving positions, excursions, battery drops, assets
leaving their area or arriving, tags going quiet or joining late) so every rule fires.
Timed, once each after a warm-up: the decode loop, decode + judge_readings per message
(as the gateway calls it), and one tick over all assets. Prints one JSON object.

    .venv/bin/python tests/bench/bench_rules.py [--assets 10000] [--readings 200000]
        [--seed 1] [--state-url URL] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import resource
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from _report import open_state_db
from sqlalchemy import Table, func, select

from alerts import (
    BUILT_IN_PROFILES,
    AlertEvent,
    AlertStore,
    EngineEvent,
    RuleEngine,
    SubscriptionStore,
    WebhookOutbox,
)
from alerts.domain import Asset, AssetKind, Circle, Flow, Geofence, GeofenceKind, Recall
from alerts.outbox import DELIVERIES
from alerts.store import ALERTS, RULE_STATE
from ingest.decoders.native import NativeDecoder
from ingest.statedb import StateDb

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
"""Each reporting asset sends one reading per step: long enough for every minimum duration
in the built-in profiles (5 to 30 minutes) to be crossed within a few readings."""
LATENCY = timedelta(milliseconds=1500)
WARMUP_MESSAGES = 2000
PROFILE_NAMES = ("cold_chain", "ambient_electronics", "fragile")
SHIPMENT_FLOWS = (Flow.CUSTOMER_RETURN, Flow.WARRANTY_REPAIR, Flow.TRADE_IN, Flow.B2B_RETURN)
RECALLED_SKU, RECALLED_LOT = "SKU-0", "LOT-0"  # one sku in 10, one lot in 10: ~1 % of assets

# Region centres (lat, lon) and their rough radius in degrees of latitude.
REGIONS = ((52.1, 5.3, 1.0), (49.0, 9.5, 1.1), (46.0, 7.5, 0.9), (41.0, -2.5, 1.2))

# What an asset does during the run, with its share of the fleet (the rest behave).
BEHAVIOURS = (
    ("excursion", 0.10),  # one profile metric outside its range for a while, then back
    ("battery", 0.03),  # battery falls below the profile's threshold
    ("leaves", 0.03),  # drives out of its allowed area
    ("arrives", 0.03),  # reaches its destination hub and dwells there
    ("quiet", 0.02),  # stops reporting early (silent at the tick, for cold_chain)
    ("late", 0.01),  # starts reporting half way (silent at the warm-up tick, then resolved)
    ("dead", 0.005),  # never reports (silent)
)


@dataclass(slots=True)
class Plan:
    """One asset's scripted run: where it goes, what goes wrong, when it reports."""

    asset: Asset
    behaviour: str
    start: tuple[float, float]
    end: tuple[float, float]
    arrive_at: float  # fraction of the run at which it reaches `end`
    first_step: int
    last_step: int  # exclusive
    battery: float
    battery_drain: float
    comes_back: bool = False  # out to `end` by `arrive_at`, then back the way it came
    battery_swap_step: int | None = None
    excursion_metric: str | None = None
    excursion_from: int = 0
    excursion_steps: int = 0
    seq: int = 0
    values: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Message:
    topic: str
    payload: bytes
    received_at: datetime


@dataclass(slots=True)
class Fleet:
    assets: list[Asset]
    fences: list[Geofence]
    recall: Recall
    messages: list[Message]
    steps: int


def wobbly_polygon(
    rng: random.Random, lat: float, lon: float, radius: float, vertices: int
) -> dict[str, Any]:
    """A GeoJSON polygon around (lat, lon) whose radius varies by +-10 %: a region outline."""
    ring = []
    for i in range(vertices):
        angle = 2 * math.pi * i / vertices
        r = radius * rng.uniform(0.9, 1.1)
        ring.append([round(lon + r * math.cos(angle) / math.cos(math.radians(lat)), 6),
                     round(lat + r * math.sin(angle), 6)])
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def square(lat: float, lon: float, half: float) -> dict[str, Any]:
    ring = [[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
            [lon - half, lat + half], [lon - half, lat - half]]
    return {"type": "Polygon", "coordinates": [ring]}


def near(rng: random.Random, lat: float, lon: float, radius: float) -> tuple[float, float]:
    angle, r = rng.uniform(0, 2 * math.pi), radius * math.sqrt(rng.random())
    return lat + r * math.sin(angle), lon + r * math.cos(angle) / math.cos(math.radians(lat))


def build_fences(
    rng: random.Random,
) -> tuple[list[Geofence], list[str], list[list[tuple[str, float, float]]]]:
    """Per region an allowed area (64-vertex polygon) and three hubs (two circles, one
    polygon); one quarantine depot. Returns the fences, area ids and hubs per region."""
    fences: list[Geofence] = []
    areas: list[str] = []
    hubs: list[list[tuple[str, float, float]]] = []
    for r, (lat, lon, radius) in enumerate(REGIONS):
        area_id = f"area-{r}"
        fences.append(Geofence(area_id, f"Region {r}", GeofenceKind.AREA,
                               geometry=wobbly_polygon(rng, lat, lon, radius, 64)))
        areas.append(area_id)
        region_hubs = []
        for h in range(3):
            hub_lat, hub_lon = near(rng, lat, lon, radius * 0.5)
            hub_id = f"hub-{r}-{h}"
            if h < 2:
                fences.append(Geofence(hub_id, f"Hub {r}.{h}", GeofenceKind.HUB,
                                       circle=Circle(hub_lat, hub_lon, 3000)))
            else:
                fences.append(Geofence(hub_id, f"Hub {r}.{h}", GeofenceKind.DEPOT,
                                       geometry=square(hub_lat, hub_lon, 0.02)))
            region_hubs.append((hub_id, hub_lat, hub_lon))
        hubs.append(region_hubs)
    q_lat, q_lon, _ = REGIONS[0]
    fences.append(Geofence("quarantine-0", "Quarantine", GeofenceKind.QUARANTINE,
                           circle=Circle(q_lat + 0.3, q_lon - 0.3, 2000)))
    return fences, areas, hubs


def choose_behaviour(rng: random.Random) -> str:
    x = rng.random()
    for name, share in BEHAVIOURS:
        if x < share:
            return name
        x -= share
    return "normal"


def plan_assets(
    rng: random.Random, count: int, steps: int, areas: list[str],
    hubs: list[list[tuple[str, float, float]]],
) -> list[Plan]:
    plans = []
    half = steps // 2
    for i in range(count):
        region = rng.randrange(len(REGIONS))
        lat, lon, radius = REGIONS[region]
        hub_id, hub_lat, hub_lon = rng.choice(hubs[region])
        rental = rng.random() < 0.3
        behaviour = choose_behaviour(rng)
        due_at = None
        if rng.random() < 0.4:
            # Some long overdue (escalated), some overdue, some due later or during the run.
            due_at = T0 + timedelta(hours=rng.uniform(-5 * 24, 6))
        asset = Asset(
            id=f"asset-{i:05d}",
            kind=AssetKind.RENTAL if rental else AssetKind.SHIPMENT,
            flow=Flow.RENTAL_RETURN if rental else rng.choice(SHIPMENT_FLOWS),
            tag_id=f"tag-{i:05d}",
            sku=f"SKU-{rng.randrange(10)}",
            serial=f"SN{rng.randrange(10**8):08d}",
            lot=f"LOT-{rng.randrange(10)}",
            profile=PROFILE_NAMES[i % len(PROFILE_NAMES)],
            customer=f"customer-{rng.randrange(2000)}",
            due_at=due_at,
            destination=hub_id,
            allowed_area=areas[region],
            # Late and dead tags are silent from the start; the rest registered just
            # before the run, so a tag not yet heard from is not silent yet.
            created_at=T0 - timedelta(hours=7 if behaviour in ("late", "dead") else 0.5),
        )
        start = near(rng, lat, lon, radius * 0.6)
        comes_back = False
        if behaviour == "arrives":
            end, arrive_at = (hub_lat, hub_lon), rng.uniform(0.5, 0.85)
        elif behaviour == "leaves":
            angle = rng.uniform(0, 2 * math.pi)
            end = (lat + 1.6 * radius * math.sin(angle),
                   lon + 1.6 * radius * math.cos(angle) / math.cos(math.radians(lat)))
            arrive_at = 1.0
            if rng.random() < 0.5:
                arrive_at, comes_back = 0.5, True
        else:
            # Heads for its hub but is still on its way at the end of the run.
            part = rng.uniform(0.2, 0.7)
            end = (start[0] + part * (hub_lat - start[0]), start[1] + part * (hub_lon - start[1]))
            arrive_at = 1.0
        first, last = 0, steps + 1
        if behaviour == "quiet":
            # Far enough before the end that the tick, 20 minutes after the last reading,
            # finds the cold_chain ones silent (an hour), when the run is long enough.
            last = max(1, min(half, steps - 5))
        elif behaviour == "late":
            first = half
        elif behaviour == "dead":
            first = last = 0
        profile = BUILT_IN_PROFILES[asset.profile or ""]
        threshold = profile.battery_below_pct or 10.0
        if behaviour == "battery":
            battery, drain = threshold + rng.uniform(1, 4), rng.uniform(0.3, 0.8)
        else:
            battery, drain = rng.uniform(40, 100), rng.uniform(0.0, 0.1)
        plan = Plan(asset, behaviour, start, end, arrive_at, first, last, battery, drain,
                    comes_back=comes_back)
        if behaviour == "battery" and rng.random() < 0.5:
            plan.battery_swap_step = int(steps * 0.75)  # resolves the alert
        if behaviour == "excursion":
            plan.excursion_metric = rng.choice(sorted(profile.metrics))
            plan.excursion_steps = 1 if plan.excursion_metric == "shock_g" else 6
            plan.excursion_from = rng.randrange(max(1, steps - plan.excursion_steps))
        plan.values = {
            "temp_c": {"cold_chain": 5.0, "ambient_electronics": 22.0}.get(
                asset.profile or "", 19.0) + rng.uniform(-1, 1),
            "humidity_pct": rng.uniform(35, 60),
        }
        plans.append(plan)
    return plans


EXCURSIONS: dict[tuple[str, str], tuple[float, float]] = {
    ("cold_chain", "temp_c"): (9.0, 13.0),
    ("ambient_electronics", "temp_c"): (41.0, 46.0),
    ("cold_chain", "humidity_pct"): (87.0, 95.0),
    ("ambient_electronics", "humidity_pct"): (82.0, 95.0),
    ("ambient_electronics", "shock_g"): (9.0, 25.0),
    ("fragile", "shock_g"): (3.5, 12.0),
    ("fragile", "tilt_deg"): (55.0, 120.0),
}


def battery(plan: Plan, step: int) -> float:
    swap = plan.battery_swap_step
    if swap is not None and step >= swap:
        return round(max(0.0, 100.0 - plan.battery_drain * (step - swap)), 1)
    return round(max(0.0, plan.battery - plan.battery_drain * step), 1)


def reading_values(rng: random.Random, plan: Plan, step: int, steps: int) -> dict[str, Any]:
    """One realistic reading for the plan at this step: a tag reports everything it has."""
    outbound = max(1.0, steps * plan.arrive_at)
    progress = min(1.0, step / outbound)
    if plan.comes_back and step > outbound:
        progress = max(0.0, 1.0 - (step - outbound) / outbound)
    lat = plan.start[0] + progress * (plan.end[0] - plan.start[0]) + rng.gauss(0, 0.0003)
    lon = plan.start[1] + progress * (plan.end[1] - plan.start[1]) + rng.gauss(0, 0.0003)
    moving = progress < 1.0
    base = plan.values
    base["temp_c"] += rng.gauss(0, 0.15) - 0.1 * (base["temp_c"] - (
        5.0 if plan.asset.profile == "cold_chain" else 20.0))
    base["humidity_pct"] = min(70.0, max(25.0, base["humidity_pct"] + rng.gauss(0, 1)))
    values: dict[str, Any] = {
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "accuracy_m": round(rng.uniform(3, 25), 1),
        "speed_kmh": round(rng.uniform(30, 90) if moving else 0.0, 1),
        "temp_c": round(base["temp_c"], 2),
        "humidity_pct": round(base["humidity_pct"], 1),
        "shock_g": round(rng.uniform(0.05, 1.2), 2),
        "tilt_deg": round(rng.uniform(0, 12), 1),
        "light_lux": round(rng.uniform(0, 40), 1),
        "battery_pct": battery(plan, step),
    }
    metric = plan.excursion_metric
    if metric and plan.excursion_from <= step < plan.excursion_from + plan.excursion_steps:
        low, high = EXCURSIONS[(plan.asset.profile or "", metric)]
        values[metric] = round(rng.uniform(low, high), 2)
    return values


def build_fleet(count: int, readings: int, seed: int) -> Fleet:
    rng = random.Random(seed)
    fences, areas, hubs = build_fences(rng)
    total = readings + WARMUP_MESSAGES
    # Quiet and late assets report half the steps, dead ones none.
    share = {name: s for name, s in BEHAVIOURS}
    per_step = count * (1 - share["dead"] - (share["quiet"] + share["late"]) / 2)
    steps = max(1, math.ceil(total / per_step))
    plans = plan_assets(rng, count, steps, areas, hubs)
    order = list(range(count))
    rng.shuffle(order)
    messages: list[Message] = []
    step = 0
    while len(messages) < total:
        if step > steps * 2 + 2:
            raise SystemExit(f"--readings {readings}: the fleet stopped reporting at step {step}")
        for position, index in enumerate(order):
            plan = plans[index]
            if not plan.first_step <= step < plan.last_step:
                continue
            ts = T0 + step * STEP + STEP * position / count
            body = reading_values(rng, plan, step, steps)
            body["ts"] = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            body["seq"] = plan.seq
            plan.seq += 1
            tag = plan.asset.tag_id
            messages.append(Message(f"tags/{tag}/telemetry", orjson.dumps(body), ts + LATENCY))
            if len(messages) == total:
                break
        step += 1
    recall = Recall("rcl-bench", RECALLED_SKU, lots=(RECALLED_LOT,),
                    reason="benchmark recall", created_at=T0)
    return Fleet([p.asset for p in plans], fences, recall, messages, step)


def rows_in(db: StateDb, table: Table) -> int:
    return int(db.scalar(select(func.count()).select_from(table)))


def decode_all(decoder: NativeDecoder, messages: list[Message]) -> int:
    count = 0
    for message in messages:
        decoded = decoder.decode(message.topic, message.payload, message.received_at)
        assert decoded is not None and not decoded.dead_letters, decoded
        count += len(decoded.readings)
    return count


def decode_and_judge_all(
    decoder: NativeDecoder, engine: RuleEngine, messages: list[Message]
) -> int:
    count = 0
    for message in messages:
        decoded = decoder.decode(message.topic, message.payload, message.received_at)
        assert decoded is not None and not decoded.dead_letters, decoded
        engine.judge_readings(decoded.readings)
        count += len(decoded.readings)
    return count


def timed(run: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    count = run()
    return count, time.perf_counter() - started


def event_name(event: EngineEvent) -> str:
    if isinstance(event, AlertEvent):
        return f"{event.type}:{event.alert.kind}"
    return event.type


def run(assets: int, readings: int, seed: int, state_url: str | None = None) -> dict[str, Any]:
    wall_started = time.perf_counter()
    fleet = build_fleet(assets, readings, seed)
    warmup, measured = fleet.messages[:WARMUP_MESSAGES], fleet.messages[WARMUP_MESSAGES:]
    last_ts = fleet.messages[-1].received_at - LATENCY
    generate_s = time.perf_counter() - wall_started

    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        db = open_state_db(state_url or f"sqlite:///{Path(tmp) / 'state.db'}")
        try:
            store, outbox, subscriptions = AlertStore(db), WebhookOutbox(db), SubscriptionStore(db)
            subscriptions.create("https://example.invalid/hooks", description="benchmark")
            engine = RuleEngine(store, outbox, subscriptions, lambda: T0)
            phase = "setup"
            transitions: dict[str, Counter[str]] = {}
            engine.listeners.append(
                lambda event: transitions.setdefault(phase, Counter()).update([event_name(event)]))
            for fence in fleet.fences:
                engine.upsert_geofence(fence)
            for asset in fleet.assets:
                engine.upsert_asset(asset)
            engine.upsert_recall(fleet.recall)

            decoder = NativeDecoder()
            decode_all(decoder, warmup)
            _, baseline_s = timed(lambda: decode_all(decoder, measured))

            phase = "warmup"
            decode_and_judge_all(decoder, engine, warmup)
            # The gateway ticks every few seconds: one tick before the measured stream opens
            # the alerts due by then (overdue, assets silent since registration).
            engine.tick(warmup[-1].received_at)
            phase = "judge"
            judged, judged_s = timed(lambda: decode_and_judge_all(decoder, engine, measured))

            phase = "tick"
            tick_at = last_ts + timedelta(minutes=20)
            started = time.perf_counter()
            engine.tick(tick_at)
            tick_s = time.perf_counter() - started

            counts = {
                "alerts": rows_in(db, ALERTS),
                "deliveries": rows_in(db, DELIVERIES),
                "rule_state_rows": rows_in(db, RULE_STATE),
            }
            db_bytes = 0
            if db.is_postgresql:
                db_bytes = int(db.scalar(select(func.pg_database_size(func.current_database()))))
        finally:
            db.close()
        if not db.is_postgresql:  # SQLite's files, once the WAL is checkpointed into the db
            db_bytes = sum(p.stat().st_size for p in Path(tmp).iterdir())

    judge_s = judged_s - baseline_s
    baseline_rate = judged / baseline_s
    judged_rate = judged / judged_s
    by_type: Counter[str] = Counter()
    for counter in transitions.values():
        for name, n in counter.items():
            by_type[name.split(":")[0]] += n
    return {
        "benchmark": "rules",
        "assets": assets,
        "readings": judged,
        "warmup_readings": len(warmup),
        "steps": fleet.steps,
        "step_s": STEP.total_seconds(),
        "seed": seed,
        "baseline_readings_per_s": round(baseline_rate, 1),
        "judged_readings_per_s": round(judged_rate, 1),
        "judge_only_readings_per_s": round(judged / judge_s, 1) if judge_s > 0 else None,
        "ratio_judged_to_baseline": round(judged_rate / baseline_rate, 4),
        "baseline_s": round(baseline_s, 3),
        "judged_s": round(judged_s, 3),
        "tick_ms_for_all_assets": round(tick_s * 1000, 1),
        "transitions_by_type": dict(sorted(by_type.items())),
        "transitions_by_phase": {
            name: dict(sorted(counter.items())) for name, counter in transitions.items()},
        "state_db": {**counts, "bytes": db_bytes},
        "generate_s": round(generate_s, 2),
        "total_s": round(time.perf_counter() - wall_started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state-url",
                        help="an empty state database to run on, e.g. postgresql://... "
                             "(default: SQLite in a temp dir)")
    parser.add_argument("--output", type=Path, help="also write the JSON figures here")
    args = parser.parse_args(argv)
    if args.assets < 1 or args.readings < 1:
        parser.error("--assets and --readings must be at least 1")
    figures = run(args.assets, args.readings, args.seed, args.state_url)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
