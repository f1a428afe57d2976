"""`/api/v1/trips`: open (routed when no destination is given), read, change, move, inspect,
list and import trips; `/api/v1/assets/{id}/trips`; the disposition policy; and the rental
fleet's utilization (docs/lifecycle.md)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from alerts.dispositions import DispositionRule
from alerts.domain import Flow
from alerts.trips import (
    Disposition,
    Inspection,
    Origin,
    Trip,
    inspection_data,
    location_data,
    recommendation_data,
)
from gateway.api._csv import OPENAPI_CSV_BODY, parse_rows, read_csv_body, report
from gateway.api._deps import ReadKey, ServicesDep, WriteKey, invalid
from gateway.api._paging import PageRequest, page_request
from gateway.api.schemas import (
    DispositionRuleOut,
    DispositionRulesIn,
    DispositionRulesOut,
    ImportReport,
    InspectionIn,
    Page,
    TripCsvRow,
    TripIn,
    TripOut,
    TripPatch,
    TripStatusName,
    UtilizationOut,
    UtilizationRowOut,
)
from gateway.imports import Problem
from gateway.registry.trips import TripOrder, rule_json
from gateway.services.trips import new_trip_id

router = APIRouter(tags=["trips"])

TripPaging = Annotated[PageRequest[TripOrder], Depends(page_request(
    TripOrder, "created_at", ". Trips without a due_at come last (first when descending)"))]


def trip_out(trip: Trip, *, history: bool = False) -> TripOut:
    origin = asdict(trip.origin) if trip.origin else None
    data: dict[str, Any] = {
        "id": trip.id, "asset_id": trip.asset_id, "flow": trip.flow, "status": str(trip.status),
        "customer": trip.customer, "reason": trip.reason, "fault": trip.fault,
        "reference": trip.reference, "origin": origin, "destination": trip.destination,
        "allowed_area": trip.allowed_area, "due_at": trip.due_at, "carrier": trip.carrier,
        "packaging": trip.packaging, "routing": trip.routing,
        "recommendation": recommendation_data(trip.recommendation),
        "inspection": inspection_data(trip.inspection), "created_at": trip.created_at,
        "updated_at": trip.updated_at, "closed_at": trip.closed_at,
        "eta": trip.eta.data() if trip.eta and trip.status in trip.machine.on_the_way
        else None,
        "transit": {"lane": trip.transit.lane.name, "started_at": trip.transit.started_at,
                    "arrived_at": trip.transit.arrived_at, "km": round(trip.transit.km, 1),
                    "hours": round(trip.transit.hours, 3)} if trip.transit else None,
    }
    if history:
        data["history"] = [{
            "status": str(c.status),
            "previous_status": str(c.previous_status) if c.previous_status else None,
            "at": c.at, "location": location_data(c.location), "reason": c.reason,
        } for c in trip.history]
    return TripOut.model_validate(data)


def _origin(body: TripIn | TripPatch) -> Origin | None:
    return Origin(**body.origin.model_dump()) if body.origin else None


@router.post("/api/v1/trips", status_code=status.HTTP_201_CREATED, response_model=TripOut,
             responses={409: {"description": "id exists, or the asset has an open trip"},
                        422: {"description": "a field is invalid; no asset; no destination "
                              "given and none can be chosen (`destination` says why)"}})
async def create_trip(body: TripIn, services: ServicesDep, _: WriteKey) -> TripOut:
    """Opens a trip of an asset: a return authorization, a rental check-out, a recall
    recovery. Without a `destination` the cheapest hub able to take it is chosen from the
    asset's last known position (else `origin`); `routing` shows every candidate."""
    fields = body.model_dump(exclude={"id", "origin"})
    fields["origin"] = _origin(body)
    return trip_out(await services.trips.create(body.id or new_trip_id(), fields),
                    history=True)


@router.get("/api/v1/trips", response_model=Page[TripOut],
            responses={422: {"description": "an unknown sort field, or a bad cursor"}})
async def list_trips(
    services: ServicesDep,
    _: ReadKey,
    paging: TripPaging,
    asset_id: str | None = None,
    flow: Flow | None = None,
    status: TripStatusName | None = None,
    customer: str | None = None,
    destination: str | None = None,
    carrier: str | None = None,
    reference: str | None = None,
    open: Annotated[bool | None, Query(description="true: open trips; false: closed")] = None,
) -> Page[TripOut]:
    trips, next_key = await services.trips.page(
        paging.order, limit=paging.limit, after=paging.after, open_=open, asset_id=asset_id,
        flow=flow, status=status, customer=customer, destination=destination,
        carrier=carrier, reference=reference)
    return paging.page([trip_out(t) for t in trips], next_key)


@router.post("/api/v1/trips:import", response_model=ImportReport,
             openapi_extra=OPENAPI_CSV_BODY,
             responses={415: {"description": "the body is not text/csv"},
                        422: {"description": "the file is not a table: no header, an unknown "
                              "or repeated column, not UTF-8"}})
async def import_trips(request: Request, services: ServicesDep, _: WriteKey) -> Response:
    """A CSV file of new trips, one a row (TripIn's fields; the origin as `origin_lat`,
    `origin_lon`, `origin_name`). Each row is routed like a trip opened alone; every row is
    reported: created, or rejected with the field at fault and why."""
    rows = await parse_rows(await read_csv_body(request), TripCsvRow)
    return report(await services.trips.import_rows(rows))


