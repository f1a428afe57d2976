"""Trips (docs/lifecycle.md): opened, changed, inspected and listed through the API, routed
to the cheapest hub able to take them, and moved through their status machine; the rule
engine moves them on telemetry through `StoredTrips`, the ledger it is given."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from alerts import RuleEngine
from alerts.dispositions import DispositionRule
from alerts.domain import Asset, Flow, Location
from alerts.engine import EngineEvent
from alerts.eta import Eta, Transit
from alerts.geo import Zone
from alerts.routing import Costs, Route, RouteRequest, route
from alerts.trips import (
    Disposition,
    IllegalMove,
    Inspection,
    Origin,
    Recommendation,
    StatusChange,
    Trip,
    TripStatus,
    after_inspection,
    inspected_from,
    machine_of,
)
from gateway.imports import ImportRow, Outcome, Problem, RowOutcome, chunks
from gateway.registry import AssetRegistry, SortKey
from gateway.registry.trips import TripOrder, TripStore, mirror
from gateway.services.assets import RegistryWriter
from gateway.services.errors import Conflict, Invalid, NotFound
from ingest.statedb import StateDb, is_unique_violation

Clock = Callable[[], datetime]

# The fields of a trip the API may set; `status` moves it.
TRIP_FIELDS = ("flow", "customer", "reason", "fault", "reference", "origin", "destination",
               "allowed_area", "due_at", "carrier", "packaging")
# Those of them the asset row carries for its open trip (v1's asset fields).
MIRRORED = ("flow", "customer", "due_at", "destination", "allowed_area")


def new_trip_id() -> str:
    return f"trp_{uuid.uuid4().hex[:16]}"


class Router:
    """Routes a trip from the asset's last known position, else the trip's origin."""

    def __init__(self, store: TripStore, engine: RuleEngine, costs: Costs) -> None:
        self._store, self._engine, self.costs = store, engine, costs

    def route(self, asset: Asset, trip: Trip, at: datetime, zones: Mapping[str, Zone],
              service: Disposition | None = None, position: Location | None = None,
              routed: dict[str, dict[str, int]] | None = None) -> Route | None:
        """None when there is no position to route from. `routed`: the trips routed per
        day and hub, kept by the caller across many routings (an import's), counting the
        one chosen here; else read from the store."""
        seen = position or self._engine.seen(asset.id).location
        if seen is not None:
            lat, lon, source = seen.lat, seen.lon, "last_position"
        elif trip.origin is not None:
            lat, lon, source = trip.origin.lat, trip.origin.lon, "origin"
        else:
            return None
        if service is None:
            view = replace(asset, flow=trip.flow)
            service = self._engine.policy.dispositions.expected(view, at)
        day = at.date().isoformat()
        request = RouteRequest(lat=lat, lon=lon, source=source, flow=str(trip.flow),
                               category=asset.category, service=service, day=day)
        if routed is None:
            return route(request, zones.values(), self._store.routed_counts(day), self.costs)
        counts = routed.get(day)
        if counts is None:
            counts = routed[day] = self._store.routed_counts(day)
        found = route(request, zones.values(), counts, self.costs)
        if found.chosen is not None:
            counts[found.chosen.geofence] = counts.get(found.chosen.geofence, 0) + 1
        return found


class StoredTrips:
    """The rule engine's TripLedger: its moves written to the trip store, and the asset row's
    copy of the trip kept with them."""

    def __init__(self, store: TripStore, router: Router) -> None:
        self._store, self._router = store, router

    def moved(self, asset: Asset, change: StatusChange,
              recommendation: Recommendation | None) -> Trip:
        trip = self._store.get(change.trip_id, for_update=True)
        if trip is None:  # deleted meanwhile: the move is told, not stored
            return Trip(id=change.trip_id, asset_id=asset.id, flow=asset.flow,
                        status=change.status)
        machine = trip.machine
        trip.status = change.status
        trip.updated_at = change.at
        if recommendation is not None:
            trip.recommendation = recommendation
        if change.status in machine.final:
            trip.closed_at = change.at
        self._store.moved(trip, change)
        if trip.closed_at is not None:  # its turnaround, for the dashboards
            trip.history = self._store.history(trip.id)
        mirror(self._store.db, asset.id, _mirrored(trip),
               str(machine.asset_state(change.status)))
        return trip

    def reroute(self, asset: Asset, position: Location | None, now: datetime,
                zones: Mapping[str, Zone]) -> tuple[Trip, str | None] | None:
        trip = self._store.get(asset.trip_id or "", for_update=True)
        if trip is None:
            return None
        found = self._router.route(asset, trip, now, zones, Disposition.QUARANTINE, position)
        if found is None or found.chosen is None:
            return None
        previous = trip.destination
        trip.destination = found.chosen.geofence
        trip.routing = found.data()
        trip.routed_on = found.request.day
        trip.updated_at = now
        self._store.save(trip)
        mirror(self._store.db, asset.id, trip, str(asset.state))
        return trip, previous

    def estimated(self, asset: Asset, eta: Eta) -> tuple[Trip, Eta | None]:
        trip = self._store.get(asset.trip_id or "")
        if trip is None:  # deleted meanwhile: the estimate is told, not stored
            return Trip(id=asset.trip_id or "", asset_id=asset.id, flow=asset.flow,
                        status=TripStatus(asset.trip_status or "in_transit"), eta=eta), None
        previous, trip.eta = trip.eta, eta
        self._store.estimated(trip.id, eta)
        return trip, previous

    def travelled(self, asset: Asset, transit: Transit) -> None:
        self._store.travelled(asset.trip_id or "", transit)


def _mirrored(trip: Trip) -> Trip:
    """What the asset row carries of a trip: nothing is due, nor must it stay anywhere, once
    the trip is over."""
    if trip.closed_at is None:
        return trip
    return replace(trip, due_at=None, allowed_area=None)


@dataclass(frozen=True, slots=True)
class UtilizationRow:
    asset_id: str
    trips: int
    out_s: float
    utilization: float
    turnaround_h_mean: float | None
    turnaround_h_p90: float | None


class TripService:
    def __init__(self, db: StateDb, store: TripStore, registry: AssetRegistry,
                 writer: RegistryWriter, router: Router, rules_now: Clock) -> None:
        self._db, self._store, self._registry, self._writer = db, store, registry, writer
        self._engine = writer.engine
        self._router = router
        self._now = rules_now

    # Reading ----------------------------------------------------------------------------

    async def get(self, trip_id: str) -> Trip:
        trip = await self._db.run(self._store.get, trip_id, history=True)
        if trip is None:
            raise NotFound("trip", trip_id)
        return self._estimated(trip)

    async def page(self, order: TripOrder, *, limit: int, after: SortKey | None,
                   open_: bool | None = None, **equal: str | None
                   ) -> tuple[list[Trip], SortKey | None]:
        trips, next_key = await self._db.run(self._store.page, order, limit=limit,
                                             after=after, open_=open_, **equal)
        return [self._estimated(trip) for trip in trips], next_key

    def _estimated(self, trip: Trip) -> Trip:
        """The trip with the engine's latest estimate of arrival, fresher than the one last
        announced and stored (where this gateway judges the asset)."""
        if trip.open and trip.status in trip.machine.on_the_way:
            eta = self._engine.estimate(trip.asset_id)
            if eta is not None:
                trip.eta = eta
        return trip

    async def of_asset(self, asset_id: str, order: TripOrder, *, limit: int,
                       after: SortKey | None) -> tuple[list[Trip], SortKey | None]:
        if await self._db.run(self._registry.get_asset, asset_id) is None:
            raise NotFound("asset", asset_id)
        return await self.page(order, limit=limit, after=after, asset_id=asset_id)

    # Opening ----------------------------------------------------------------------------

    async def create(self, trip_id: str, fields: Mapping[str, Any]) -> Trip:
        """A trip from the API's fields (`flow` left out: the asset's)."""
        trip, events = await self._db.run(self._create_one, trip_id, fields)
        self._engine.announce(events)
        return trip

    def _create_one(self, trip_id: str, fields: Mapping[str, Any]
                    ) -> tuple[Trip, list[EngineEvent]]:
        asset = self._registry.get_asset(fields["asset_id"])
        trip = trip_from_fields(trip_id, fields, asset)
        try:
            with self._db.transaction():
                problems, asset = self._check_new(trip, asset)
                if problems:
                    raise Invalid("body", problems)
                assert asset is not None
                events = self._open(asset, trip)
                self._writer.changed()
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            # Another gateway opened it meanwhile; asked once this transaction is over (on
            # PostgreSQL a failed statement leaves it unusable).
            raise Conflict(self._clash(trip)) from None
        self._writer.upsert_assets([asset])
        return trip, events

    def _clash(self, trip: Trip) -> str:
        if self._store.get(trip.id) is not None:
            return f"trip {trip.id} exists"
        return f"asset {trip.asset_id} has an open trip: close it first"

    def _check_new(self, trip: Trip, asset: Asset | None,
                   routed: dict[str, dict[str, int]] | None = None
                   ) -> tuple[list[Problem], Asset | None]:
        """What is wrong with a new trip of `asset`, and its asset; routes it when it has no
        destination (`routed`: see Router.route)."""
        if asset is None:
            return [Problem("asset_id", f"no asset with id {trip.asset_id!r}")], None
        if asset.trip_id is not None and asset.trip_status is not None:
            open_trip = self._store.open_trip_of(asset.id)
            if open_trip is not None:
                raise Conflict(f"asset {asset.id} has an open trip, {open_trip.id} "
                               f"({open_trip.status}): close it first")
        if self._store.get(trip.id) is not None:
            raise Conflict(f"trip {trip.id} exists")
        zones = self._engine.zones
        problems = [Problem(name, f"unknown geofence {getattr(trip, name)!r}")
                    for name in ("destination", "allowed_area")
                    if getattr(trip, name) and getattr(trip, name) not in zones]
        if problems:
            return problems, asset
        now = self._now()
        trip.created_at = trip.created_at or now
        trip.updated_at = now
        trip.status = machine_of(trip.flow).initial
        if trip.destination is None:
            found = self._router.route(asset, trip, now, zones, routed=routed)
            if found is None:
                return [Problem("destination", "none given, and the asset has no known "
                                "position nor the trip an origin to route from")], asset
            if found.chosen is None:
                return [Problem("destination", f"none given, and {found.reason}")], asset
            trip.destination = found.chosen.geofence
            trip.routing = found.data()
            trip.routed_on = found.request.day
        return [], asset

    def _open(self, asset: Asset, trip: Trip) -> list[EngineEvent]:
        """Store a checked trip, with its opening change, and make it the asset's."""
        change = StatusChange(trip.id, trip.status, None, trip.created_at or self._now(),
                              None, "opened")
        self._store.create([trip], [change])
        state = trip.machine.asset_state(trip.status)
        mirror(self._db, asset.id, trip, str(state))
        asset.trip_id, asset.trip_status, asset.state = trip.id, str(trip.status), state
        for name in MIRRORED:
            setattr(asset, name, getattr(trip, name))
        asset.origin_lat = trip.origin.lat if trip.origin else None
        asset.origin_lon = trip.origin.lon if trip.origin else None
        trip.history = [change]
        return self._engine.opened_trip(asset, trip, change)

    # Changing ---------------------------------------------------------------------------

    async def update(self, trip_id: str, changes: Mapping[str, Any]) -> Trip:
        trip, events = await self._db.run(self._update, trip_id, dict(changes))
        self._engine.announce(events)
        return trip

    def _update(self, trip_id: str, changes: dict[str, Any]) -> tuple[Trip, list[EngineEvent]]:
        status = changes.pop("status", None)
        reason = changes.pop("status_reason", None) or "by hand"
        events: list[EngineEvent] = []
        with self._db.transaction():
            trip = self._store.get(trip_id, for_update=True)
            if trip is None:
                raise NotFound("trip", trip_id)
            if "flow" in changes and machine_of(changes["flow"]) is not trip.machine:
                raise Conflict(f"trip {trip_id} is a {trip.machine.name} trip; a flow of "
                               f"another kind needs a trip of its own")
            problems = [Problem(name, f"unknown geofence {changes[name]!r}")
                        for name in ("destination", "allowed_area")
                        if changes.get(name) and changes[name] not in self._engine.zones]
            if problems:
                raise Invalid("body", problems)
            updated = replace(trip, **changes, updated_at=self._now())
            if "destination" in changes:
                updated.routing, updated.routed_on = None, None
            self._store.save(updated)
            asset = self._registry.get_asset(trip.asset_id)
            mine = asset is not None and asset.trip_id == trip.id
            if mine and changes:
                assert asset is not None
                mirror(self._db, asset.id, _mirrored(updated), str(asset.state))
                self._writer.changed()
            if status is not None:
                events = self._move(updated, TripStatus(status), reason)
            trip = updated
        if mine:
            fresh = self._registry.get_asset(trip.asset_id)
            if fresh is not None:
                self._writer.upsert_assets([fresh])
        found = self._store.get(trip.id, history=True)
        return found or trip, events

    def _move(self, trip: Trip, to: TripStatus, reason: str) -> list[EngineEvent]:
        """A move by hand, checked against the trip's machine."""
        try:
            trip.machine.check(trip.status, to)
        except IllegalMove as exc:
            raise Conflict(str(exc)) from None
        asset = self._engine.asset(trip.asset_id)
        if asset is None or asset.trip_id != trip.id:
            raise Conflict(f"trip {trip.id} is not its asset's open trip")
        events = self._engine.move_trip(asset, to, self._now(), reason=reason)
        trip.status = to
        self._writer.changed()
        return events

    async def inspect(self, trip_id: str, inspection: Inspection) -> Trip:
        trip, events = await self._db.run(self._inspect, trip_id, inspection)
        self._engine.announce(events)
        return trip

    def _inspect(self, trip_id: str, inspection: Inspection
                 ) -> tuple[Trip, list[EngineEvent]]:
        events: list[EngineEvent] = []
        with self._db.transaction():
            trip = self._store.get(trip_id, for_update=True)
            if trip is None:
                raise NotFound("trip", trip_id)
            machine = trip.machine
            ready = inspected_from(machine)
            if trip.status is not ready:
                raise Conflict(f"trip {trip_id} is {trip.status}: a {machine.name} trip is "
                               f"inspected once it is {ready}")
            trip.inspection = replace(inspection, at=self._now())
            self._store.save(trip)
            if TripStatus.INSPECTED in machine.statuses:
                events += self._move(trip, TripStatus.INSPECTED, "inspection")
            then = after_inspection(machine, inspection.disposition)
            if then is not None:
                events += self._move(trip, then, f"inspection: {inspection.disposition}")
        if events:
            asset = self._engine.asset(trip.asset_id)
            if asset is not None:
                self._writer.upsert_assets([replace(asset)])
        found = self._store.get(trip_id, history=True)
        assert found is not None
        return found, events

    # The asset API's trips ---------------------------------------------------------------

    def prepare_for_assets(self, assets: Sequence[Asset]) -> None:
        """Before assets new to the registry are saved through the asset API: each gets the
        id and status of the first trip `open_for_assets` opens for it (v1: an asset was on
        its way when registered), so that its row is written with them. Versions of one
        asset (an id twice in an import) get the same trip."""
        ids: dict[str, str] = {}
        for asset in assets:
            trip_id = ids.setdefault(asset.id, new_trip_id())
            machine = machine_of(asset.flow)
            asset.trip_id, asset.trip_status = trip_id, str(machine.initial)
            asset.state = machine.asset_state(machine.initial)

    def open_for_assets(self, assets: Sequence[Asset]) -> list[EngineEvent]:
        """The first trips of assets saved after `prepare_for_assets`, from each asset's
        own fields (its last version), in the caller's transaction."""
        now = self._now()
        opened = []
        for asset in assets:
            assert asset.trip_id is not None, "prepare_for_assets first"
            trip = trip_of_asset(asset, now, asset.trip_id)
            opened.append((asset, trip, StatusChange(trip.id, trip.status, None, now, None,
                                                     "opened")))
        self._store.create([trip for _, trip, _ in opened],
                           [change for _, _, change in opened])
        return self._engine.opened_trips(opened)

    def follow_assets(self, assets: Sequence[Asset]) -> list[EngineEvent]:
        """Assets changed through the asset API: their open trips take the changed fields.
        A flow of another kind (a return made a rental) starts the trip over in the new
        machine's first status."""
        open_trips = self._store.open_trips_of([a.id for a in assets if a.trip_id])
        now = self._now()
        events: list[EngineEvent] = []
        for asset in assets:
            trip = open_trips.get(asset.id)
            if trip is None:
                continue
            changed = {name: getattr(asset, name) for name in MIRRORED
                       if getattr(asset, name) != getattr(trip, name)}
            if not changed:
                continue
            updated = replace(trip, **changed, updated_at=now)
            machine = machine_of(updated.flow)
            if machine is trip.machine:
                self._store.save(updated)
                continue
            updated.status = machine.initial
            change = StatusChange(trip.id, updated.status, trip.status, now, None,
                                  f"flow changed to {updated.flow}")
            self._store.moved(updated, change)
            asset.trip_status, asset.state = str(updated.status), machine.asset_state(
                updated.status)
            mirror(self._db, asset.id, updated, str(asset.state))
            events += self._engine.opened_trip(asset, updated, change)
        return events

    def forget_asset(self, asset_id: str) -> None:
        """A deleted asset's trips go with it (in the caller's transaction)."""
        self._store.delete_of_asset(asset_id)

    # Imports ----------------------------------------------------------------------------

    async def import_rows(self, rows: list[ImportRow], *, route_trips: bool = True
                          ) -> list[RowOutcome]:
        """Each row a new trip, in order; a bad row (or one whose asset has an open trip) is
        rejected alone. A chunk at a time (gateway.imports says why)."""
        outcomes: list[RowOutcome] = []
        async for chunk in chunks(rows):
            done, events = await self._db.run(self._import_chunk, chunk)
            outcomes += done
            self._engine.announce(events)
        return outcomes

    def _import_chunk(self, rows: list[ImportRow]
                      ) -> tuple[list[RowOutcome], list[EngineEvent]]:
        outcomes: list[RowOutcome] = []
        events: list[EngineEvent] = []
        opened: list[Asset] = []
        routed: dict[str, dict[str, int]] = {}
        with self._db.transaction():
            assets = self._registry.get_assets(
                row.changes["asset_id"] for row in rows if row.changes.get("asset_id"))
            for row in rows:
                if row.problems:
                    outcomes.append(RowOutcome(row.row, row.id, Outcome.REJECTED,
                                               tuple(row.problems)))
                    continue
                missing = [Problem(name, "required for a new trip")
                           for name in ("asset_id",) if not row.changes.get(name)]
                if missing:
                    outcomes.append(RowOutcome(row.row, row.id, Outcome.REJECTED,
                                               tuple(missing)))
                    continue
                asset = assets.get(row.changes["asset_id"])
                trip = trip_from_fields(row.id or new_trip_id(), row.changes, asset)
                try:
                    # A savepoint: the row alone, should it fail (an id or an open trip another
                    # gateway wrote meanwhile; the checks find the others first).
                    with self._db.conn.begin_nested():
                        problems, asset = self._check_new(trip, asset, routed)
                        if not problems:
                            assert asset is not None
                            events += self._open(asset, trip)
                            opened.append(asset)
                except Conflict as exc:
                    problems = [Problem("asset_id" if "open trip" in str(exc) else "id",
                                        str(exc))]
                except Exception as exc:
                    if not is_unique_violation(exc):
                        raise
                    problems = [Problem("asset_id", self._clash(trip))]
                if problems:
                    outcomes.append(RowOutcome(row.row, row.id, Outcome.REJECTED,
                                               tuple(problems)))
                else:
                    outcomes.append(RowOutcome(row.row, trip.id, Outcome.CREATED))
            if opened:
                self._writer.changed()
        self._writer.upsert_assets([replace(asset) for asset in opened])
        return outcomes, events

    # The disposition policy -------------------------------------------------------------

    async def disposition_rules(self) -> list[DispositionRule]:
        return await self._db.run(self._store.disposition_rules)

    async def replace_disposition_rules(self, rules: Sequence[DispositionRule]) -> None:
        await self._db.run(self._replace_rules, list(rules))

    def _replace_rules(self, rules: list[DispositionRule]) -> None:
        with self._db.transaction():
            self._store.replace_disposition_rules(rules)
            self._writer.changed()
        self._engine.policy = self._engine.policy.with_disposition_rules(rules)

    def defaults(self) -> tuple[DispositionRule, ...]:
        return self._engine.policy.dispositions.defaults

    # Rentals ----------------------------------------------------------------------------

    async def utilization(self, start: datetime, end: datetime
                          ) -> tuple[list[UtilizationRow], UtilizationRow]:
        found = await self._db.run(self._store.changes_between, start, end,
                                   flow=Flow.RENTAL_RETURN)
        return utilization(found, start, end, self._now())


