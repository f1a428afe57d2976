"""Per-stage micro-benchmark of the ingest hot path: microseconds per reading of each stage a
reading goes through between the broker and its acknowledgement, so that the next regression
is found in one run (the end-to-end `bench_ingest.py` stays the judge).

Stages, each timed alone over the same pre-generated readings (1,000 tags, one native JSON
reading a message, positions moving, a few excursions; every rule on):

- `parse`: orjson.loads of the payloads: the baseline the others are a ratio of.
- `decode`: the native decoder (JSON, validation, bounds) into Readings.
- `dedupe`: the per-tag sequence window.
- `rules`: RuleEngine.judge_readings in batches of 100, as the pipeline hands them over, on
  SQLite state in a temp dir, and the state written behind (save_state) after each batch.
- `line_protocol`: telemetry point and line-protocol text.
- `acknowledge`: the in-order acknowledgement queue, one callback a batch.

    .venv/bin/python tests/bench/bench_stages.py [--readings 50000] [--tags 1000]
        [--output tests/bench/stages-latest.json]
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from _report import report

from alerts import AlertStore, RuleEngine, SubscriptionStore, WebhookOutbox
from alerts.domain import Asset, AssetKind, Circle, Flow, Geofence, GeofenceKind
from gateway.migrations import upgrade
from ingest.acks import AckQueue
from ingest.decoders.native import NativeDecoder
from ingest.dedupe import SeqDeduplicator
from ingest.readings import Reading, TagBinding
from ingest.sinks._points import telemetry_point, to_line
from ingest.statedb import StateDb

T0 = datetime(2026, 12, 1, tzinfo=UTC)
BATCH = 100


def payloads(readings: int, tags: int, seed: int) -> list[tuple[str, bytes]]:
    """(topic, payload) per message: tags moving north from 50N, a reading a minute each,
    one in fifty warmer than the cold chain allows."""
    rng = random.Random(seed)
    found = []
    for n in range(readings):
        tag = n % tags
        step = n // tags
        body = {"ts": (T0 + timedelta(minutes=step)).isoformat(), "seq": step,
                "lat": 50.0 + step * 0.001, "lon": 8.0 + tag * 0.0001,
                "temp_c": 12.0 if rng.random() < 0.02 else 5.0,
                "battery_pct": max(5.0, 90.0 - step * 0.01), "shock_g": 0.2}
        found.append((f"tags/t{tag}/telemetry", orjson.dumps(body)))
    return found


def engine_over(db: StateDb, tags: int) -> RuleEngine:
    engine = RuleEngine(AlertStore(db), WebhookOutbox(db), SubscriptionStore(db),
                        lambda: T0 + timedelta(days=1))
    engine.upsert_geofence(Geofence(id="hub", name="Hub", kind=GeofenceKind.HUB,
                                    circle=Circle(60.0, 8.0, 2000)))
    engine.upsert_geofence(Geofence(id="area", name="Area", kind=GeofenceKind.AREA,
                                    circle=Circle(50.0, 8.0, 500_000)))
    engine.upsert_assets([
        Asset(id=f"a{n}", kind=AssetKind.SHIPMENT, flow=Flow.CUSTOMER_RETURN, tag_id=f"t{n}",
              sku="SKU", lot="L1", profile="cold_chain", destination="hub",
              allowed_area="area", due_at=T0 + timedelta(days=30))
        for n in range(tags)], judge=False)
    return engine


def per_reading(seconds: float, count: int) -> float:
    return round(seconds / count * 1e6, 3)


def timed(work: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--tags", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None)
    options = parser.parse_args()
    messages = payloads(options.readings, options.tags, options.seed)
    received = T0 + timedelta(days=400)  # after every reading: none is in the future
    decoder = NativeDecoder()
    seconds: dict[str, float] = {}

    seconds["parse"] = timed(lambda: [orjson.loads(p) for _, p in messages])

    readings: list[Reading] = []

    def decode() -> None:
        for topic, payload in messages:
            decoded = decoder.decode(topic, payload, received)
            assert decoded is not None
            readings.extend(decoded.readings)

    seconds["decode"] = timed(decode)
    assert len(readings) == options.readings, "every reading decodes"

    dedupe = SeqDeduplicator()
    seconds["dedupe"] = timed(lambda: [dedupe.seen_before(r.tag_id, r.seq or 0)
                                       for r in readings])

    with tempfile.TemporaryDirectory() as workdir:
        db = StateDb.open(f"sqlite:///{workdir}/state.db")
        upgrade(db)
        engine = engine_over(db, options.tags)

        def judge() -> None:
            for start in range(0, len(readings), BATCH):
                failed = engine.judge_readings(readings[start:start + BATCH])
                assert not failed
                engine.save_state()

        seconds["rules"] = timed(judge)
        db.close()

    bindings = {f"t{n}": TagBinding(f"a{n}", "shipment", "customer_return")
                for n in range(options.tags)}
    seconds["line_protocol"] = timed(lambda: [to_line(telemetry_point(r, bindings[r.tag_id]))
                                              for r in readings])

    sent: list[tuple[int, int]] = []
    acks = AckQueue(lambda mid, qos: sent.append((mid, qos)))

    def acknowledge() -> None:
        for start in range(0, len(readings), BATCH):
            acks.register_many([(mid, 1) for mid in range(start, start + BATCH)])()

    seconds["acknowledge"] = timed(acknowledge)
    assert len(sent) == len(readings) // BATCH * BATCH

    count = options.readings
    stages: dict[str, Any] = {
        name: {"us_per_reading": per_reading(s, count),
               "of_parse": round(s / seconds["parse"], 2)}
        for name, s in seconds.items()}
    total = sum(s for name, s in seconds.items() if name != "parse")
    result = {
        "benchmark": "ingest_stages", "readings": count, "tags": options.tags,
        "batch": BATCH, "python": platform.python_version(), "stages": stages,
        "total_us_per_reading": per_reading(total, count),
        "readings_per_s_if_serial": round(count / total),
    }
    report(result, options.output)


if __name__ == "__main__":
    main()