@router.get("/api/v1/trips/{trip_id}", response_model=TripOut,
            responses={404: {"description": "no trip"}})
async def get_trip(trip_id: str, services: ServicesDep, _: ReadKey) -> TripOut:
    return trip_out(await services.trips.get(trip_id), history=True)


@router.patch("/api/v1/trips/{trip_id}", response_model=TripOut,
              responses={404: {"description": "no trip"},
                         409: {"description": "a move its status machine does not allow "
                               "(the answer names the allowed ones), or a flow of another kind"},
                         422: {"description": "a field is invalid"}})
async def update_trip(trip_id: str, body: TripPatch, services: ServicesDep, _: WriteKey
                      ) -> TripOut:
    """Changes the fields given (null clears one); `status` moves the trip as its machine
    allows (closing a return, cancelling an authorization, making a repaired rental
    available)."""
    changes = body.model_dump(exclude_unset=True, exclude={"origin"})
    if "origin" in body.model_fields_set:
        changes["origin"] = _origin(body)
    return trip_out(await services.trips.update(trip_id, changes), history=True)


@router.post("/api/v1/trips/{trip_id}/inspection", response_model=TripOut,
             responses={404: {"description": "no trip"},
                        409: {"description": "the trip is not where it is inspected (arrived, "
                              "returned or received)"},
                        422: {"description": "a field is invalid"}})
async def inspect_trip(trip_id: str, body: InspectionIn, services: ServicesDep, key: WriteKey
                       ) -> TripOut:
    """Records the inspection (grade, actual disposition, notes, inspector) beside the
    recommendation, and moves the trip to `inspected`; a disposition other than `inspect`
    moves it on (docs/lifecycle.md)."""
    inspection = Inspection(disposition=Disposition(body.disposition),
                            at=datetime.now(UTC), grade=body.grade, notes=body.notes,
                            inspector=body.inspector or key.name or key.id)
    return trip_out(await services.trips.inspect(trip_id, inspection), history=True)


@router.get("/api/v1/assets/{asset_id}/trips", response_model=Page[TripOut],
            responses={404: {"description": "no asset"},
                       422: {"description": "an unknown sort field, or a bad cursor"}})
async def list_asset_trips(asset_id: str, services: ServicesDep, _: ReadKey,
                           paging: TripPaging) -> Page[TripOut]:
    """The asset's trips, oldest first by default."""
    trips, next_key = await services.trips.of_asset(asset_id, paging.order,
                                                    limit=paging.limit, after=paging.after)
    return paging.page([trip_out(t) for t in trips], next_key)


def _rule_out(rule: DispositionRule) -> DispositionRuleOut:
    return DispositionRuleOut.model_validate(rule_json(rule))


@router.get("/api/v1/disposition-rules", response_model=DispositionRulesOut)
async def get_disposition_rules(services: ServicesDep, _: ReadKey) -> DispositionRulesOut:
    """The operator's rules, in order, and the defaults that follow them."""
    rules = await services.trips.disposition_rules()
    return DispositionRulesOut(rules=[_rule_out(r) for r in rules],
                               defaults=[_rule_out(r) for r in services.trips.defaults()])


@router.put("/api/v1/disposition-rules", response_model=DispositionRulesOut,
            responses={422: {"description": "a rule is invalid, or two share a name"}})
async def replace_disposition_rules(body: DispositionRulesIn, services: ServicesDep,
                                    _: WriteKey) -> DispositionRulesOut:
    """Replaces the operator's rules (all of them, in order): recommendations at arrivals
    from now on follow them."""
    names = [rule.name for rule in body.rules]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise invalid("body", [Problem("rules", f"two rules are named {name!r}")
                               for name in twice])
    rules = [DispositionRule(
        name=r.name, disposition=Disposition(r.disposition), flows=tuple(r.flows),
        skus=tuple(r.skus), categories=tuple(r.categories), alert_kinds=tuple(r.alert_kinds),
        worst_above={str(k): v for k, v in r.worst_above.items()},
        worst_below={str(k): v for k, v in r.worst_below.items()},
        min_age_days=r.min_age_days, max_age_days=r.max_age_days) for r in body.rules]
    await services.trips.replace_disposition_rules(rules)
    return await get_disposition_rules(services, _)


def _utc(moment: datetime) -> datetime:
    """A time without an offset is UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _row_out(row: Any) -> UtilizationRowOut:
    return UtilizationRowOut.model_validate(asdict(row))


@router.get("/api/v1/rentals/utilization", response_model=UtilizationOut,
            responses={422: {"description": "`from` is not before `to`"}})
async def rental_utilization(
    services: ServicesDep,
    _: ReadKey,
    from_: Annotated[datetime | None, Query(alias="from", description=(
        "Start of the window; default 30 days before `to`"))] = None,
    to: Annotated[datetime | None, Query(description="End of the window; default now")] = None,
) -> UtilizationOut:
    """Per rental asset and for the fleet: the share of the window it was out with customers
    (checked out to returned), and its turnaround (returned to available)."""
    end = _utc(to) if to is not None else datetime.now(UTC)
    start = _utc(from_) if from_ is not None else end - timedelta(days=30)
    if start >= end:
        raise invalid("query", [Problem("from", "must be before `to`")])
    rows, fleet = await services.trips.utilization(start, end)
    return UtilizationOut.model_validate({
        "from": start, "to": end, "fleet": _row_out(fleet),
        "assets": [_row_out(row) for row in rows]})

