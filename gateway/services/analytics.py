"""Return analytics (docs/analytics.md): the tables a returns manager reads or pastes into a
spreadsheet, computed from the state store. Filtered, joined and counted in SQL, selecting
only the columns a table needs; the percentiles in Python, so that a figure is the same on
SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, case, func, or_, select

from alerts.conditions import DAMAGE_METRICS, EXCURSION_METRICS
from alerts.domain import AlertKind, Flow
from alerts.store import ALERTS
from alerts.trips import (
    MACHINES,
    RETURN,
    StatusChange,
    Trip,
    TripStatus,
    inspected_from,
    machine_of,
)
from gateway.imports import Problem
from gateway.registry.assets import ASSETS
from gateway.registry.trips import TRIP_CHANGES, TRIPS
from gateway.services.errors import Invalid
from gateway.services.trips import utilization
from ingest.statedb import StateDb

Clock = Callable[[], datetime]
Row = dict[str, Any]
Figures = tuple[list[Row], list[Row]]
"""A table's rows and totals rows."""

DEFAULT_SPAN = timedelta(days=30)
"""The window when `from` is not given: the 30 days before `to` (as the utilization route)."""
MAX_DAYS = 3660
"""The most days one recall-recovery series holds (ten years)."""
ALL = "*"
"""The value of a grouping column in a totals row."""

ARRIVALS = tuple(sorted({str(inspected_from(machine)) for machine in MACHINES}))
"""The statuses a trip arrives in: arrived, received, returned."""
RETURN_FLOWS = tuple(str(flow) for flow in Flow if machine_of(flow) is RETURN)
RECOVERY = {TripStatus.IDENTIFIED: "missing", TripStatus.LOCATED: "located",
            TripStatus.IN_TRANSIT: "in_transit", TripStatus.RECEIVED: "received",
            TripStatus.REMEDIED: "received", TripStatus.DESTROYED: "received"}
"""Where a recall trip's status counts in the recovery series."""
RECOVERY_COLUMNS = ("missing", "located", "in_transit", "received")

LANE = TRIPS.c.lane + ">" + TRIPS.c.destination
"""A lane as docs/eta.md names it: the region its last leg started in, `>`, the hub."""
TRANSIT_GROUPS: dict[str, ColumnElement[Any]] = {
    "flow": TRIPS.c.flow, "lane": LANE, "hub": TRIPS.c.destination, "carrier": TRIPS.c.carrier}
DAMAGE_GROUPS: dict[str, ColumnElement[Any]] = {
    "sku": ASSETS.c.sku, "packaging": TRIPS.c.packaging, "carrier": TRIPS.c.carrier,
    "lane": LANE}


@dataclass(frozen=True, slots=True)
class AnalyticsFilter:
    """What every table is filtered by. `start`/`end` bound the event each table is about
    (TableSpec.window), `end` exclusive; None: `end` now, `start` DEFAULT_SPAN before it.
    The others are exact matches: the trip's flow, its asset's sku, its destination (the
    hub), its carrier and its customer."""

    start: datetime | None = None
    end: datetime | None = None
    flow: str | None = None
    sku: str | None = None
    hub: str | None = None
    carrier: str | None = None
    customer: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        """The conditions on TRIPS (and ASSETS, for `sku`: see `source`)."""
        found = []
        for value, column in ((self.flow, TRIPS.c.flow), (self.sku, ASSETS.c.sku),
                              (self.hub, TRIPS.c.destination), (self.carrier, TRIPS.c.carrier),
                              (self.customer, TRIPS.c.customer)):
            if value is not None:
                found.append(column == value)
        return found

    def source(self, *, assets: bool = False) -> FromClause:
        """TRIPS, joined to its asset when the sku is filtered on or `assets` is wanted."""
        if assets or self.sku is not None:
            return TRIPS.join(ASSETS, ASSETS.c.id == TRIPS.c.asset_id)
        return TRIPS


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: its name in the API, what the time range bounds, its groupings."""

    name: str
    window: str
    """What `from`/`to` bound, in the docs' words."""
    columns: tuple[str, ...]
    """The columns after the grouping one (`by`) where the table is grouped by choice."""
    by: tuple[str, ...] = ()
    """The groupings to choose from, the default first; empty: fixed."""

    def columns_for(self, by: str | None) -> tuple[str, ...]:
        return (by, *self.columns) if by is not None else self.columns


