"""Points the dashboards read beside the contract's `telemetry` and `alerts` (additions, as
CONTRACT.md allows; docs/dashboards.md describes them):

- `asset_states`: an asset's condition (in transit, overdue, out of spec, recalled, received,
  returned) with its last position, due date and trip time, and its trip's status and
  dispositions: at every alert transition, arrival and trip status change, and every
  BOOMERANG_SNAPSHOT_INTERVAL_S for each asset still on its way, in an open trip, or a
  rental, so that "where is everything now" is one InfluxQL query over any time range,
  with no join.
- `gateway_stats` and `gateway_dead_letters`: the gateway's own counters, every
  BOOMERANG_STATS_INTERVAL_S, for the health dashboard (Grafana reads no Prometheus here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import REGISTRY

from alerts import AlertEvent, ArrivalEvent, AssetCondition, EngineEvent, RuleEngine, TripChanged
from alerts.domain import AlertKind, AssetKind
from alerts.trips import TripStatus
from ingest.readings import DEAD_LETTER_CAUSES
from ingest.sinks import Point
from ingest.sinks._points import FieldValue
from ingest.statedb import Runner, inline

ASSET_STATES = "asset_states"
SNAPSHOT_PART = 2000
GATEWAY_STATS = "gateway_stats"
GATEWAY_DEAD_LETTERS = "gateway_dead_letters"

# Field of gateway_stats -> (Prometheus sample, labels). Counters stay cumulative, as in
# Prometheus; dashboards take non_negative_derivative, which also bridges restarts.
STATS_SAMPLES: dict[str, tuple[str, dict[str, str]]] = {
    "messages": ("boomerang_ingest_messages_total", {}),
    "readings": ("boomerang_ingest_readings_total", {}),
    "duplicates": ("boomerang_ingest_duplicates_total", {}),
    "unknown_fields": ("boomerang_ingest_unknown_fields_total", {}),
    "points_written": ("boomerang_sink_points_written_total", {}),
    "points_buffered": ("boomerang_sink_points_buffered", {}),
    "spool_points": ("boomerang_spool_points", {}),
    "spool_full": ("boomerang_spool_full", {}),
    "mqtt_connected": ("boomerang_mqtt_connected", {}),
    "outbox_pending": ("boomerang_outbox_pending", {}),
    "webhook_delivered": ("boomerang_webhook_attempts_total", {"outcome": "delivered"}),
    "webhook_retried": ("boomerang_webhook_attempts_total", {"outcome": "pending"}),
    "webhook_failed": ("boomerang_webhook_attempts_total", {"outcome": "failed"}),
    # A cluster's gateway (BOOMERANG_NATS_URL; 0 for one gateway alone).
    "partitions_owned": ("boomerang_cluster_partitions_owned", {}),
    "relay": ("boomerang_cluster_relay", {}),
    "takeovers": ("boomerang_cluster_takeovers_total", {}),
    "partitions_lost": ("boomerang_cluster_partitions_lost_total", {}),
    "lease_renewals_lost": ("boomerang_cluster_lease_renewals_total", {"outcome": "lost"}),
    "lease_renewals_failed": ("boomerang_cluster_lease_renewals_total", {"outcome": "failed"}),
    "unacknowledged": ("boomerang_cluster_unacknowledged_messages", {}),
}
SUMMED_SAMPLES = {
    "dead_letters": "boomerang_ingest_dead_letters_total",
    "fenced_writes": "boomerang_cluster_fenced_writes_total",
    "partition_lag": "boomerang_cluster_partition_lag",
}
"""Fields of gateway_stats that add up a metric's samples over all their labels."""