def trip_of_asset(asset: Asset, now: datetime, trip_id: str) -> Trip:
    """The trip the v1 asset API opens for an asset: its own fields."""
    machine = machine_of(asset.flow)
    return Trip(id=trip_id, asset_id=asset.id, flow=asset.flow, status=machine.initial,
                customer=asset.customer, destination=asset.destination,
                allowed_area=asset.allowed_area, due_at=asset.due_at,
                created_at=now, updated_at=now)


def trip_from_fields(trip_id: str, fields: Mapping[str, Any], asset: Asset | None) -> Trip:
    """A new trip from the API's (or a CSV row's) fields; flow defaults to the asset's. A
    CSV row gives the origin as origin_lat, origin_lon and origin_name."""
    values = {name: fields.get(name) for name in TRIP_FIELDS if name != "flow"}
    if fields.get("origin_lat") is not None and fields.get("origin_lon") is not None:
        values["origin"] = Origin(fields["origin_lat"], fields["origin_lon"],
                                  fields.get("origin_name"))
    flow = Flow(fields.get("flow") or (asset.flow if asset is not None
                                       else Flow.CUSTOMER_RETURN))
    return Trip(id=trip_id, asset_id=fields["asset_id"], flow=flow,
                status=machine_of(flow).initial, customer=values["customer"],
                reason=values["reason"], fault=values["fault"], reference=values["reference"],
                origin=values["origin"], destination=values["destination"],
                allowed_area=values["allowed_area"], due_at=values["due_at"],
                carrier=values["carrier"], packaging=values["packaging"])


