"""Trips, their status history and the operator's disposition rules (docs/lifecycle.md).
The trip is the record; the asset row carries its open trip's fields (`mirror`), written in
the same transaction, so that v1 readers and the ingest hot path read one row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    Row,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from alerts.dispositions import DispositionRule
from alerts.domain import Flow, Location
from alerts.eta import Eta, Lane, Transit
from alerts.trips import (
    Disposition,
    Inspection,
    Origin,
    Recommendation,
    StatusChange,
    Trip,
    TripStatus,
)
from gateway.registry._keyset import (
    SortKey,
    SortOrder,
    SortTerms,
    equal_to,
    fetch_page,
    in_chunks,
    last_when_null,
)
from gateway.registry.assets import ASSETS
from ingest.statedb import METADATA, Id, Json, SortedText, StateDb, Utc

OPEN = "closed_at IS NULL"

TRIPS = Table(
    "trips", METADATA,
    Column("id", SortedText, primary_key=True),
    Column("asset_id", SortedText, nullable=False),
    Column("flow", Text, nullable=False),
    Column("status", SortedText, nullable=False),
    Column("customer", SortedText),
    Column("reason", Text), Column("fault", Text), Column("reference", Text),
    Column("origin_lat", Float), Column("origin_lon", Float), Column("origin_name", Text),
    Column("destination", Text),
    Column("allowed_area", Text),
    Column("due_at", Utc),
    Column("carrier", Text), Column("packaging", Text),
    Column("routing", Json),
    Column("routed_on", Text),
    Column("recommended", Text), Column("recommended_rule", Text),
    Column("recommended_at", Utc),
    Column("inspection", Json),
    Column("actual", Text),
    Column("created_at", Utc, nullable=False),
    Column("updated_at", Utc, nullable=False),
    Column("closed_at", Utc),
    # The estimate of arrival last announced, and once arrived the last leg (docs/eta.md).
    Column("eta_p50", Utc), Column("eta_p90", Utc), Column("eta_at", Utc),
    Column("eta_basis", Text), Column("eta_remaining_km", Float),
    Column("late_probability", Float),
    Column("lane", Text),
    Column("transit_started_at", Utc), Column("transit_arrived_at", Utc),
    Column("transit_km", Float),
    # At most one open trip per asset, whoever writes.
    Index("one_open_trip_per_asset", "asset_id", unique=True,
          sqlite_where=text(OPEN), postgresql_where=text(OPEN)),
    Index("trips_by_asset", "asset_id", "created_at"),
    Index("trips_by_created", "created_at", "id"),
    Index("trips_by_status", "status", "id"),
    Index("trips_routed", "destination", "routed_on"),
    Index("trips_by_arrival", "transit_arrived_at"),
)
TRIP_CHANGES = Table(
    "trip_changes", METADATA,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("trip_id", SortedText, nullable=False),
    Column("status", Text, nullable=False),
    Column("previous_status", Text),
    Column("at", Utc, nullable=False),
    Column("lat", Float), Column("lon", Float), Column("located_at", Utc),
    Column("reason", Text, nullable=False),
    Index("trip_changes_by_trip", "trip_id", "id"),
    Index("trip_changes_by_time", "status", "at"),
)
DISPOSITION_RULES = Table(
    "disposition_rules", METADATA,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("body", Json, nullable=False),
)

_FILTERABLE = frozenset(("asset_id", "flow", "status", "customer", "destination", "carrier",
                         "reference"))
_BY_DUE = last_when_null(TRIPS.c.due_at)


class TripOrder(SortOrder):
    """A sort over the trips by one of TRIP_SORT_FIELDS, ties broken by id."""

    __slots__ = ()
    WHAT = "trips"
    TERMS: ClassVar[Mapping[str, SortTerms]] = {
        "id": (TRIPS.c.id,),
        "created_at": (TRIPS.c.created_at, TRIPS.c.id),
        "status": (TRIPS.c.status, TRIPS.c.id),
        "due_at": (*_BY_DUE, TRIPS.c.id),
    }


TRIP_SORT_FIELDS = TripOrder.fields()


def _values(trip: Trip) -> dict[str, Any]:
    origin = trip.origin
    recommendation = trip.recommendation
    inspection = trip.inspection
    return {
        "id": trip.id, "asset_id": trip.asset_id, "flow": str(trip.flow),
        "status": str(trip.status), "customer": trip.customer, "reason": trip.reason,
        "fault": trip.fault, "reference": trip.reference,
        "origin_lat": origin.lat if origin else None,
        "origin_lon": origin.lon if origin else None,
        "origin_name": origin.name if origin else None,
        "destination": trip.destination, "allowed_area": trip.allowed_area,
        "due_at": trip.due_at, "carrier": trip.carrier, "packaging": trip.packaging,
        "routing": trip.routing, "routed_on": trip.routed_on,
        "recommended": str(recommendation.disposition) if recommendation else None,
        "recommended_rule": recommendation.rule if recommendation else None,
        "recommended_at": recommendation.at if recommendation else None,
        "inspection": _inspection_json(inspection),
        "actual": str(inspection.disposition) if inspection else None,
        "created_at": trip.created_at, "updated_at": trip.updated_at,
        "closed_at": trip.closed_at, **_eta_values(trip.eta), **_transit_values(trip.transit),
    }


def _eta_values(eta: Eta | None) -> dict[str, Any]:
    return {"eta_p50": eta.p50 if eta else None, "eta_p90": eta.p90 if eta else None,
            "eta_at": eta.at if eta else None, "eta_basis": eta.basis if eta else None,
            "eta_remaining_km": eta.remaining_km if eta else None,
            "late_probability": eta.late_probability if eta else None}


def _transit_values(transit: Transit | None) -> dict[str, Any]:
    return {"lane": transit.lane.origin if transit else None,
            "transit_started_at": transit.started_at if transit else None,
            "transit_arrived_at": transit.arrived_at if transit else None,
            "transit_km": transit.km if transit else None}


def _eta(row: Row[Any]) -> Eta | None:
    if row.eta_p50 is None or row.eta_p90 is None or row.eta_at is None:
        return None
    return Eta(at=row.eta_at, p50=row.eta_p50, p90=row.eta_p90, basis=row.eta_basis or "",
               remaining_km=row.eta_remaining_km or 0.0,
               late_probability=row.late_probability)


def _transit(row: Row[Any]) -> Transit | None:
    if row.transit_started_at is None or row.transit_arrived_at is None \
            or row.lane is None or row.destination is None:
        return None
    return Transit(Lane(row.lane, row.destination, row.flow), row.transit_started_at,
                   row.transit_arrived_at, row.transit_km or 0.0)


def _inspection_json(inspection: Inspection | None) -> dict[str, Any] | None:
    if inspection is None:
        return None
    data = asdict(inspection)
    data["disposition"] = str(inspection.disposition)
    data["at"] = inspection.at.astimezone(UTC).isoformat()
    return data


def _trip(row: Row[Any]) -> Trip:
    origin = None
    if row.origin_lat is not None and row.origin_lon is not None:
        origin = Origin(row.origin_lat, row.origin_lon, row.origin_name)
    recommendation = None
    if row.recommended is not None:
        recommendation = Recommendation(Disposition(row.recommended), row.recommended_rule or "",
                                        row.recommended_at)
    inspection = None
    if row.inspection:
        data = dict(row.inspection)
        inspection = Inspection(disposition=Disposition(data["disposition"]),
                                at=datetime.fromisoformat(data["at"]), grade=data.get("grade"),
                                notes=data.get("notes"), inspector=data.get("inspector"))
    return Trip(
        id=row.id, asset_id=row.asset_id, flow=Flow(row.flow), status=TripStatus(row.status),
        customer=row.customer, reason=row.reason, fault=row.fault, reference=row.reference,
        origin=origin, destination=row.destination, allowed_area=row.allowed_area,
        due_at=row.due_at, carrier=row.carrier, packaging=row.packaging, routing=row.routing,
        recommendation=recommendation, inspection=inspection, routed_on=row.routed_on,
        created_at=row.created_at, updated_at=row.updated_at, closed_at=row.closed_at,
        eta=_eta(row), transit=_transit(row))


def _change(row: Row[Any]) -> StatusChange:
    location = None
    if row.lat is not None and row.lon is not None and row.located_at is not None:
        location = Location(row.lat, row.lon, row.located_at)
    return StatusChange(
        trip_id=row.trip_id, status=TripStatus(row.status),
        previous_status=TripStatus(row.previous_status) if row.previous_status else None,
        at=row.at, location=location, reason=row.reason)


def _change_values(change: StatusChange) -> dict[str, Any]:
    location = change.location
    return {
        "trip_id": change.trip_id, "status": str(change.status),
        "previous_status": str(change.previous_status) if change.previous_status else None,
        "at": change.at, "lat": location.lat if location else None,
        "lon": location.lon if location else None,
        "located_at": location.ts if location else None, "reason": change.reason}


class TripStore:
    def __init__(self, db: StateDb) -> None:
        self.db = db

    def create(self, trips: Sequence[Trip], changes: Sequence[StatusChange]) -> None:
        """New trips with their opening changes, in the caller's transaction. Raises
        IntegrityError for an existing id or a second open trip of an asset."""
        if trips:
            self.db.execute(insert(TRIPS), [_values(trip) for trip in trips])
        self.add_changes(changes)

    def add_changes(self, changes: Sequence[StatusChange]) -> None:
        if changes:
            self.db.execute(insert(TRIP_CHANGES), [_change_values(c) for c in changes])

    def save(self, trip: Trip) -> None:
        """Every field of a stored trip but its id, asset and creation."""
        values = _values(trip)
        for kept in ("id", "asset_id", "created_at"):
            values.pop(kept)
        self.db.execute(update(TRIPS).where(TRIPS.c.id == trip.id).values(values))

    def moved(self, trip: Trip, change: StatusChange) -> None:
        """A trip's status change (already on `trip`): its row and its history."""
        self.save(trip)
        self.add_changes([change])

    def get(self, trip_id: str, *, history: bool = False, for_update: bool = False
            ) -> Trip | None:
        statement = select(TRIPS).where(TRIPS.c.id == trip_id)
        if for_update and self.db.is_postgresql:
            statement = statement.with_for_update()
        row = self.db.row(statement)
        if row is None:
            return None
        trip = _trip(row)
        if history:
            trip.history = self.history(trip.id)
        return trip

    def open_trip_of(self, asset_id: str, *, for_update: bool = False) -> Trip | None:
        statement = select(TRIPS).where(TRIPS.c.asset_id == asset_id, TRIPS.c.closed_at.is_(None))
        if for_update and self.db.is_postgresql:
            statement = statement.with_for_update()
        row = self.db.row(statement)
        return _trip(row) if row else None

    def open_trips_of(self, asset_ids: Sequence[str]) -> dict[str, Trip]:
        found: dict[str, Trip] = {}
        for chunk in in_chunks(list(dict.fromkeys(asset_ids))):
            rows = self.db.rows(select(TRIPS).where(TRIPS.c.asset_id.in_(chunk),
                                                    TRIPS.c.closed_at.is_(None)))
            found.update((row.asset_id, _trip(row)) for row in rows)
        return found

    def history(self, trip_id: str) -> list[StatusChange]:
        rows = self.db.rows(select(TRIP_CHANGES).where(TRIP_CHANGES.c.trip_id == trip_id)
                            .order_by(TRIP_CHANGES.c.id))
        return [_change(row) for row in rows]

    def page(
        self, order: TripOrder, *, limit: int | None = None, after: SortKey | None = None,
        open_: bool | None = None, **equal: str | None,
    ) -> tuple[list[Trip], SortKey | None]:
        where = equal_to(TRIPS, _FILTERABLE, "trips", equal)
        if open_ is not None:
            where.append(TRIPS.c.closed_at.is_(None) if open_ else TRIPS.c.closed_at.isnot(None))
        rows, next_key = fetch_page(self.db, TRIPS, list(TRIPS.c), order, limit=limit,
                                    after=after, where=where)
        return [_trip(row) for row in rows], next_key

    def routed_counts(self, day: str) -> dict[str, int]:
        """Trips routed on `day` (YYYY-MM-DD), by destination."""
        rows = self.db.rows(
            select(TRIPS.c.destination, func.count().label("n"))
            .where(TRIPS.c.routed_on == day, TRIPS.c.destination.isnot(None))
            .group_by(TRIPS.c.destination))
        return {row.destination: int(row.n) for row in rows}

    def changes_between(self, start: datetime, end: datetime, *, flow: Flow | None = None
                        ) -> list[tuple[Trip, list[StatusChange]]]:
        """The trips (of `flow`) alive in [start, end), each with its whole history."""
        where = [TRIPS.c.created_at < end,
                 (TRIPS.c.closed_at.is_(None)) | (TRIPS.c.closed_at >= start)]
        if flow is not None:
            where.append(TRIPS.c.flow == str(flow))
        trips = [_trip(row) for row in self.db.rows(
            select(TRIPS).where(and_(*where)).order_by(TRIPS.c.asset_id, TRIPS.c.created_at))]
        histories: dict[str, list[StatusChange]] = {trip.id: [] for trip in trips}
        for chunk in in_chunks([trip.id for trip in trips]):
            for row in self.db.rows(select(TRIP_CHANGES)
                                    .where(TRIP_CHANGES.c.trip_id.in_(chunk))
                                    .order_by(TRIP_CHANGES.c.id)):
                histories[row.trip_id].append(_change(row))
        return [(trip, histories[trip.id]) for trip in trips]

    def estimated(self, trip_id: str, eta: Eta | None) -> None:
        self.db.execute(update(TRIPS).where(TRIPS.c.id == trip_id).values(_eta_values(eta)))

    def travelled(self, trip_id: str, transit: Transit) -> None:
        self.db.execute(update(TRIPS).where(TRIPS.c.id == trip_id)
                        .values(_transit_values(transit)))

    def transits(self, since: datetime, per_lane: int) -> list[Transit]:
        """The last legs of the trips that arrived since `since`, the newest `per_lane` of
        each lane, oldest first (what the engine's lanes learn from at start)."""
        rows = self.db.rows(
            select(TRIPS.c.flow, TRIPS.c.destination, TRIPS.c.lane,
                   TRIPS.c.transit_started_at, TRIPS.c.transit_arrived_at, TRIPS.c.transit_km)
            .where(TRIPS.c.transit_arrived_at >= since)
            .order_by(TRIPS.c.transit_arrived_at.desc()))
        kept: dict[tuple[str, str, str], int] = {}
        found = []
        for row in rows:
            transit = _transit(row)
            if transit is None:
                continue
            lane = (row.flow, row.destination, row.lane)
            if kept.get(lane, 0) >= per_lane:
                continue
            kept[lane] = kept.get(lane, 0) + 1
            found.append(transit)
        found.reverse()
        return found

    def delete_of_asset(self, asset_id: str) -> None:
        """A deleted asset's trips and their history."""
        ids = select(TRIPS.c.id).where(TRIPS.c.asset_id == asset_id).scalar_subquery()
        self.db.execute(delete(TRIP_CHANGES).where(TRIP_CHANGES.c.trip_id.in_(ids)))
        self.db.execute(delete(TRIPS).where(TRIPS.c.asset_id == asset_id))

    def in_use(self, fence_id: str) -> list[str]:
        """Open trips that go to, or must stay in, a geofence."""
        rows = self.db.rows(
            select(TRIPS.c.id).where(TRIPS.c.closed_at.is_(None),
                                     (TRIPS.c.destination == fence_id)
                                     | (TRIPS.c.allowed_area == fence_id))
            .order_by(TRIPS.c.id).limit(10))
        return [row.id for row in rows]

    # The disposition policy -----------------------------------------------------------

    def disposition_rules(self) -> list[DispositionRule]:
        rows = self.db.rows(select(DISPOSITION_RULES.c.body)
                            .order_by(DISPOSITION_RULES.c.position))
        return [rule_from_json(row.body) for row in rows]

    def replace_disposition_rules(self, rules: Sequence[DispositionRule]) -> None:
        self.db.execute(delete(DISPOSITION_RULES))
        if rules:
            self.db.execute(insert(DISPOSITION_RULES), [
                {"position": i, "body": rule_json(rule)} for i, rule in enumerate(rules)])