def asset_state_point(found: AssetCondition) -> Point:
    asset = found.asset
    tags = {"asset_id": asset.id, "asset_kind": str(asset.kind), "flow": str(asset.flow)}
    if asset.customer:
        tags["customer"] = asset.customer
    if asset.category:
        tags["category"] = asset.category
    # Numbers are always floats and flags 0/1 floats: a field keeps its first type in a
    # shard, and sum() over flags counts assets.
    fields: dict[str, FieldValue] = {
        "state": str(found.condition),
        "open_alerts": float(len(found.open_kinds)),
        "recalled": float(AlertKind.RECALL in found.open_kinds),
        "out_of_spec": float(AlertKind.OUT_OF_SPEC in found.open_kinds),
        "overdue": float(AlertKind.OVERDUE in found.open_kinds),
    }
    for name in ("tag_id", "sku", "serial", "lot"):
        value = getattr(asset, name)
        if value:
            fields[name] = value
    located = found.lat is not None and found.lon is not None
    fields["located"] = float(located)
    if found.lat is not None and found.lon is not None:
        fields["lat"], fields["lon"] = found.lat, found.lon
    if found.transit_s is not None:
        fields["transit_s"] = found.transit_s
    due_in_s = found.due_in_s
    if due_in_s is not None:
        fields["due_in_s"] = due_in_s
        fields["days_overdue"] = max(0.0, -due_in_s / 86_400) if fields["overdue"] else 0.0
    if found.disposition:
        fields["disposition"] = found.disposition
        fields["disposition_recommended"] = found.disposition
    if found.actual:
        fields["disposition_actual"] = found.actual
    if asset.trip_id:
        fields["trip_id"] = asset.trip_id
    if asset.trip_status:
        fields["trip_status"] = asset.trip_status
    if asset.kind is AssetKind.RENTAL:
        # 0/1 each point: their mean over a time range is the share of it out (utilization).
        fields["out_with_customer"] = float(asset.trip_status == TripStatus.CHECKED_OUT)
        fields["available"] = float(asset.trip_status in (None, TripStatus.AVAILABLE))
    if found.turnaround_h is not None:
        fields["turnaround_h"] = found.turnaround_h
    if found.eta is not None:
        fields["eta_h"] = round(max(0.0, (found.eta.p50 - found.at).total_seconds() / 3600), 3)
        if found.eta.late_probability is not None:
            fields["late_probability"] = round(found.eta.late_probability, 4)
    for metric, low, high in found.limits:
        if low is not None:
            fields[f"{metric}_min"] = float(low)
        if high is not None:
            fields[f"{metric}_max"] = float(high)
    return Point(ASSET_STATES, tags, fields, found.at)


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _summed(names: set[str]) -> dict[str, float]:
    """Each sample name's values added up over all its labels (0 when there is none)."""
    totals = dict.fromkeys(names, 0.0)
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name in totals:
                totals[sample.name] += sample.value
    return totals


def gateway_stats_points(instance: str, at: datetime, uptime_s: float) -> list[Point]:
    fields: dict[str, FieldValue] = {
        field: _sample(name, labels) for field, (name, labels) in STATS_SAMPLES.items()}
    summed = _summed(set(SUMMED_SAMPLES.values()))
    fields.update({field: summed[name] for field, name in SUMMED_SAMPLES.items()})
    fields["uptime_s"] = uptime_s
    points = [Point(GATEWAY_STATS, {"instance": instance}, fields, at)]
    points += [
        Point(GATEWAY_DEAD_LETTERS, {"instance": instance, "cause": cause},
              {"count": _sample("boomerang_ingest_dead_letters_total", {"cause": cause})}, at)
        for cause in DEAD_LETTER_CAUSES
    ]
    return points


def _due(last: datetime | None, now: datetime, interval_s: float) -> bool:
    """Whether a write every `interval_s` (0: never) is due, the last one made at `last`."""
    return bool(interval_s) and (last is None or (now - last).total_seconds() >= interval_s)


@dataclass(frozen=True, slots=True)
class _Change:
    at: datetime
    disposition: str | None = None
    trip_duration_s: float | None = None
    actual: str | None = None
    turnaround_h: float | None = None

    def merge(self, later: _Change) -> _Change:
        return _Change(
            max(self.at, later.at), later.disposition or self.disposition,
            later.trip_duration_s if later.trip_duration_s is not None else self.trip_duration_s,
            later.actual or self.actual,
            later.turnaround_h if later.turnaround_h is not None else self.turnaround_h)


def _trip_change(at: datetime, event: TripChanged) -> _Change:
    """The figures a trip's change gives its asset's point: the recommendation and the
    inspection's disposition, and a rental's turnaround when it is available again."""
    trip = event.data["trip"]
    recommended = (trip.get("recommendation") or {}).get("disposition")
    actual = (trip.get("inspection") or {}).get("disposition")
    turnaround = None
    if event.trip is not None and trip["status"] == TripStatus.AVAILABLE:
        times = {change.status: change.at for change in event.trip.history}
        back, ready = times.get(TripStatus.RETURNED), times.get(TripStatus.AVAILABLE)
        if back is not None and ready is not None:
            turnaround = round((ready - back).total_seconds() / 3600, 3)
    return _Change(at, recommended, actual=actual, turnaround_h=turnaround)


