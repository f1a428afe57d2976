"""Helpers for the scenario tests: compile once, and read a timeline back through the
gateway's own decoders, as the gateway would receive it."""

from __future__ import annotations

import functools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from device_sim._truth import Circle, Delivery, WatchedAsset, WireReading
from device_sim.scenario import MetricLimits, ProfileSpec, Scenario, load_scenario, parse_scenario
from device_sim.timeline import Emission, Timeline, _Compiler, _Tag
from ingest.decoders import Decoded, NativeDecoder, OwnTracksDecoder, ThingsStackDecoder

NOW = datetime(2026, 11, 29, 8, 15, tzinfo=UTC)
SCENARIOS = Path(__file__).resolve().parents[3] / "device_sim" / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))
# Emissions that are meant to break the contract, or never reach the gateway.
BROKEN = frozenset({"malformed", "oversized"})
REFUSED = frozenset({"impersonation"})

_DECODERS = (NativeDecoder(), OwnTracksDecoder(), ThingsStackDecoder())


@functools.cache
def shipped(name: str, seed: int | None = None) -> tuple[Scenario, Timeline, tuple[_Tag, ...]]:
    scenario = load_scenario(SCENARIOS / name)
    return compiled(scenario, seed)


def compiled(scenario: Scenario, seed: int | None = None,
             now: datetime = NOW) -> tuple[Scenario, Timeline, tuple[_Tag, ...]]:
    compiler = _Compiler(scenario, now, scenario.seed if seed is None else seed)
    timeline = compiler.run()
    return scenario, timeline, tuple(compiler.tags)


def compile_text(text: str, seed: int | None = None) -> tuple[Scenario, Timeline,
                                                              tuple[_Tag, ...]]:
    return compiled(parse_scenario(text, "test.yaml"), seed)


def decode(emission: Emission) -> Decoded:
    """What the gateway makes of a message, received at its simulated publish time."""
    for decoder in _DECODERS:
        decoded = decoder.decode(emission.topic, emission.payload, emission.at)
        if decoded is not None:
            return decoded
    raise AssertionError(f"no decoder reads topic {emission.topic}")


def deliveries(timeline: Timeline) -> dict[str, list[Delivery]]:
    """Per tag id, the messages the broker lets through, decoded by the gateway."""
    by_tag: dict[str, list[Delivery]] = defaultdict(list)
    for emission in timeline.emissions:
        if emission.fault in REFUSED:
            continue
        decoded = decode(emission)
        if not decoded.readings:
            continue
        tag_id = decoded.readings[0].tag_id
        by_tag[tag_id].append(Delivery(emission.at, tuple(
            WireReading(r.ts, r.seq, r.values) for r in decoded.readings)))
    return by_tag


def watched_assets(timeline: Timeline) -> dict[str, WatchedAsset]:
    """Per tag id, what the rules know of its asset, from the REST bodies alone (an asset
    registered without a trip has no destination or due date of its own: its trips do)."""
    profiles = {body["name"]: _profile(body) for body in timeline.profiles}
    fences = {body["id"]: Circle(**body["circle"]) for body in timeline.geofences}
    watched = {}
    for body in timeline.assets:
        recalls = sum(1 for r in timeline.recalls
                      if r["sku"] == body["sku"] and body["lot"] in r["lots"])
        watched[body["tag_id"]] = WatchedAsset(
            asset_id=body["id"],
            profile=profiles.get(body["profile"]),
            due_at=datetime.fromisoformat(body["due_at"]) if body.get("due_at") else None,
            destination=fences.get(body.get("destination") or ""),
            allowed_area=fences.get(body.get("allowed_area") or ""),
            recalls=recalls,
            # Only tolerances depend on it, and the wire check compares times.
            report_every=timedelta(0),
        )
    return watched


def recalls_during_run(timeline: Timeline) -> set[tuple[str, str, str, datetime]]:
    """(kind, asset, key, at) of the recall alerts that the recalls the player creates during
    the run open, from the REST bodies alone: one per matching asset, when it is created."""
    opened = set()
    for action in timeline.actions:
        if action.path != "/api/v1/recalls":
            continue
        for body in timeline.assets:
            if body["sku"] == action.body["sku"] and body["lot"] in action.body["lots"]:
                opened.add(("recall", body["id"], "", action.at))
    return opened


def _profile(body: dict[str, Any]) -> ProfileSpec:
    metrics = tuple(
        MetricLimits(metric, spec.get("min"), spec.get("max"),
                     timedelta(seconds=spec["min_duration_s"]), spec["hysteresis"])
        for metric, spec in sorted(body["metrics"].items()))
    silent = body["silent_after_s"]
    return ProfileSpec(body["name"], body["description"], metrics,
                       timedelta(seconds=silent) if silent else None,
                       body["battery_below_pct"], body["battery_hysteresis_pct"])


def expected_of(timeline: Timeline, asset_id: str, kind: str | None = None) -> list[Any]:
    return [e for e in timeline.expected
            if e.asset_id == asset_id and (kind is None or e.kind == kind)]


def readings_of(timeline: Timeline, tag_id: str) -> list[WireReading]:
    """The tag's decoded readings in reading-time order (duplicates once)."""
    seen: dict[tuple[datetime, int | None], WireReading] = {}
    for delivery in deliveries(timeline).get(tag_id, []):
        for reading in delivery.readings:
            seen.setdefault((reading.ts, reading.seq), reading)
    return sorted(seen.values(), key=lambda r: r.ts)