@dataclass(frozen=True, slots=True)
class AnalyticsTable:
    """A table's answer: fixed columns, a row per group, and the totals rows (ALL in the
    grouping columns) where totals make sense."""

    name: str
    by: str | None
    window: str
    start: datetime
    end: datetime
    filters: AnalyticsFilter
    columns: tuple[str, ...]
    rows: list[Row]
    totals: list[Row] = field(default_factory=list)


TABLES = {spec.name: spec for spec in (
    TableSpec("transit-times", "arrival",
              ("trips", "timed_by_changes", "p50_h", "p90_h", "mean_h"),
              by=tuple(TRANSIT_GROUPS)),
    TableSpec("damage-rates", "creation",
              ("trips", "alerts", "alerts_per_trip", "excursion_trips", "excursion_rate",
               "damaged_trips", "damage_rate"),
              by=tuple(DAMAGE_GROUPS)),
    TableSpec("return-reasons", "creation", ("sku", "reason", "trips", "share")),
    TableSpec("dispositions", "recommendation",
              ("recommended", "actual", "trips", "match_rate")),
    TableSpec("recall-recovery", "day",
              ("day", "recalled", *RECOVERY_COLUMNS)),
    TableSpec("rental-utilization", "rental period",
              ("category", "assets", "trips", "utilization", "turnaround_h_mean",
               "turnaround_h_p90")),
    TableSpec("warranty-turnaround", "arrival",
              ("hub", "arrived", "dispositioned", "to_dispositioned_p50_h",
               "to_dispositioned_p90_h", "closed", "to_closed_p50_h", "to_closed_p90_h")),
)}


class AnalyticsService:
    """One method per table (docs/analytics.md), each taking an AnalyticsFilter; `table`
    picks one by its API name."""

    def __init__(self, db: StateDb, now: Clock) -> None:
        self._db, self._now = db, now

    async def table(self, name: str, filters: AnalyticsFilter, by: str | None = None
                    ) -> AnalyticsTable:
        """The table called `name` in the API (a key of TABLES); `by` None: its default
        grouping. Invalid naming `by` for a grouping the table does not have, `from` for a
        window that ends before it starts."""
        spec = TABLES[name]
        if by is None and spec.by:
            by = spec.by[0]
        elif by is not None and by not in spec.by:
            why = (f"{name} is grouped by one of {', '.join(spec.by)}, not {by!r}" if spec.by
                   else f"{name} has a fixed grouping: leave `by` out")
            raise Invalid("query", [Problem("by", why)])
        window = self._window(filters)
        if name == "recall-recovery":
            _days(window)  # too long a series is refused before it is queried
        rows, totals = await self._db.run(_COMPUTE[name], self._db, window, filters, by,
                                          self._now())
        return AnalyticsTable(name=name, by=by, window=spec.window, start=window.start,
                              end=window.end, filters=filters, columns=spec.columns_for(by),
                              rows=rows, totals=totals)

    async def transit_times(self, filters: AnalyticsFilter, by: str = "flow"
                            ) -> AnalyticsTable:
        """Hours from the start of the last leg to the arrival, of the trips that arrived in
        the window; a trip whose arrival telemetry recorded no leg (moved by hand) is timed
        from its first `in_transit` change to its arrival change, when it has both."""
        return await self.table("transit-times", filters, by)

    async def damage_rates(self, filters: AnalyticsFilter, by: str = "sku") -> AnalyticsTable:
        """The trips created in the window: their alerts, and the share with an environmental
        excursion (out_of_spec on EXCURSION_METRICS) or damage (on DAMAGE_METRICS)."""
        return await self.table("damage-rates", filters, by)

    async def return_reasons(self, filters: AnalyticsFilter) -> AnalyticsTable:
        """The return trips created in the window by sku and reason."""
        return await self.table("return-reasons", filters)

    async def dispositions(self, filters: AnalyticsFilter) -> AnalyticsTable:
        """The trips recommended a disposition (at arrival) in the window and inspected since:
        recommended against actual, and how often they matched."""
        return await self.table("dispositions", filters)

    async def recall_recovery(self, filters: AnalyticsFilter) -> AnalyticsTable:
        """Per UTC day of the window: the recall trips opened by its end, by their status
        then."""
        return await self.table("recall-recovery", filters)

    async def rental_utilization(self, filters: AnalyticsFilter) -> AnalyticsTable:
        """By asset category: the rental trips' utilization of the window and turnaround, as
        `/api/v1/rentals/utilization` computes them (gateway.services.trips.utilization)."""
        return await self.table("rental-utilization", filters)

    async def warranty_turnaround(self, filters: AnalyticsFilter) -> AnalyticsTable:
        """Warranty repairs that arrived in the window, by hub: hours from arrival to
        `dispositioned`, and to `closed`."""
        return await self.table("warranty-turnaround", filters)

    def _window(self, filters: AnalyticsFilter) -> Window:
        """The filters' window in UTC (a time without an offset is UTC), defaults filled."""
        end = _utc(filters.end, "to") if filters.end is not None else self._now()
        if filters.start is not None:
            start = _utc(filters.start, "from")
        else:
            try:
                start = end - DEFAULT_SPAN
            except OverflowError:
                raise Invalid("query", [Problem("to", "too early a time")]) from None
        if start >= end:
            given = "" if filters.end else ", now"
            raise Invalid("query", [Problem("from", f"must be before `to` ({end.isoformat()}"
                                            f"{given})")])
        return Window(start, end)


