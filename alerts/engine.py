"""Feeds readings, clock ticks and registry changes to the rules, and records what they
decide: the alert rows and the outbox deliveries at once, in one transaction with the rule
state; the rule state alone (which changes with nearly every reading) in group commits,
written behind, before the readings that changed it are acknowledged.

One reading (or one asset's clock tick) that makes a rule raise costs only itself: what its
judgement changed, in memory and in the open transaction (a savepoint), is undone, and the
reading is handed back to the caller as failed (ingest dead-letters it); the others of the
batch are judged and committed as if it had not come.

The engine knows the rules only as `alerts.rules.RULES` (or the `rules` it is given): each a
`Rule`, called on each of its hooks (a reading, the clock, a registry change, an arrival) in
that order, through a `RuleContext` that keeps the rule's own state here."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import NestedTransaction
from sqlalchemy.exc import SQLAlchemyError

from alerts import _metrics
from alerts.bindings import TagBindings
from alerts.conditions import AssetCondition, condition_of, limits_of
from alerts.domain import (
    Alert,
    AlertKind,
    AlertState,
    Asset,
    AssetKind,
    AssetState,
    Geofence,
    Location,
    Recall,
)
from alerts.eta import Eta, LaneSpeeds, Transit
from alerts.events import Event
from alerts.geo import Zone
from alerts.outbox import WebhookOutbox
from alerts.profiles import BUILT_IN_PROFILES, Profile
from alerts.routing import can_quarantine
from alerts.rules import RULES, Action, EnginePolicy, Rule, RuleContext, Transition, arrival
from alerts.rules._state import decode, encode
from alerts.rules.arrival import Arrival, TripState
from alerts.store import AlertFilter, AlertStore
from alerts.subscriptions import Subscription, SubscriptionStore
from alerts.trips import (
    Recommendation,
    Sighting,
    StatusChange,
    Trip,
    TripLedger,
    TripStatus,
    machine_of,
    trip_event_data,
    trip_summary_data,
)
from ingest.readings import Reading
from ingest.statedb import STORE_FAILURES

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An announced alert transition, after it is committed."""

    type: str
    alert: Alert


@dataclass(frozen=True, slots=True)
class ArrivalEvent:
    """`asset.arrived`, after it is committed."""

    asset_id: str
    data: dict[str, Any]
    type: str = "asset.arrived"


@dataclass(frozen=True, slots=True)
class TripChanged:
    """`trip.status_changed` or `trip.rerouted`, after it is committed."""

    type: str
    asset_id: str
    data: dict[str, Any]
    trip: Trip | None = None
    """The trip as it now is; with its history when the change closed it."""


EngineEvent = AlertEvent | ArrivalEvent | TripChanged

# What an asset's judgement may change of it in memory, and is put back should a rule raise.
_UNDONE_FIELDS = ("state", "trip_status", "destination", "due_at", "allowed_area")


@dataclass(frozen=True, slots=True)
class SeenState:
    """What the engine itself keeps per asset: the newest reading time and position."""

    newest_ts: datetime | None = None
    lat: float | None = None
    lon: float | None = None
    located_at: datetime | None = None

    @property
    def location(self) -> Location | None:
        if self.lat is None or self.lon is None or self.located_at is None:
            return None
        return Location(self.lat, self.lon, self.located_at)


SEEN = "engine"

ReadingHook = Callable[[RuleContext, Asset, Reading, Location | None], Sequence[Transition]]
TimeHook = Callable[[RuleContext, Asset, datetime], Sequence[Transition]]
"""`Rule.on_clock`, `Rule.on_registry`."""
ArrivalHook = Callable[[RuleContext, Asset, Arrival], Sequence[Transition]]


def _state_types(rules: Iterable[Rule]) -> dict[str, type]:
    """The dataclass of each rule's stored state, by the rule's name; the engine's own too."""
    types: dict[str, type] = {SEEN: SeenState}
    names = {SEEN}
    for rule in rules:
        if rule.name in names:
            raise ValueError(f"a second rule is named {rule.name!r}: each rule needs a name "
                             f"of its own (its state is stored under it; {SEEN!r} is the "
                             "engine's)")
        names.add(rule.name)
        if rule.state_type is not None:
            types[rule.name] = rule.state_type
    return types


def _implements(rule: Rule, hook: str) -> bool:
    """Whether `rule` has a `hook` of its own, rather than Rule's, which does nothing."""
    return getattr(type(rule), hook, None) is not getattr(Rule, hook)


def alert_data(alert: Alert) -> dict[str, Any]:
    """`data.alert` of the contract's webhook body."""
    location = None
    if alert.location is not None:
        location = {"lat": alert.location.lat, "lon": alert.location.lon,
                    "ts": alert.location.ts.isoformat()}
    return {
        "id": alert.id,
        "kind": str(alert.kind),
        "key": alert.key,
        "severity": str(alert.severity),
        "state": str(alert.state),
        "asset_id": alert.asset_id,
        "tag_id": alert.tag_id,
        "summary": alert.summary,
        "details": alert.details,
        "value": alert.value,
        "opened_at": alert.opened_at.isoformat(),
        "updated_at": alert.updated_at.isoformat() if alert.updated_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "location": location,
        "trip_id": alert.trip_id,
    }


