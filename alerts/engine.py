"""Feeds readings (and registry changes) to the rules and records what they decide: the alert
row, the rule state and the outbox deliveries, in one transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from alerts import _metrics
from alerts.outbox import Event, WebhookOutbox
from alerts.profiles import BUILT_IN_PROFILES, Profile
from alerts.rules import Action, Transition, out_of_spec, recall
from alerts.store import AlertStore
from alerts.subscriptions import SubscriptionStore
from gateway.domain import (
    Alert,
    AlertKind,
    AlertState,
    Asset,
    Location,
    Reading,
    Recall,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An announced alert transition, after it is committed."""

    type: str
    alert: Alert


def alert_data(alert: Alert) -> dict[str, Any]:
    """`data.alert` of the contract's webhook body."""
    location = None
    if alert.location is not None:
        location = {"lat": alert.location.lat, "lon": alert.location.lon,
                    "ts": alert.location.ts.isoformat()}
    return {
        "id": alert.id,
        "kind": str(alert.kind),
        "severity": str(alert.severity),
        "state": str(alert.state),
        "asset_id": alert.asset_id,
        "tag_id": alert.tag_id,
        "summary": alert.summary,
        "details": alert.details,
        "value": alert.value,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "location": location,
    }


@dataclass
class _AssetState:
    newest_ts: datetime | None = None
    location: Location | None = None
    out_of_spec: dict[str, out_of_spec.OutOfSpecState] = field(default_factory=dict)