# The tables' queries, run through StateDb.run ------------------------------------------------


def _transit_times(db: StateDb, window: Window, filters: AnalyticsFilter, by: str | None,
                   _now: datetime) -> Figures:
    assert by is not None
    group = TRANSIT_GROUPS[by].label("g")
    where = filters.where()
    hours: dict[Any, list[float]] = defaultdict(list)
    by_changes: dict[Any, int] = defaultdict(int)
    legs = db.rows(
        select(group, TRIPS.c.transit_started_at, TRIPS.c.transit_arrived_at)
        .select_from(filters.source())
        .where(TRIPS.c.transit_arrived_at >= window.start, TRIPS.c.transit_arrived_at < window.end,
               TRIPS.c.transit_started_at.isnot(None), *where))
    for row in legs:
        hours[row.g].append(_hours(row.transit_started_at, row.transit_arrived_at))
    departed, arrived = _first(TripStatus.IN_TRANSIT), _first(*ARRIVALS)
    by_hand = db.rows(
        select(group, departed.label("departed"), arrived.label("arrived"))
        .select_from(filters.source().join(TRIP_CHANGES, TRIP_CHANGES.c.trip_id == TRIPS.c.id))
        .where(TRIPS.c.transit_arrived_at.is_(None), *where)
        .group_by(TRIPS.c.id, TRANSIT_GROUPS[by])
        .having(and_(arrived >= window.start, arrived < window.end, departed.isnot(None))))
    for row in by_hand:
        if row.departed <= row.arrived:
            hours[row.g].append(_hours(row.departed, row.arrived))
            by_changes[row.g] += 1

    def timed(values: list[float], changes: int) -> Row:
        p50, p90 = p50_p90(values)
        return {"trips": len(values), "timed_by_changes": changes, "p50_h": p50, "p90_h": p90,
                "mean_h": round(statistics.fmean(values), 3)}

    rows = [{by: key, **timed(hours[key], by_changes[key])} for key in _sorted(hours)]
    every = [h for values in hours.values() for h in values]
    totals = [{by: ALL, **timed(every, sum(by_changes.values()))}] if every else []
    return rows, totals