class _RuleContext:
    """One rule's `RuleContext`: its own state, under its name, and what the engine knows,
    of the asset being judged in particular (set by `RuleEngine._judging`)."""

    __slots__ = ("_engine", "_rule")

    def __init__(self, engine: RuleEngine, rule: str) -> None:
        self._engine = engine
        self._rule = rule

    def state(self, asset_id: str, key: str, cls: type[S]) -> S:
        return self._engine._get(asset_id, self._rule, key, cls)

    def put(self, asset_id: str, key: str, state: object) -> None:
        self._engine._put(asset_id, self._rule, key, state)

    @property
    def policy(self) -> EnginePolicy:
        return self._engine.policy

    @property
    def zones(self) -> Mapping[str, Zone]:
        return self._engine.zones

    def profile(self, asset: Asset) -> Profile | None:
        return self._engine._profile_of(asset)

    @property
    def newer(self) -> bool:
        return self._engine._newer

    @property
    def last_location(self) -> Location | None:
        engine = self._engine
        if not engine._location_known:
            engine._location_now = engine._seen_now.location
            engine._location_known = True
        return engine._location_now

    @property
    def last_heard(self) -> datetime | None:
        return self._engine._seen_now.newest_ts

    @property
    def has_recalls(self) -> bool:
        return bool(self._engine._recalls)

    def recalls(self) -> list[Recall]:
        return self._engine._active_recalls()

    def recall_keys(self, asset_id: str) -> tuple[frozenset[str], frozenset[str]]:
        return self._engine._recall_alert_keys(asset_id)

    def arrived(self, arrival: Arrival) -> None:
        self._engine._arrival = arrival

    def sighted(self, sighting: Sighting, location: Location) -> None:
        self._engine._sightings.append((sighting, location))

    @property
    def lanes(self) -> LaneSpeeds:
        return self._engine.lanes

    def estimate(self, asset_id: str) -> Eta | None:
        return self._engine._estimates.get(asset_id)

    def estimated(self, eta: Eta, *, announce: bool) -> None:
        self._engine._estimate_now = (eta, announce)

    def travelled(self, transit: Transit) -> None:
        self._engine._transit_now = transit


