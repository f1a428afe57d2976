"""`recall`: an asset that matches an active recall, raised once per (asset, recall)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from alerts.rules._base import Action, Transition
from gateway.domain import AlertKind, Asset, Location, Recall, Severity

NAME = "recall"


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
