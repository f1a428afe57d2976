"""`recall`: an asset that matches an active recall, raised once per (asset, recall); its
alert follows the item, and resolves when the item enters a quarantine geofence or arrives."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from alerts.domain import AlertKind, Asset, GeofenceKind, Location, Recall, Severity
from alerts.geo import Zone
from alerts.rules._base import NOTHING, Action, Rule, RuleContext, Transition
from ingest.readings import Reading

if TYPE_CHECKING:
    from alerts.rules.arrival import Arrival

NAME = "recall"
QUARANTINE_NAME = "quarantine"
_NONE: frozenset[str] = frozenset()


def judge(
    asset: Asset,
    recalls: Iterable[Recall],
    already_raised: frozenset[str],
    at: datetime,
    location: Location | None,
    still_open: frozenset[str] = frozenset(),
) -> list[Transition]:
    """Called when a recall is created, when an asset is registered and when it reports.
    `already_raised` holds the recall ids this asset had an alert for: a recall is raised
    once, even after someone resolves it by hand. For those `still_open`, a new location
    refreshes the alert: where the recalled item is now is what the returns desk needs."""
    transitions = []
    for recall in recalls:
        if recall.id in still_open and location is not None:
            transitions.append(
                Transition(Action.REFRESH, AlertKind.RECALL, key=recall.id, at=at,
                           location=location)
            )
        if recall.id in already_raised or not recall.matches(asset):
            continue
        where = f" at {location.lat:.4f},{location.lon:.4f}" if location else ", not located yet"
        transitions.append(
            Transition(
                Action.OPEN,
                AlertKind.RECALL,
                key=recall.id,
                at=at,
                severity=Severity.CRITICAL,
                summary=f"recalled item {asset.id} (sku {asset.sku}, lot {asset.lot}){where}",
                details={
                    "recall_id": recall.id,
                    "sku": recall.sku,
                    "lot": asset.lot,
                    "serial": asset.serial,
                    "reason": recall.reason,
                },
                location=location,
            )
        )
    return transitions


def resolve_in_quarantine(
    zones: Iterable[Zone], still_open: frozenset[str], location: Location
) -> list[Transition]:
    """A located reading: inside a quarantine geofence, the live recall alerts resolve."""
    for zone in zones:
        if zone.fence.kind is GeofenceKind.QUARANTINE and zone.contains(
                location.lat, location.lon):
            return [Transition(Action.RESOLVE, AlertKind.RECALL, key=recall_id, at=location.ts,
                               location=location, summary=f"in quarantine at {zone.fence.name}")
                    for recall_id in sorted(still_open)]
    return []


class RecallRule(Rule):
    """Keeps no state of its own: which recalls an asset was raised for is in its alerts
    (`RuleContext.recall_keys`)."""

    name = NAME
    state_type = None

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        """Late readings too: any position is news of where the item is."""
        if not context.has_recalls:
            return NOTHING
        raised, still_open = context.recall_keys(asset.id)
        moved = still_open if location is not None else _NONE
        return judge(asset, context.recalls(), raised, reading.ts, context.last_location,
                     moved)

    def on_registry(self, context: RuleContext, asset: Asset, now: datetime
                    ) -> Sequence[Transition]:
        recalls = context.recalls()
        if not recalls:
            return NOTHING
        raised, _ = context.recall_keys(asset.id)
        return judge(asset, recalls, raised, now, context.last_location)

    def on_arrival(self, context: RuleContext, asset: Asset, arrival: Arrival
                   ) -> Sequence[Transition]:
        _, still_open = context.recall_keys(asset.id)
        return [Transition(Action.RESOLVE, AlertKind.RECALL, key=recall_id, at=arrival.at,
                           location=arrival.location,
                           summary=f"arrived at {arrival.destination.fence.name}")
                for recall_id in sorted(still_open)]


class QuarantineRule(Rule):
    """The recall's resolution in a quarantine geofence: a rule of its own, judged after the
    asset's other places (its allowed area), as the order of transitions has it."""

    name = QUARANTINE_NAME
    state_type = None

    def on_reading(self, context: RuleContext, asset: Asset, reading: Reading,
                   location: Location | None) -> Sequence[Transition]:
        if location is None or not context.newer or not context.has_recalls:
            return NOTHING
        _, still_open = context.recall_keys(asset.id)
        if not still_open:
            return NOTHING
        return resolve_in_quarantine(context.zones.values(), still_open, location)


RULE = RecallRule()
QUARANTINE = QuarantineRule()