class RuleEngine:
    def __init__(
        self,
        store: AlertStore,
        outbox: WebhookOutbox,
        subscriptions: SubscriptionStore,
        clock: Clock,
        profiles: dict[str, Profile] | None = None,
        policy: EnginePolicy | None = None,
        rules: Sequence[Rule] = RULES,
        bindings: TagBindings | None = None,
        trips: TripLedger | None = None,
    ) -> None:
        """`rules`: what judges, in order (alerts.rules.RULES, or more or fewer).
        `bindings`: the asset registry's index of tags (the engine then only reads it); none,
        and the engine keeps its own from the assets it is given.
        `trips`: where trips are kept (the gateway's trip store); none, and telemetry moves
        no trip."""
        self.trips = trips
        self._store = store
        self._outbox = outbox
        self._subscriptions = subscriptions
        self._clock = clock
        self.policy = policy or EnginePolicy()
        self.profiles = dict(BUILT_IN_PROFILES if profiles is None else profiles)
        self.zones: dict[str, Zone] = {}
        self._assets: dict[str, Asset] = {}
        # The registry's index when it keeps one (the gateway), else the engine's own.
        self._keeps_bindings = bindings is None
        self.bindings = TagBindings() if bindings is None else bindings
        self._recalls: dict[str, Recall] = {}
        self._states: dict[tuple[str, str, str], object] = {}
        self._unsaved: set[tuple[str, str, str]] = set()
        # While one reading or asset is judged: how to put back what it changed, should a
        # rule raise (ingest's poison isolation); and whether it opened a savepoint.
        self._undo: list[tuple[tuple[str, str, str], object | None]] | None = None
        self._undo_assets: list[tuple[Asset, tuple[Any, ...]]] = []
        self._savepoint: NestedTransaction | None = None
        # (keys ever raised, keys still live) of recall alerts per asset: asked for every
        # reading while recalls exist, so kept here rather than queried.
        self._recall_keys: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self._subscribers: list[Subscription] | None = None
        self._state_types = _state_types(rules)
        self._per_trip = frozenset(rule.name for rule in rules if rule.per_trip)
        # Each hook of the rules, in their order, with the rule's context: only those a rule
        # implements (most judge on one or two of them; readings and ticks are many).
        contexts = [(rule, _RuleContext(self, rule.name)) for rule in rules]
        self._on_reading: tuple[tuple[ReadingHook, _RuleContext], ...] = tuple(
            (rule.on_reading, c) for rule, c in contexts if _implements(rule, "on_reading"))
        self._on_clock: tuple[tuple[TimeHook, _RuleContext], ...] = tuple(
            (rule.on_clock, c) for rule, c in contexts if _implements(rule, "on_clock"))
        self._on_registry: tuple[tuple[TimeHook, _RuleContext], ...] = tuple(
            (rule.on_registry, c) for rule, c in contexts if _implements(rule, "on_registry"))
        self._on_arrival: tuple[tuple[ArrivalHook, _RuleContext], ...] = tuple(
            (rule.on_arrival, c) for rule, c in contexts if _implements(rule, "on_arrival"))
        # The asset being judged, as the rules see it (`_judging`): its SeenState, whether
        # the reading is newer than any before, its newest position (made when first asked
        # for), and the arrival a rule reported.
        self._seen_now = SeenState()
        self._newer = True
        self._location_now: Location | None = None
        self._location_known = True
        self._arrival: Arrival | None = None
        self._sightings: list[tuple[Sighting, Location]] = []
        self._estimate_now: tuple[Eta, bool] | None = None
        self._transit_now: Transit | None = None
        self.lanes = LaneSpeeds()
        """The speeds of each lane, learnt from arrivals (the gateway adds those of the trips
        stored at start)."""
        # Each asset's latest estimate of arrival: kept in memory only (made again by its
        # next reading after a restart), as it changes with nearly every reading.
        self._estimates: dict[str, Eta] = {}
        self.listeners: list[Callable[[EngineEvent], None]] = []
        self.rules_now: Callable[[], datetime] = clock
        """The rules' now for what no reading dates (an asset or recall registered, a trip
        re-routed by a recall, a move made through the API): the clock, or on event time the
        newest reading time (set by the gateway)."""
        self.outbox_written: Callable[[], None] = lambda: None
        """Called after a commit that added deliveries: wakes the webhook dispatcher."""
        self.asset_state_changed: Callable[[str, AssetState], None] = lambda _id, _state: None
        """Called inside the engine's transaction when an asset arrives."""
        self.owns: Callable[[Asset], bool] = lambda _asset: True
        """Whether this gateway judges the asset on the clock and on registry changes: in a
        cluster of gateways, whether it holds the lease of the asset's partition (its
        readings reach only that partition's holder anyway)."""
        self.newest_judged: datetime | None = None
        """The newest reading time given to `judge_readings` since it was last set to None
        (a cluster's partition keeps its own event-time clock with it)."""
        self.fence: Callable[[], None] = lambda: None
        """Called first in every transaction the engine writes rule state or alerts in: in a
        cluster, refuses the transaction (raising `Fenced`) when a partition it judges was
        taken over by another gateway meanwhile."""
        for rule, cls in self._state_types.items():
            for (asset_id, key), data in self._store.load_rule_states(rule).items():
                self._states[(asset_id, rule, key)] = decode(cls, data)
        self.watermark: datetime | None = max(
            (s.newest_ts for s in self._states.values()
             if isinstance(s, SeenState) and s.newest_ts is not None), default=None)
        """The newest reading time seen, of any tag: `now` for the timer-driven rules when
        the gateway runs on event time (simulation and replay)."""

    # Per-asset rule state --------------------------------------------------------------

    def _get(self, asset_id: str, rule: str, key: str, cls: type[S]) -> S:
        state = self._states.get((asset_id, rule, key))
        return state if isinstance(state, cls) else cls()

    def _put(self, asset_id: str, rule: str, key: str, state: object) -> None:
        where = (asset_id, rule, key)
        before = self._states.get(where)
        # Rules hand back the very object when nothing changed: `is` spares the comparison.
        if before is not state and before != state:
            undo = self._undo
            if undo is not None:
                undo.append((where, before))
            self._states[where] = state
            self._unsaved.add(where)

    def save_state(self, *, fenced: bool = False) -> None:
        """Write the rule state changed since the last call, in one transaction. Called
        before readings are acknowledged (so a crash loses no state of an acknowledged
        reading), by the timer, at shutdown, and with every alert transition. `fenced`:
        pass the fence even with nothing to write (a cluster's gateway, before it
        acknowledges, learns so whether its partitions are still its own)."""
        if not self._unsaved and not fenced:
            return
        with self._store.db.transaction():
            self.fence()
            self._write_unsaved()

    def _write_unsaved(self) -> None:
        rows = []
        for where in self._unsaved:
            state = self._states.get(where)
            if state is None:  # made, then undone (a reading a rule raised on)
                continue
            try:
                rows.append((*where, encode(state).decode()))
            except (TypeError, ValueError) as exc:
                # A bug (a rule kept what JSON cannot hold): that one state stays in memory
                # only, rather than failing the batch, and every batch after it, for good.
                _metrics.RULE_ERRORS.labels("save").inc()
                log.error("rule state %s cannot be saved, it is kept in memory only: %r",
                          where, exc)
        self._store.save_rule_states(rows)
        self._unsaved.clear()

    @contextmanager
    def _undoable(self) -> Iterator[None]:
        """One batch's transaction, with an undo log of what its judgements change in memory:
        should the batch fail as a whole (the store), memory is put back as the rollback
        puts back the database, so that its redelivery finds the state it found."""
        self._undo, self._undo_assets, self._savepoint = [], [], None
        self._subscribers = None
        try:
            with self._store.db.transaction():
                self.fence()
                yield
        except BaseException:
            self._undo_to((0, 0))
            self._recall_keys.clear()  # a cache, read again from the store
            raise
        finally:
            self._undo, self._undo_assets, self._savepoint = None, [], None
            self._subscribers = None

    def _subscriptions_now(self) -> list[Subscription]:
        """The subscriptions, read once per batch's transaction rather than per event (a
        recall that hits thousands of assets would read them thousands of times)."""
        if self._subscribers is None or self._undo is None:
            subscribers = self._subscriptions.all()
            if self._undo is None:
                return subscribers
            self._subscribers = subscribers
        return self._subscribers

    def _mark(self) -> tuple[int, int]:
        assert self._undo is not None
        return len(self._undo), len(self._undo_assets)

    def _guarded(self, asset: Asset, judge: Callable[[], list[EngineEvent]]
                 ) -> list[EngineEvent]:
        """`judge` (one reading of `asset`, or its clock tick) inside the batch; should a rule
        raise, what it changed is undone (memory, and its savepoint) and the error raised
        on. The store failing is left to the batch (`_undoable`)."""
        mark = self._mark()
        try:
            events = judge()
        except STORE_FAILURES:
            raise
        except Exception:
            self._undo_to(mark)
            self._recall_keys.pop(asset.id, None)
            raise
        self._release()
        return events

    def _writing(self) -> None:
        """Called before a judgement writes to the database: the savepoint it may be
        rolled back to. Most readings change no alert, so most never need one."""
        if self._undo is None or self._savepoint is not None:
            return
        # Inside the batch's transaction (`_undoable`), which commits the release with it.
        self._savepoint = self._store.db.conn.begin_nested()

    def _release(self) -> None:
        if self._savepoint is not None:
            savepoint, self._savepoint = self._savepoint, None
            savepoint.commit()

    def _undo_to(self, mark: tuple[int, int]) -> None:
        """Put back what was changed since `mark`: memory first, whatever the database does."""
        undo, undo_assets = self._undo or [], self._undo_assets
        while len(undo) > mark[0]:
            # Left among the unsaved: written again as it was, which costs only the write.
            where, before = undo.pop()
            if before is None:
                self._states.pop(where, None)
            else:
                self._states[where] = before
        while len(undo_assets) > mark[1]:
            changed, fields = undo_assets.pop()
            for name, value in zip(_UNDONE_FIELDS, fields, strict=True):
                setattr(changed, name, value)
        if self._savepoint is not None:
            savepoint, self._savepoint = self._savepoint, None
            # A store that already rolled the transaction back has no savepoint left: the
            # batch fails on the store then (its next write), and is taken back whole.
            if savepoint.is_active:
                with contextlib.suppress(SQLAlchemyError):
                    savepoint.rollback()

    def _keep_state_with(self, events: list[EngineEvent]) -> None:
        """An alert row and the rule state that raised it commit together: a rule that
        believed an alert open after a crash, with none stored, or the reverse, would
        never resolve it (or open it twice)."""
        if events:
            self._write_unsaved()

    def _recall_alert_keys(self, asset_id: str) -> tuple[frozenset[str], frozenset[str]]:
        keys = self._recall_keys.get(asset_id)
        if keys is None:
            keys = self._recall_keys[asset_id] = self._store.raised_keys(
                asset_id, AlertKind.RECALL)
        return keys

    def _profile_of(self, asset: Asset) -> Profile | None:
        return self.profiles.get(asset.profile) if asset.profile else None

    def seen(self, asset_id: str) -> SeenState:
        return self._get(asset_id, SEEN, "", SeenState)

    def on_the_way(self) -> list[str]:
        """The assets that have not arrived."""
        return [a.id for a in self._assets.values() if not a.state.arrived]

    def open_alert_kinds(self) -> dict[str, set[str]]:
        return self._store.open_kinds()

    def open_alert_kinds_of(self, asset_ids: Collection[str]) -> dict[str, set[str]]:
        """The kinds of alert open per asset, of these assets, in a query per 500."""
        wanted = list(asset_ids)
        found: dict[str, set[str]] = {}
        for start in range(0, len(wanted), 500):
            found.update(self._store.open_kinds(wanted[start:start + 500]))
        return found

    def followed(self) -> list[str]:
        """The assets the dashboards follow over time: those on their way, those whose trip
        is still open (awaiting inspection, say), and every rental (out or available)."""
        return [a.id for a in self._assets.values()
                if not a.state.arrived or a.kind is AssetKind.RENTAL
                or (a.trip_status is not None
                    and TripStatus(a.trip_status) not in machine_of(a.flow).final)]

    def conditions(self, now: datetime, asset_ids: Collection[str],
                   *, disposition: str | None = None, trip_duration_s: float | None = None,
                   open_kinds: dict[str, set[str]] | None = None,
                   actual: str | None = None, turnaround_h: float | None = None,
                   ) -> list[AssetCondition]:
        """The condition of the given assets at `now`, with the position last seen.
        `open_kinds`: open_alert_kinds(), when the caller asks for many assets in parts."""
        assets = [a for a in map(self._assets.get, asset_ids) if a is not None]
        if open_kinds is None:
            open_kinds = self._store.open_kinds(asset_ids)
        found = []
        for asset in assets:
            kinds = frozenset(open_kinds.get(asset.id, ()))
            seen = self.seen(asset.id)
            # The arrival rule's record of the trip: when it began.
            trip = self._get(asset.id, arrival.NAME, "", TripState)
            found.append(AssetCondition(
                asset=asset, at=now, condition=condition_of(asset, kinds), open_kinds=kinds,
                lat=seen.lat, lon=seen.lon,
                trip_started_at=trip.started_at or asset.created_at, disposition=disposition,
                limits=limits_of(self._profile_of(asset)), trip_duration_s=trip_duration_s,
                actual=actual, turnaround_h=turnaround_h, eta=self._estimates.get(asset.id)))
        return found

    # Registry changes -----------------------------------------------------------------

    def upsert_asset(self, asset: Asset) -> None:
        self.upsert_assets([asset])

    def upsert_assets(self, assets: Sequence[Asset], *, judge: bool = True) -> None:
        """New or changed assets, in order (a bulk import's), judged against the active
        recalls in one transaction (unless another gateway judges: `judge` false)."""
        for asset in assets:
            before = self._assets.get(asset.id)
            self._unbind(before)
            if before is not None and before.trip_id != asset.trip_id:
                self._new_trip(asset.id)
            self._assets[asset.id] = asset
            if self._keeps_bindings:
                self.bindings.bind(asset)
        if judge:
            changed = {asset.id: self._assets[asset.id] for asset in assets}
            self._judge_registry(changed.values(), self.rules_now())

    def asset(self, asset_id: str) -> Asset | None:
        return self._assets.get(asset_id)

    def _new_trip(self, asset_id: str) -> None:
        """The asset's trip changed: the state of the rules that keep it per trip starts
        afresh (the arrival rule's trip summary, overdue's escalation)."""
        self._estimates.pop(asset_id, None)
        for where, state in list(self._states.items()):
            if where[0] == asset_id and where[1] in self._per_trip:
                self._put(asset_id, where[1], where[2], type(state)())

    def forget_asset(self, asset_id: str) -> None:
        """A deleted asset, in memory only: the gateway that judges resolves its alerts and
        deletes its stored rule state."""
        self._recall_keys.pop(asset_id, None)
        self._estimates.pop(asset_id, None)
        for where in [where for where in self._states if where[0] == asset_id]:
            self._states.pop(where, None)
            self._unsaved.discard(where)
        self._unbind(self._assets.pop(asset_id, None))

    def remove_asset(self, asset_id: str, by: str = "") -> None:
        """A deleted asset: its open and acknowledged alerts are resolved (announced as any
        resolution is: subscribers hear alert.resolved) and its rule state is forgotten, in
        memory and stored, in one transaction. The alerts stay, resolved, for the record."""
        asset = self._assets.get(asset_id)
        events: list[EngineEvent] = []
        with self._store.db.transaction():
            if asset is not None:
                now = self._clock()
                closing = [Transition(Action.RESOLVE, alert.kind, key=alert.key, at=now,
                                      summary="asset deleted",
                                      details={"resolved_by": by} if by else {})
                           for alert in self._store.live_of(asset_id)]
                events = self._apply(asset, closing)
            for rule, key in self._store.delete_rule_states(asset_id):
                self._states.pop((asset_id, rule, key), None)
            # State changed since the last save is in memory only.
            for where in [where for where in self._unsaved if where[0] == asset_id]:
                self._unsaved.discard(where)
                self._states.pop(where, None)
        self._recall_keys.pop(asset_id, None)
        self._unbind(self._assets.pop(asset_id, None))
        self._announce(events)

    def adopt(self, asset_ids: Collection[str]) -> None:
        """Assets whose partition this gateway has just taken over: their rule state read
        again from the store, as the gateway that judged them before left it (what it
        judged but had not saved was not acknowledged either, and comes again)."""
        adopted = set(asset_ids)
        if not adopted:
            return
        for where in [where for where in self._states if where[0] in adopted]:
            del self._states[where]
        self._unsaved.difference_update(
            [where for where in self._unsaved if where[0] in adopted])
        types = self._state_types
        for (asset_id, rule, key), data in self._store.load_rule_states_of(adopted).items():
            if rule in types:  # a rule since removed leaves its rows behind
                self._states[(asset_id, rule, key)] = decode(types[rule], data)
        for asset_id in adopted:
            self._estimates.pop(asset_id, None)
            self._recall_keys.pop(asset_id, None)
        newest = max((s.newest_ts for where, s in self._states.items()
                      if where[0] in adopted and isinstance(s, SeenState)
                      and s.newest_ts is not None), default=None)
        if newest is not None and (self.watermark is None or newest > self.watermark):
            self.watermark = newest

    def drop_unsaved(self, asset_ids: Collection[str]) -> int:
        """Forget the unsaved rule state of assets whose partition another gateway took
        over: it came of readings this one may no longer acknowledge, which the new holder
        judges again. How many states were dropped."""
        dropped = [where for where in self._unsaved if where[0] in asset_ids]
        self._unsaved.difference_update(dropped)
        return len(dropped)

    def judges(self, asset_id: str) -> bool:
        """Whether this gateway judges the asset (`owns`): what it writes snapshots of."""
        asset = self._assets.get(asset_id)
        return asset is not None and self.owns(asset)

    def assets_where(self, keep: Callable[[Asset], bool]) -> list[Asset]:
        return [asset for asset in self._assets.values() if keep(asset)]

    def _unbind(self, asset: Asset | None) -> None:
        if asset is not None and self._keeps_bindings:
            self.bindings.unbind(asset)

    def upsert_recall(self, item: Recall) -> None:
        self.upsert_recalls([item])

    def upsert_recalls(self, items: Sequence[Recall]) -> None:
        """New or changed recalls; every asset judged against the active ones, once."""
        self.keep_recalls(items)
        self.judge_recalls(self.asset_ids())

    def keep_recalls(self, items: Sequence[Recall]) -> None:
        """New or changed recalls, judged from each asset's next reading on; an asset that
        does not report is judged by `judge_recalls`."""
        for item in items:
            self._recalls[item.id] = item

    def asset_ids(self) -> list[str]:
        return list(self._assets)

    def judge_recalls(self, asset_ids: Iterable[str]) -> None:
        """These assets (those of them still registered) judged against the active recalls,
        in one transaction."""
        assets = [asset for asset in map(self._assets.get, asset_ids) if asset is not None]
        self._judge_registry(assets, self.rules_now())

    def remove_recall(self, recall_id: str) -> None:
        """Its open alerts stay open until the asset arrives or someone resolves them."""
        self._recalls.pop(recall_id, None)

    def recalls(self) -> list[Recall]:
        return list(self._recalls.values())

    def upsert_profile(self, profile: Profile) -> None:
        self.profiles[profile.name] = profile

    def remove_profile(self, name: str) -> None:
        self.profiles.pop(name, None)

    def upsert_geofence(self, fence: Geofence) -> None:
        self.zones[fence.id] = Zone.of(fence)

    def remove_geofence(self, fence_id: str) -> None:
        self.zones.pop(fence_id, None)

    def _active_recalls(self) -> list[Recall]:
        return [r for r in self._recalls.values() if r.active]

    def _judge_registry(self, assets: Iterable[Asset], at: datetime) -> None:
        """The rules' `on_registry`, for each of these assets, in one transaction."""
        hooks = self._on_registry
        if not hooks:
            return

        def judge(asset: Asset) -> list[EngineEvent]:
            self._judging(self.seen(asset.id))
            transitions: list[Transition] = []
            for on_registry, context in hooks:
                transitions += on_registry(context, asset, at)
            return self._settle(asset, transitions)

        assets = list(assets)
        if self._recalls:
            # What the recall rule asks of each asset, read for all of them at once.
            unknown = [asset.id for asset in assets if asset.id not in self._recall_keys]
            self._recall_keys.update(self._store.raised_keys_of(unknown, AlertKind.RECALL))
        with self._undoable():
            # "recall", the stage's name in boomerang_rules_errors from when only the recall
            # rule judged registry changes (as only it does still).
            # Owned is asked inside the transaction, after its fence: a partition lost
            # meanwhile is no longer this gateway's to judge.
            owns = self.owns
            events = self._judge_each("recall", [a for a in assets if owns(a)], judge)
            self._keep_state_with(events)
        self._announce(events)

    def _judge_each(self, stage: str, assets: Iterable[Asset],
                    judge: Callable[[Asset], list[EngineEvent]]) -> list[EngineEvent]:
        """`judge` for each asset, each guarded (see `_guarded`); the assets it raised on
        are counted and logged, and judged again next time."""
        events: list[EngineEvent] = []
        failed: list[tuple[str, Exception]] = []
        for asset in assets:
            try:
                events += self._guarded(asset, partial(judge, asset))
            except STORE_FAILURES:
                raise
            except Exception as exc:
                failed.append((asset.id, exc))
        if failed:
            _metrics.RULE_ERRORS.labels(stage).inc(len(failed))
            asset_id, first = failed[0]
            log.error("the rules failed on %d asset(s) (%s), the first %s: %r; their state is "
                      "as before", len(failed), stage, asset_id, first, exc_info=first)
        return events

    # Readings ---------------------------------------------------------------------------

    def judge_readings(self, readings: Sequence[Reading]) -> list[tuple[Reading, Exception]]:
        """Judge the readings in one transaction; returns those a rule raised on, each with
        its error, and nothing of theirs kept (see the module's docstring)."""
        newest = self.newest_judged
        for reading in readings:
            if newest is None or reading.ts > newest:
                newest = reading.ts
        self.newest_judged = newest
        with _metrics.JUDGE_SECONDS.time():
            failed = self._judge_in_batches(readings)
        _metrics.READINGS_JUDGED.inc(len(readings) - len(failed))
        if failed:
            _metrics.RULE_ERRORS.labels("reading").inc(len(failed))
        return failed

    def _judge_in_batches(self, readings: Sequence[Reading]
                          ) -> list[tuple[Reading, Exception]]:
        try:
            return self._judge_batch(readings)
        except STORE_FAILURES:
            raise
        except Exception as exc:
            # Raised outside any one reading's judgement (saving the batch's state, say),
            # and already undone: each reading again in a batch of its own, so that the one
            # it comes from fails alone.
            if len(readings) == 1:
                return [(readings[0], exc)]
            log.warning("judging a batch of %d readings failed (%r); judging them one at a "
                        "time", len(readings), exc)
            return [failure for reading in readings
                    for failure in self._judge_in_batches([reading])]

    def _judge_batch(self, readings: Sequence[Reading]) -> list[tuple[Reading, Exception]]:
        events: list[EngineEvent] = []
        failed: list[tuple[Reading, Exception]] = []
        newest = self.watermark
        with self._undoable():
            undo, undo_assets = self._undo or [], self._undo_assets
            asset_of = self.bindings.asset_id
            for reading in sorted(readings, key=lambda r: r.ts):
                asset_id = asset_of(reading.tag_id)
                asset = self._assets.get(asset_id) if asset_id is not None else None
                if asset is not None:
                    # _guarded, written out: this runs for every reading.
                    mark = len(undo), len(undo_assets)
                    try:
                        events += self._judge(asset, reading)
                    except STORE_FAILURES:
                        raise
                    except Exception as exc:
                        self._undo_to(mark)
                        self._recall_keys.pop(asset.id, None)
                        failed.append((reading, exc))
                        continue
                    if self._savepoint is not None:
                        self._release()
                if newest is None or reading.ts > newest:
                    newest = reading.ts
            self._keep_state_with(events)
        self.watermark = newest
        self._announce(events)
        return failed

    def _judge(self, asset: Asset, reading: Reading) -> list[EngineEvent]:
        seen = self.seen(asset.id)
        newer = seen.newest_ts is None or reading.ts > seen.newest_ts
        position = reading.position
        location: Location | None = None
        newest_located = False
        lat, lon, located_at = seen.lat, seen.lon, seen.located_at
        if position is not None:
            location = Location(position[0], position[1], reading.ts)
            if located_at is None or reading.ts >= located_at:
                (lat, lon), located_at = position, reading.ts
                newest_located = True
        seen = SeenState(reading.ts if newer else seen.newest_ts, lat, lon, located_at)
        self._put(asset.id, SEEN, "", seen)
        # _judging, written out: this runs for every reading.
        self._seen_now = seen
        self._newer = newer
        self._location_now = location if newest_located else None
        self._location_known = newest_located
        self._arrival = None
        self._sightings.clear()
        self._estimate_now = None

        transitions: list[Transition] = []
        for on_reading, context in self._on_reading:
            transitions += on_reading(context, asset, reading, location)
        return self._settle(asset, transitions)

    def _judging(self, seen: SeenState) -> None:
        """What the rules' contexts tell of the asset about to be judged, on the clock or a
        registry change (`_judge` sets the same for a reading)."""
        self._seen_now = seen
        self._newer = True
        self._location_now = None
        self._location_known = False  # made from `seen` if a rule asks
        self._arrival = None
        self._sightings.clear()
        self._estimate_now = None

    def _settle(self, asset: Asset, transitions: list[Transition]) -> list[EngineEvent]:
        """Records one asset's judgement: its transitions, then the arrival a rule reported."""
        events = self._apply(asset, transitions)
        if self._estimate_now is not None:
            eta, announce = self._estimate_now
            self._estimate_now = None
            self._estimates[asset.id] = eta
            if announce:
                events += self._eta_changed(asset, eta)
        if self._sightings:
            for sighting, location in self._sightings:
                events += self._move_on(asset, sighting, location)
            self._sightings.clear()
        arrived = self._arrival
        if arrived is not None:
            self._arrival = None
            events += self._record_arrival(asset, arrived)
        return events

    def estimate(self, asset_id: str) -> Eta | None:
        """The asset's latest estimate of arrival, while its trip is on its way."""
        return self._estimates.get(asset_id)

    def _eta_changed(self, asset: Asset, eta: Eta) -> list[EngineEvent]:
        """The estimate stored on the asset's open trip and announced as
        `trip.eta_changed`."""
        if self.trips is None or asset.trip_id is None:
            return []
        self._writing()
        trip, previous = self.trips.estimated(asset, eta)
        data = {"trip": {**trip_summary_data(trip, asset.tag_id), "eta": eta.data(),
                         "previous_eta": previous.data() if previous else None}}
        self._outbox.enqueue(Event("trip.eta_changed", self._clock(), data,
                                   asset_kind=str(asset.kind), flow=str(trip.flow)),
                             self._subscriptions_now())
        return [TripChanged("trip.eta_changed", asset.id, data, trip)]

    def _remember(self, asset: Asset) -> None:
        """Before a judgement changes the asset in memory: how to put it back."""
        if self._undo is not None:
            self._undo_assets.append((asset, tuple(getattr(asset, f) for f in _UNDONE_FIELDS)))

    def _move_on(self, asset: Asset, sighting: Sighting, location: Location,
                 recommendation: Recommendation | None = None) -> list[EngineEvent]:
        """Telemetry's move of the asset's open trip, if its machine makes one."""
        if self.trips is None or asset.trip_id is None or asset.trip_status is None:
            return []
        machine = machine_of(asset.flow)
        to = machine.after(TripStatus(asset.trip_status), sighting)
        if to is None:
            return []
        return self.move_trip(asset, to, location.ts, location=location,
                              reason=str(sighting), recommendation=recommendation)

    def move_trip(self, asset: Asset, to: TripStatus, at: datetime, *,
                  location: Location | None = None, reason: str = "",
                  recommendation: Recommendation | None = None) -> list[EngineEvent]:
        """The asset's open trip moves to `to` (the caller checked the machine allows it):
        stored through the ledger, in memory, and announced as `trip.status_changed`. In the
        caller's transaction; the events are announced by the caller (`announce`)."""
        assert self.trips is not None and asset.trip_id is not None
        self._writing()
        self._remember(asset)
        previous = TripStatus(asset.trip_status) if asset.trip_status else None
        change = StatusChange(asset.trip_id, to, previous, at, location, reason)
        trip = self.trips.moved(asset, change, recommendation)
        if asset.id in self._estimates:
            # The latest estimate, fresher than the one last announced (and the only one
            # before the trip came nearer its destination): `trip.status_changed` tells it.
            trip.eta = self._estimates[asset.id]
        asset.trip_status = str(to)
        machine = machine_of(asset.flow)
        asset.state = machine.asset_state(to)
        if to not in machine.on_the_way:
            self._estimates.pop(asset.id, None)
        if to in machine.final:
            asset.due_at = asset.allowed_area = None
        return self.opened_trip(asset, trip, change)

    def opened_trip(self, asset: Asset, trip: Trip, change: StatusChange
                    ) -> list[EngineEvent]:
        """`trip.status_changed` for a change of `trip` (its opening, `previous_status`
        None, too), into the outbox in the caller's transaction; announce the events after
        it commits (`announce`)."""
        return self.opened_trips([(asset, trip, change)])

    def opened_trips(self, changed: Sequence[tuple[Asset, Trip, StatusChange]]
                     ) -> list[EngineEvent]:
        """`opened_trip` for many (an import's), the subscriptions read once."""
        subscribers = self._subscriptions_now()
        events: list[EngineEvent] = []
        for asset, trip, change in changed:
            data = {"trip": trip_event_data(trip, change, asset.tag_id)}
            self._outbox.enqueue(Event("trip.status_changed", self._clock(), data,
                                       asset_kind=str(asset.kind), flow=str(trip.flow)),
                                 subscribers)
            events.append(TripChanged("trip.status_changed", asset.id, data, trip))
        return events

    def _reroute_recalled(self, asset: Asset) -> list[EngineEvent]:
        """A recall hit an asset on its way somewhere that cannot quarantine: routed again,
        with service quarantine, from its last known position."""
        if self.trips is None or asset.trip_id is None or asset.trip_status is None:
            return []
        if TripStatus(asset.trip_status) not in machine_of(asset.flow).on_the_way:
            return []
        if can_quarantine(self.zones.get(asset.destination or "")):
            return []
        now = self.rules_now()
        rerouted = self.trips.reroute(asset, self.seen(asset.id).location, now, self.zones)
        if rerouted is None:
            return []
        trip, previous_destination = rerouted
        self._remember(asset)
        asset.destination = trip.destination
        change = StatusChange(trip.id, trip.status, trip.status, now,
                              self.seen(asset.id).location, "recall")
        data = {"trip": {**trip_event_data(trip, change, asset.tag_id),
                         "previous_destination": previous_destination,
                         "routing": trip.routing}}
        self._outbox.enqueue(Event("trip.rerouted", self._clock(), data,
                                   asset_kind=str(asset.kind), flow=str(asset.flow)),
                             self._subscriptions_now())
        return [TripChanged("trip.rerouted", asset.id, data, trip)]

    def _record_arrival(self, asset: Asset, arrived: Arrival) -> list[EngineEvent]:
        """The asset's new state (in the asset registry too: `asset_state_changed`), what
        each rule resolves at arrival (`on_arrival`), and `asset.arrived`, which sums up the
        trip with all of its alerts."""
        self._writing()
        self._remember(asset)
        asset.state = arrived.state
        self.asset_state_changed(asset.id, arrived.state)
        self._estimates.pop(asset.id, None)
        self._transit_now = None
        closing: list[Transition] = []
        for on_arrival, context in self._on_arrival:
            closing += on_arrival(context, asset, arrived)
        events = self._apply(asset, closing)
        transit, self._transit_now = self._transit_now, None
        if transit is not None and self.trips is not None and asset.trip_id is not None:
            self.trips.travelled(asset, transit)
        # The trip's alerts (those of an asset without trips: all of its own).
        trip_alerts = self._store.list(
            AlertFilter(asset_id=asset.id, trip_id=asset.trip_id), limit=1000)
        rule = arrived.recommend(asset, trip_alerts, self.policy)
        data = arrived.report(asset, trip_alerts, rule)
        self._outbox.enqueue(Event("asset.arrived", self._clock(), data,
                                   asset_kind=str(asset.kind), flow=str(asset.flow)),
                             self._subscriptions_now())
        events.append(ArrivalEvent(asset.id, data))
        events += self._move_on(asset, Sighting.ARRIVED, arrived.location,
                                Recommendation(rule.disposition, rule.name, arrived.at))
        if transit is not None:
            self.lanes.learn(transit)
        return events

    # The clock --------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    def tick(self, now: datetime | None = None, *,
             only: Callable[[Asset], bool] | None = None) -> None:
        """The rules' `on_clock` (overdue, silent), for every asset this gateway judges (of
        them, those `only` keeps), whether it reports or not."""
        with _metrics.TICK_SECONDS.time():
            self._tick(now or self._clock(), only)

    def _tick(self, now: datetime, only: Callable[[Asset], bool] | None = None) -> None:
        hooks = self._on_clock

        def judge(asset: Asset) -> list[EngineEvent]:
            self._judging(self.seen(asset.id))
            transitions: list[Transition] = []
            for on_clock, context in hooks:
                transitions += on_clock(context, asset, now)
            return self._settle(asset, transitions)

        with self._undoable():
            owns = self.owns
            events = self._judge_each("tick", [
                a for a in self._assets.values() if owns(a) and (only is None or only(a))],
                judge)
            self._write_unsaved()
        self._announce(events)

    # Recording --------------------------------------------------------------------------

    def _apply(self, asset: Asset, transitions: list[Transition]) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        if transitions:
            self._writing()
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
                    trip_id=asset.trip_id,
                )
                if self._store.insert_live(alert):
                    events.append(self._record(AlertEvent("alert.opened", alert), saved=True))
                    if alert.kind is AlertKind.RECALL:
                        events += self._reroute_recalled(asset)
                    continue
                # Opened meanwhile by another writer: that alert is the one, brought up to
                # date below like any alert found open.
                live = self._store.live(asset.id, transition.kind, transition.key)
            if live is None:
                continue  # nothing open to change (resolved by hand, for example)
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
            elif transition.action is Action.UPDATE:
                updated = replace(
                    live,
                    severity=transition.severity,
                    summary=transition.summary or live.summary,
                    value=transition.value if transition.value is not None else live.value,
                    details={**live.details, **transition.details},
                    updated_at=transition.at,
                    location=transition.location or live.location,
                )
                events.append(self._record(AlertEvent("alert.updated", updated)))
            else:
                # OPEN on a live key, or REFRESH: the same alert, figures brought up to date.
                self._store.save(
                    replace(
                        live,
                        value=transition.value if transition.value is not None else live.value,
                        details={**live.details, **transition.details},
                        updated_at=transition.at,
                        location=transition.location or live.location,
                    )
                )
        return events

    def _record(self, event: AlertEvent, *, saved: bool = False) -> AlertEvent:
        if not saved:
            self._store.save(event.alert)
        if event.alert.kind is AlertKind.RECALL:
            self._recall_keys.pop(event.alert.asset_id, None)
        asset = self._assets.get(event.alert.asset_id)
        self._outbox.enqueue(
            Event(event.type, self._clock(), {"alert": alert_data(event.alert)},
                  alert_kind=str(event.alert.kind), severity=str(event.alert.severity),
                  asset_kind=str(asset.kind) if asset else None,
                  flow=str(asset.flow) if asset else None),
            self._subscriptions_now(),
        )
        return event

    def announce(self, events: list[EngineEvent]) -> None:
        """After the transaction that recorded `events` (of `move_trip`) has committed."""
        self._announce(events)

    def _announce(self, events: list[EngineEvent]) -> None:
        """After the transaction that recorded `events` has committed."""
        if events:
            self.outbox_written()
        for event in events:
            if isinstance(event, AlertEvent):
                _metrics.TRANSITIONS.labels(event.type, str(event.alert.kind)).inc()
                log.info("%s %s %s: %s", event.type, event.alert.kind, event.alert.asset_id,
                         event.alert.details.get("resolution", event.alert.summary))
            elif isinstance(event, ArrivalEvent):
                log.info("asset.arrived %s: %s, disposition %s", event.asset_id,
                         event.data["state"], event.data["disposition"])
            elif event.type == "trip.eta_changed":
                trip = event.data["trip"]
                log.debug("%s %s: %s", event.type, trip["id"], trip["eta"]["p50"])
            else:
                trip = event.data["trip"]
                log.info("%s %s: %s -> %s (%s)", event.type, trip["id"],
                         trip["previous_status"], trip["status"], trip["destination"])
            for listener in self.listeners:
                try:
                    listener(event)
                except Exception:
                    # A listener (the snapshot writer, the telemetry point of the alert)
                    # is a side effect: the transition is committed and announced anyway.
                    log.exception("a listener of %s failed", event.type)

    # By hand ----------------------------------------------------------------------------

    def acknowledge(self, alert_id: str, by: str, note: str = "") -> Alert | None:
        return self._by_hand(alert_id, AlertState.ACKNOWLEDGED, by, note)

    def resolve(self, alert_id: str, by: str, note: str = "") -> Alert | None:
        return self._by_hand(alert_id, AlertState.RESOLVED, by, note)

    def _by_hand(self, alert_id: str, to: AlertState, by: str, note: str) -> Alert | None:
        with self._store.db.transaction():
            # Locked as read (PostgreSQL): a rule updating it through another gateway's
            # engine waits, and either change is made on top of the other.
            alert = self._store.get(alert_id, for_update=True)
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
            event = self._record(AlertEvent(f"alert.{to}", changed))
        self._announce([event])
        return changed