class Snapshots:
    """Writes `asset_states` points as the engine's events come and as its clock passes,
    and `gateway_stats` points as the wall clock passes."""

    def __init__(self, engine: RuleEngine, offer: Callable[[Sequence[Point]], None], *,
                 rules_now: Callable[[], datetime | None], asset_interval_s: float,
                 stats_interval_s: float, instance: str, started_at: datetime,
                 run: Runner = inline,
                 stored: Callable[[], Awaitable[None]] | None = None) -> None:
        """`run`: how to call the engine (StateDb.run in the gateway). `stored`: waits until
        every point offered so far is stored (PointBatcher.stored), between the parts of a
        snapshot."""
        self._engine = engine
        self._run = run
        self._stored = stored
        self._writing: asyncio.Task[None] | None = None
        self._rules_now = rules_now
        self._offer = offer
        self._asset_interval_s = asset_interval_s
        self._stats_interval_s = stats_interval_s
        self._instance = instance
        self._started_at = started_at
        self._assets_at: datetime | None = None
        self._stats_at: datetime | None = None
        self._changed: dict[str, _Change] = {}
        self._fresh: set[str] | None = None
        """While a snapshot is being written in parts: the assets an event has written
        since it began, whose points are newer than what the snapshot read."""

    def on_event(self, event: EngineEvent) -> None:
        """An engine listener. Gathers the assets one batch of readings changed and writes
        their points once, on the next turn of the loop: a recall hitting ten thousand
        assets then costs one pass, not ten thousand."""
        # Stamped with the rules' now, not the event's time: a late reading (an offline
        # buffer) changes the state now, and its point must outrank the snapshots written
        # since; and on event time an API action has no event time of its own. Before the
        # first reading (event time) there is no now: the first snapshot records it all.
        at = self._rules_now()
        if at is None:
            return
        if isinstance(event, AlertEvent):
            change = _Change(at)
            asset_id = event.alert.asset_id
        elif isinstance(event, ArrivalEvent):
            asset_id = event.asset_id
            change = _Change(at, event.data.get("disposition"),
                             event.data.get("trip", {}).get("duration_s"))
        else:
            asset_id = event.asset_id
            change = _trip_change(at, event)
        before = self._changed.get(asset_id)
        self._changed[asset_id] = before.merge(change) if before else change
        if before is None and len(self._changed) == 1:
            # A task starts on the loop's next turn, after the batch's other events; kept,
            # as a task nobody references may be collected before it runs.
            self._writing = asyncio.get_running_loop().create_task(
                self._run(self.write_changed))

    def write_changed(self) -> None:
        changed, self._changed = self._changed, {}
        points = []
        # The alerts open, for all of them at once: a recall hitting thousands of assets
        # would otherwise ask once per asset.
        open_kinds = self._engine.open_alert_kinds_of(list(changed))
        for asset_id, change in changed.items():
            points += [asset_state_point(found) for found in self._engine.conditions(
                change.at, [asset_id], disposition=change.disposition,
                trip_duration_s=change.trip_duration_s, open_kinds=open_kinds,
                actual=change.actual, turnaround_h=change.turnaround_h)]
        if self._fresh is not None:
            self._fresh.update(changed)
        if points:
            self._offer(points)

    async def on_rules_clock(self, now: datetime) -> None:
        """Every asset still on its way or with an alert open, each
        BOOMERANG_SNAPSHOT_INTERVAL_S of the rules' clock (event time when the gateway runs
        on event time); in parts, letting the loop run between them (100,000 assets take
        about 1.2 s here), each part once the one before is stored: offered all at once, a
        snapshot of 100,000 assets waited in the batcher whole and took the gateway's
        memory from 252 to 378 MB (issue 18). So a snapshot can wait as long as the
        telemetry store does: its caller must not hold up anything else on it. An asset an
        event writes meanwhile is left out: its point is newer than the alerts this
        snapshot read."""
        if not _due(self._assets_at, now, self._asset_interval_s):
            return
        self._assets_at = now
        open_kinds = await self._run(self._engine.open_alert_kinds)
        # Arrived assets too while an alert of theirs is open: a recall that reached an item
        # already received must stay on the dashboards until it is dealt with.
        # Of a cluster's gateways, each writes those it judges (the others' copies of an
        # asset may be behind).
        judges = self._engine.judges
        assets = [asset_id for asset_id in dict.fromkeys(
            [*await self._run(self._engine.followed), *open_kinds]) if judges(asset_id)]
        self._fresh = set()
        try:
            for start in range(0, len(assets), SNAPSHOT_PART):
                if start and self._stored is not None:
                    await self._stored()
                part = [a for a in assets[start:start + SNAPSHOT_PART] if a not in self._fresh]
                found = await self._run(self._engine.conditions, now, part,
                                        open_kinds=open_kinds)
                self._offer([asset_state_point(condition) for condition in found])
                await asyncio.sleep(0)
        finally:
            self._fresh = None

    def on_wall_clock(self, now: datetime) -> None:
        if not _due(self._stats_at, now, self._stats_interval_s):
            return
        self._stats_at = now
        self._offer(gateway_stats_points(
            self._instance, now, (now - self._started_at).total_seconds()))