def _damage_rates(db: StateDb, window: Window, filters: AnalyticsFilter, by: str | None,
                  _now: datetime) -> Figures:
    assert by is not None
    out_of_spec = ALERTS.c.kind == str(AlertKind.OUT_OF_SPEC)
    per_trip = (
        select(ALERTS.c.trip_id, func.count().label("alerts"),
               func.max(case((and_(out_of_spec, ALERTS.c.key.in_(EXCURSION_METRICS)), 1),
                             else_=0)).label("excursion"),
               func.max(case((and_(out_of_spec, ALERTS.c.key.in_(DAMAGE_METRICS)), 1),
                             else_=0)).label("damaged"))
        .where(ALERTS.c.trip_id.isnot(None)).group_by(ALERTS.c.trip_id).subquery())
    group = DAMAGE_GROUPS[by]
    found = db.rows(
        select(group.label("g"), func.count().label("trips"),
               func.coalesce(func.sum(per_trip.c.alerts), 0).label("alerts"),
               func.coalesce(func.sum(per_trip.c.excursion), 0).label("excursion"),
               func.coalesce(func.sum(per_trip.c.damaged), 0).label("damaged"))
        .select_from(filters.source(assets=by == "sku")
                     .outerjoin(per_trip, per_trip.c.trip_id == TRIPS.c.id))
        .where(*_created_in(window), *filters.where())
        .group_by(group))
    counts = {row.g: (int(row.trips), int(row.alerts), int(row.excursion), int(row.damaged))
              for row in found}

    def rates(trips: int, alerts: int, excursion: int, damaged: int) -> Row:
        return {"trips": trips, "alerts": alerts, "alerts_per_trip": _share(alerts, trips),
                "excursion_trips": excursion, "excursion_rate": _share(excursion, trips),
                "damaged_trips": damaged, "damage_rate": _share(damaged, trips)}

    rows = [{by: key, **rates(*counts[key])} for key in _sorted(counts)]
    totals = [{by: ALL, **rates(*(sum(c[i] for c in counts.values()) for i in range(4)))}
              ] if counts else []
    return rows, totals


def _return_reasons(db: StateDb, window: Window, filters: AnalyticsFilter, _by: str | None,
                    _now: datetime) -> Figures:
    found = db.rows(
        select(ASSETS.c.sku, TRIPS.c.reason, func.count().label("trips"))
        .select_from(filters.source(assets=True))
        .where(*_created_in(window), TRIPS.c.flow.in_(RETURN_FLOWS), *filters.where())
        .group_by(ASSETS.c.sku, TRIPS.c.reason))
    counts = {(row.sku, row.reason): int(row.trips) for row in found}
    of_sku: dict[str | None, int] = defaultdict(int)
    of_reason: dict[str | None, int] = defaultdict(int)
    for (sku, reason), trips in counts.items():
        of_sku[sku] += trips
        of_reason[reason] += trips
    rows = [{"sku": sku, "reason": reason, "trips": counts[sku, reason],
             "share": _share(counts[sku, reason], of_sku[sku])} for sku, reason in _sorted(counts)]
    every = sum(of_reason.values())
    totals = [{"sku": ALL, "reason": reason, "trips": of_reason[reason],
               "share": _share(of_reason[reason], every)} for reason in _sorted(of_reason)]
    return rows, totals


def _dispositions(db: StateDb, window: Window, filters: AnalyticsFilter, _by: str | None,
                  _now: datetime) -> Figures:
    found = db.rows(
        select(TRIPS.c.recommended, TRIPS.c.actual, func.count().label("trips"))
        .select_from(filters.source())
        .where(TRIPS.c.recommended_at >= window.start, TRIPS.c.recommended_at < window.end,
               TRIPS.c.recommended.isnot(None), TRIPS.c.actual.isnot(None), *filters.where())
        .group_by(TRIPS.c.recommended, TRIPS.c.actual))
    counts = {(row.recommended, row.actual): int(row.trips) for row in found}
    rows = [{"recommended": recommended, "actual": actual, "trips": counts[recommended, actual],
             "match_rate": 1.0 if actual == recommended else 0.0}
            for recommended, actual in _sorted(counts)]
    of: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # trips, matched
    for (recommended, actual), trips in counts.items():
        for key in (recommended, ALL):
            of[key][0] += trips
            of[key][1] += trips if actual == recommended else 0
    totals = [{"recommended": key, "actual": ALL, "trips": of[key][0],
               "match_rate": _share(of[key][1], of[key][0])}
              for key in [*_sorted(k for k in of if k != ALL), ALL] if key in of]
    return rows, totals