class RuleEngine:
    def __init__(
        self,
        store: AlertStore,
        outbox: WebhookOutbox,
        subscriptions: SubscriptionStore,
        clock: Clock,
        profiles: dict[str, Profile] | None = None,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._clock = clock
        self.profiles = dict(BUILT_IN_PROFILES if profiles is None else profiles)
        self._assets: dict[str, Asset] = {}
        self._asset_by_tag: dict[str, str] = {}
        self._recalls: dict[str, Recall] = {}
        self._state: dict[str, _AssetState] = {}
        self.listeners: list[Callable[[AlertEvent], None]] = []
        self.outbox_written: Callable[[], None] = lambda: None
        """Called after a commit that added deliveries: wakes the webhook dispatcher."""
        self._load_state()

    def _load_state(self) -> None:
        for (asset_id, metric), data in self._store.load_rule_states("out_of_spec").items():
            state = self._state.setdefault(asset_id, _AssetState())
            state.out_of_spec[metric] = out_of_spec.OutOfSpecState.decode(data)
        for (asset_id, _), data in self._store.load_rule_states("engine").items():
            state = self._state.setdefault(asset_id, _AssetState())
            state.newest_ts = datetime.fromisoformat(data["newest_ts"])

    # Registry changes -----------------------------------------------------------------

    def upsert_asset(self, asset: Asset) -> None:
        previous = self._assets.get(asset.id)
        if previous is not None and previous.tag_id:
            self._asset_by_tag.pop(previous.tag_id, None)
        self._assets[asset.id] = asset
        if asset.tag_id:
            self._asset_by_tag[asset.tag_id] = asset.id
        self._judge_recalls([asset], self._clock())

    def remove_asset(self, asset_id: str) -> None:
        asset = self._assets.pop(asset_id, None)
        if asset is not None and asset.tag_id:
            self._asset_by_tag.pop(asset.tag_id, None)

    def upsert_recall(self, item: Recall) -> None:
        self._recalls[item.id] = item
        self._judge_recalls(list(self._assets.values()), self._clock())

    def _judge_recalls(self, assets: Iterable[Asset], at: datetime) -> None:
        recalls = [r for r in self._recalls.values() if r.active]
        if not recalls:
            return
        with self._store.db:
            events = []
            for asset in assets:
                raised, _ = self._store.raised_keys(asset.id, AlertKind.RECALL)
                location = self._state.get(asset.id, _AssetState()).location
                transitions = recall.judge(asset, recalls, raised, at, location)
                events += self._apply(asset, transitions)
        self._announce(events)

    # Readings ---------------------------------------------------------------------------

    async def on_readings(self, readings: list[Reading]) -> None:
        self.judge_readings(readings)

    def judge_readings(self, readings: list[Reading]) -> None:
        events: list[AlertEvent] = []
        with self._store.db:
            for reading in sorted(readings, key=lambda r: r.ts):
                asset_id = self._asset_by_tag.get(reading.tag_id)
                if asset_id is None:
                    continue
                events += self._judge(self._assets[asset_id], reading)
        self._announce(events)

    def _judge(self, asset: Asset, reading: Reading) -> list[AlertEvent]:
        state = self._state.setdefault(asset.id, _AssetState())
        position = reading.position
        if position is not None and (state.location is None or reading.ts >= state.location.ts):
            state.location = Location(position[0], position[1], reading.ts)
        transitions: list[Transition] = []
        if self._recalls:
            raised, still_open = self._store.raised_keys(asset.id, AlertKind.RECALL)
            active = [r for r in self._recalls.values() if r.active]
            moved = still_open if position is not None else frozenset()
            transitions += recall.judge(asset, active, raised, reading.ts, state.location, moved)
        # A reading older than the newest one seen never changes a condition rule's state.
        if state.newest_ts is None or reading.ts > state.newest_ts:
            state.newest_ts = reading.ts
            self._store.save_rule_state(
                asset.id, "engine", "", {"newest_ts": reading.ts.isoformat()}
            )
            transitions += self._judge_conditions(asset, state, reading)
        return self._apply(asset, transitions)

    def _judge_conditions(
        self, asset: Asset, state: _AssetState, reading: Reading
    ) -> list[Transition]:
        profile = self.profiles.get(asset.profile) if asset.profile else None
        if profile is None:
            return []
        transitions = []
        for metric, spec in profile.metrics.items():
            value = reading.values.get(metric)
            if value is None:
                continue
            before = state.out_of_spec.get(metric, out_of_spec.OutOfSpecState())
            after, found = out_of_spec.judge(metric, spec, before, value, reading.ts,
                                             state.location)
            if after != before:
                state.out_of_spec[metric] = after
                self._store.save_rule_state(asset.id, "out_of_spec", metric, after.encode())
            transitions += found
        return transitions

    # Recording --------------------------------------------------------------------------

    def _apply(self, asset: Asset, transitions: list[Transition]) -> list[AlertEvent]:
        events = []
        for transition in transitions:
            live = self._store.live(asset.id, transition.kind, transition.key)
            if transition.action is Action.OPEN and live is None:
                alert = Alert(
                    id=f"alt_{uuid.uuid4().hex[:20]}",
                    asset_id=asset.id,
                    tag_id=asset.tag_id,
                    kind=transition.kind,
                    key=transition.key,
                    severity=transition.severity,
                    state=AlertState.OPEN,
                    summary=transition.summary,
                    opened_at=transition.at,
                    value=transition.value,
                    details=transition.details,
                    updated_at=transition.at,
                    location=transition.location,
                )
                events.append(self._record(AlertEvent("alert.opened", alert)))
            elif live is None:
                continue  # nothing open to refresh or resolve (e.g. resolved by hand)
            elif transition.action is Action.RESOLVE:
                resolved = replace(
                    live,
                    state=AlertState.RESOLVED,
                    resolved_at=transition.at,
                    updated_at=transition.at,
                    details={**live.details, **transition.details,
                             "resolution": transition.summary},
                    location=transition.location or live.location,
                )
                events.append(self._record(AlertEvent("alert.resolved", resolved)))
            else:
                # OPEN on an open key, or REFRESH: the same alert, figures brought up to date.
                self._store.save(
                    replace(
                        live,
                        value=transition.value,
                        details={**live.details, **transition.details},
                        updated_at=transition.at,
                        location=transition.location or live.location,
                    )
                )
        return events

    def _record(self, event: AlertEvent) -> AlertEvent:
        self._store.save(event.alert)
        self._outbox.enqueue(
            Event(event.type, self._clock(), {"alert": alert_data(event.alert)},
                  alert_kind=str(event.alert.kind)),
            self._subscriptions.all(),
        )
        return event

    def _announce(self, events: list[AlertEvent]) -> None:
        if events:
            self.outbox_written()
        for event in events:
            _metrics.TRANSITIONS.labels(event.type, str(event.alert.kind)).inc()
            log.info("%s %s %s: %s", event.type, event.alert.kind, event.alert.asset_id,
                     event.alert.summary)
            for listener in self.listeners:
                listener(event)

    # By hand ----------------------------------------------------------------------------

    def acknowledge(self, alert_id: str, by: str, note: str = "") -> Alert | None:
        return self._by_hand(alert_id, AlertState.ACKNOWLEDGED, by, note)

    def resolve(self, alert_id: str, by: str, note: str = "") -> Alert | None:
        return self._by_hand(alert_id, AlertState.RESOLVED, by, note)

    def _by_hand(self, alert_id: str, to: AlertState, by: str, note: str) -> Alert | None:
        alert = self._store.get(alert_id)
        if alert is None or alert.state is AlertState.RESOLVED or alert.state is to:
            return alert
        now = self._clock()
        changed = replace(
            alert,
            state=to,
            updated_at=now,
            resolved_at=now if to is AlertState.RESOLVED else None,
            details={**alert.details, f"{to}_by": by, f"{to}_note": note},
        )
        with self._store.db:
            event = self._record(AlertEvent(f"alert.{to}", changed))
        self._announce([event])
        return changed