def mirror(db: StateDb, asset_id: str, trip: Trip, state: str) -> None:
    """The asset row's copy of its open (or last) trip, and the state the trip implies."""
    origin = trip.origin
    db.execute(update(ASSETS).where(ASSETS.c.id == asset_id).values(
        trip_id=trip.id, trip_status=str(trip.status), flow=str(trip.flow),
        customer=trip.customer, due_at=trip.due_at, destination=trip.destination,
        allowed_area=trip.allowed_area, origin_lat=origin.lat if origin else None,
        origin_lon=origin.lon if origin else None, state=state))


def rule_json(rule: DispositionRule) -> dict[str, Any]:
    data = asdict(rule)
    data["disposition"] = str(rule.disposition)
    data["flows"] = [str(flow) for flow in rule.flows]
    return {key: value for key, value in data.items() if value not in ((), [], {}, None)}


def rule_from_json(data: Mapping[str, Any]) -> DispositionRule:
    return DispositionRule(
        name=data["name"], disposition=Disposition(data["disposition"]),
        flows=tuple(Flow(flow) for flow in data.get("flows", ())),
        skus=tuple(data.get("skus", ())), categories=tuple(data.get("categories", ())),
        alert_kinds=tuple(data.get("alert_kinds", ())),
        worst_above=dict(data.get("worst_above", {})),
        worst_below=dict(data.get("worst_below", {})),
        min_age_days=data.get("min_age_days"), max_age_days=data.get("max_age_days"))