def _days(window: Window) -> list[date]:
    """The UTC days the window touches; Invalid past MAX_DAYS."""
    first = window.start.date()
    last = (window.end - timedelta(microseconds=1)).date()
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise Invalid("query", [Problem("from", f"recall-recovery spans at most {MAX_DAYS} "
                                        f"days; {count} asked")])
    return [first + timedelta(days=n) for n in range(count)]


def _recall_recovery(db: StateDb, window: Window, filters: AnalyticsFilter, _by: str | None,
                     _now: datetime) -> Figures:
    """Each change of a recall trip moves it between the counts from its day on: a change
    before the window, from the first day. Counted at the end of each day (at `to` for the
    day it cuts short)."""
    days = _days(window)
    first = days[0]
    # In the order they were made, sorted here: ORDER BY would have SQLite read every change
    # in that order and look its trip up, rather than the recall trips' changes alone.
    changes = sorted(db.rows(
        select(TRIP_CHANGES.c.id, TRIP_CHANGES.c.trip_id, TRIP_CHANGES.c.status,
               TRIP_CHANGES.c.at)
        .select_from(filters.source().join(TRIP_CHANGES, TRIP_CHANGES.c.trip_id == TRIPS.c.id))
        .where(TRIPS.c.flow == str(Flow.RECALL), TRIP_CHANGES.c.at < window.end,
               *filters.where())), key=lambda row: int(row.id))
    delta = [dict.fromkeys(RECOVERY_COLUMNS, 0) for _ in days]
    counted: dict[str, str | None] = {}
    for change in changes:
        now_in = RECOVERY.get(TripStatus(change.status))
        before = counted.get(change.trip_id)
        if now_in == before:
            continue
        day = max(0, (change.at.date() - first).days)
        if before is not None:
            delta[day][before] -= 1
        if now_in is not None:
            delta[day][now_in] += 1
        counted[change.trip_id] = now_in
    rows = []
    running = dict.fromkeys(RECOVERY_COLUMNS, 0)
    for day, moved in zip(days, delta, strict=True):
        for name, count in moved.items():
            running[name] += count
        rows.append({"day": day, "recalled": sum(running.values()), **running})
    return rows, []


def _rental_utilization(db: StateDb, window: Window, filters: AnalyticsFilter,
                        _by: str | None, now: datetime) -> Figures:
    """The trips and the changes `utilization` reads (each status's first), filtered and
    joined here; grouped by the asset's category."""
    where = [TRIPS.c.flow == str(Flow.RENTAL_RETURN), TRIPS.c.created_at < window.end,
             or_(TRIPS.c.closed_at.is_(None), TRIPS.c.closed_at >= window.start),
             *filters.where()]
    marks = (TripStatus.CHECKED_OUT, TripStatus.RETURNED, TripStatus.AVAILABLE)
    found = db.rows(
        select(TRIPS.c.id, TRIPS.c.asset_id, TRIPS.c.created_at, ASSETS.c.category,
               *(_first(status) for status in marks))
        .select_from(filters.source(assets=True)
                     .join(TRIP_CHANGES, TRIP_CHANGES.c.trip_id == TRIPS.c.id))
        .where(*where)
        .group_by(TRIPS.c.id, TRIPS.c.asset_id, TRIPS.c.created_at, ASSETS.c.category))
    of_category: dict[str | None, list[tuple[Trip, list[StatusChange]]]] = defaultdict(list)
    for row in found:
        trip = Trip(id=row.id, asset_id=row.asset_id, flow=Flow.RENTAL_RETURN,
                    status=TripStatus.CHECKED_OUT, created_at=row.created_at)
        reached: tuple[datetime | None, ...] = tuple(row[4:])
        history = [StatusChange(row.id, status, None, moment)
                   for status, moment in zip(marks, reached, strict=True) if moment is not None]
        of_category[row.category].append((trip, history))

    def used(category: str | None, found: Sequence[tuple[Trip, list[StatusChange]]]) -> Row:
        assets, fleet = utilization(found, window.start, window.end, now)
        return {"category": category, "assets": len(assets), "trips": fleet.trips,
                "utilization": fleet.utilization, "turnaround_h_mean": fleet.turnaround_h_mean,
                "turnaround_h_p90": fleet.turnaround_h_p90}

    rows = [used(category, of_category[category]) for category in _sorted(of_category)]
    every = [pair for found in of_category.values() for pair in found]
    return rows, [used(ALL, every)] if every else []