def _quantile(values: list[float], q: float) -> float | None:
    """Nearest rank, rounded to 3 decimals as the means beside it are."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))], 3)


def utilization(found: Sequence[tuple[Trip, list[StatusChange]]], start: datetime,
                end: datetime, now: datetime) -> tuple[list[UtilizationRow], UtilizationRow]:
    """Per rental asset, and for the fleet: the share of [start, end) it was out with
    customers (checked out to returned, clipped to the window; still out: until `now`), and
    its turnaround (returned to available, of trips that became available)."""
    span = max(1.0, (end - start).total_seconds())
    out: dict[str, float] = {}
    trips: dict[str, int] = {}
    turnarounds: dict[str, list[float]] = {}
    for trip, history in found:
        if trip.machine.name != "rental":
            continue
        at = {change.status: change.at for change in history}
        left = at.get(TripStatus.CHECKED_OUT, trip.created_at)
        back = at.get(TripStatus.RETURNED)
        if left is None:
            continue
        until = back or min(now, end)
        seconds = (min(until, end) - max(left, start)).total_seconds()
        out[trip.asset_id] = out.get(trip.asset_id, 0.0) + max(0.0, seconds)
        trips[trip.asset_id] = trips.get(trip.asset_id, 0) + 1
        available = at.get(TripStatus.AVAILABLE)
        if back is not None and available is not None:
            turnarounds.setdefault(trip.asset_id, []).append(
                (available - back).total_seconds() / 3600)
    rows = []
    for asset_id in sorted(trips):
        hours = turnarounds.get(asset_id, [])
        rows.append(UtilizationRow(
            asset_id=asset_id, trips=trips[asset_id], out_s=out[asset_id],
            utilization=round(out[asset_id] / span, 4),
            turnaround_h_mean=round(sum(hours) / len(hours), 3) if hours else None,
            turnaround_h_p90=_quantile(hours, 0.9)))
    every = [h for hours in turnarounds.values() for h in hours]
    fleet = UtilizationRow(
        asset_id="*", trips=sum(trips.values()), out_s=sum(out.values()),
        utilization=round(sum(out.values()) / (span * len(trips)), 4) if trips else 0.0,
        turnaround_h_mean=round(sum(every) / len(every), 3) if every else None,
        turnaround_h_p90=_quantile(every, 0.9))
    return rows, fleet