def _warranty_turnaround(db: StateDb, window: Window, filters: AnalyticsFilter, _by: str | None,
                         _now: datetime) -> Figures:
    arrived = _first(TripStatus.ARRIVED)
    found = db.rows(
        select(TRIPS.c.destination, arrived.label("arrived"),
               _first(TripStatus.DISPOSITIONED).label("dispositioned"),
               _first(TripStatus.CLOSED).label("closed"))
        .select_from(filters.source().join(TRIP_CHANGES, TRIP_CHANGES.c.trip_id == TRIPS.c.id))
        .where(TRIPS.c.flow == str(Flow.WARRANTY_REPAIR), *filters.where())
        .group_by(TRIPS.c.id, TRIPS.c.destination)
        .having(and_(arrived >= window.start, arrived < window.end)))
    of_hub: dict[str | None, list[tuple[datetime, datetime | None, datetime | None]]] = \
        defaultdict(list)
    for row in found:
        of_hub[row.destination].append((row.arrived, row.dispositioned, row.closed))

    def turnaround(trips: list[tuple[datetime, datetime | None, datetime | None]]) -> Row:
        decided = [_hours(arrived, at) for arrived, at, _ in trips if at is not None]
        closed = [_hours(arrived, at) for arrived, _, at in trips if at is not None]
        decided_p50, decided_p90 = p50_p90(decided)
        closed_p50, closed_p90 = p50_p90(closed)
        return {"arrived": len(trips), "dispositioned": len(decided),
                "to_dispositioned_p50_h": decided_p50, "to_dispositioned_p90_h": decided_p90,
                "closed": len(closed), "to_closed_p50_h": closed_p50,
                "to_closed_p90_h": closed_p90}

    rows = [{"hub": hub, **turnaround(of_hub[hub])} for hub in _sorted(of_hub)]
    every = [trip for trips in of_hub.values() for trip in trips]
    return rows, [{"hub": ALL, **turnaround(every)}] if every else []


# Helpers --------------------------------------------------------------------------------


def p50_p90(values: Sequence[float]) -> tuple[float | None, float | None]:
    """The median and the 90th percentile, interpolated linearly between the closest ranks
    (as PostgreSQL's percentile_cont and numpy's default), rounded to 3 decimals."""
    if not values:
        return None, None
    if len(values) == 1:
        return round(values[0], 3), round(values[0], 3)
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return round(deciles[4], 3), round(deciles[8], 3)


def _utc(moment: datetime, name: str) -> datetime:
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise Invalid("query", [Problem(name, "out of range once in UTC")]) from None


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _first(*statuses: str) -> ColumnElement[Any]:
    """A trip's first change to one of `statuses`, over its changes (grouped by trip). The
    changes are not filtered by status in WHERE: SQLite would then read every change of that
    status through its index and look its trip up, where reading the trips first and their
    changes by trip is ten times faster."""
    return func.min(case((TRIP_CHANGES.c.status.in_(statuses), TRIP_CHANGES.c.at)))


def _created_in(window: Window) -> list[ColumnElement[bool]]:
    return [TRIPS.c.created_at >= window.start, TRIPS.c.created_at < window.end]


def _sorted(keys: Iterable[Any]) -> list[Any]:
    """Group keys in order, None (no value: no sku, no carrier) last; tuples by each part."""
    def key(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(key(part) for part in value)
        return (value is None, "" if value is None else value)
    return sorted(keys, key=key)


_COMPUTE: dict[str, Callable[[StateDb, Window, AnalyticsFilter, str | None, datetime],
                             Figures]] = {
    "transit-times": _transit_times, "damage-rates": _damage_rates,
    "return-reasons": _return_reasons, "dispositions": _dispositions,
    "recall-recovery": _recall_recovery, "rental-utilization": _rental_utilization,
    "warranty-turnaround": _warranty_turnaround,
}
