"""The dashboards, each answering the questions in its description. Queries are InfluxQL
over the contract's `telemetry` and `alerts` and the gateway's `asset_states`, `trips`,
`gateway_stats` and `gateway_dead_letters` (docs/dashboards.md), so that they run on
InfluxDB 1.x, 2.x (DBRP mapping) and 3.x alike."""

from __future__ import annotations

from typing import Any

from dashboards.model import (
    STATE_COLOURS,
    Annotation,
    Dashboard,
    Panel,
    Query,
    Variable,
)

STATES = "asset_states"
TRIPS = "trips"
METRICS = (
    # (field, title, unit)
    ("temp_c", "Temperature", "celsius"),
    ("humidity_pct", "Humidity", "humidity"),
    ("shock_g", "Shock", "accG"),
    ("tilt_deg", "Tilt", "degree"),
    ("light_lux", "Light (package opened)", "lux"),
    ("battery_pct", "Battery", "percent"),
)
FLOWS = ("customer_return", "warranty_repair", "recall", "trade_in", "rental_return",
         "b2b_return", "end_of_life")
DISPOSITIONS = ("restock", "refurbish", "repair", "recycle", "quarantine", "redeploy",
                "return_to_vendor", "dispose", "inspect")
# The statuses of an open return trip, then those only a recall trip has (docs/lifecycle.md):
# the returns pipeline. Final statuses (closed, remedied, destroyed) are done, not in it.
TRIP_STATUSES = ("authorized", "in_transit", "arrived", "inspected", "dispositioned",
                 "identified", "located", "received")
# The `trips` points that carry a trip's transit time, lateness and alerts: its arrival, in
# the return, rental and recall machines.
ARRIVAL_STATUSES = ("arrived", "returned", "received")
# The `trips` point of a trip's inspection: the status it moves the trip to (a recall has no
# `inspected`; its inspection remedies or destroys it). Each trip has at most one of them.
INSPECTION_STATUSES = ("inspected", "remedied", "destroyed")
# What a recall trip goes through, in order (docs/lifecycle.md), with the recovery chart's
# names. A trip is located by its tag's first position.
RECALL_STEPS = (("identified", "recalled"), ("located", "located"),
                ("in_transit", "in transit"), ("received", "received"),
                ("remedied|destroyed", "remedied or destroyed"))


def _tag_values(measurement: str, key: str) -> str:
    return f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"'


FLOW = Variable("flow", "Flow", _tag_values(STATES, "flow"))
KIND = Variable("kind", "Kind", _tag_values(STATES, "asset_kind"))
CUSTOMER = Variable("customer", "Customer", _tag_values(STATES, "customer"))
ASSET = Variable("asset", "Asset", _tag_values("telemetry", "asset_id"), multi=False,
                 all=False)
INSTANCE = Variable("instance", "Gateway", _tag_values("gateway_stats", "instance"))

FILTERS = '"flow" =~ /^$flow$/ AND "asset_kind" =~ /^$kind$/ AND "customer" =~ /^$customer$/'


def latest(fields: dict[str, str], where: str, by: str = '"asset_id"') -> str:
    """Each asset's newest value of each field (alias: field) in the time range."""
    selected = ", ".join(f'last("{field}") AS "{alias}"' for alias, field in fields.items())
    return f'SELECT {selected} FROM "{STATES}" WHERE $timeFilter AND {where} GROUP BY {by}'


def per_asset(columns: tuple[str, ...], fields: dict[str, str], where: str, having: str,
              by: str = '"asset_id"') -> str:
    """Rows of assets whose newest values satisfy `having`."""
    shown = ", ".join(f'"{column}"' for column in columns)
    return (f"SELECT {shown} FROM ({latest(fields, where, by)}) WHERE {having} GROUP BY {by}")


def count_of(where: str, having: str, alias: str, by: str = "",
             fields: tuple[str, ...] = ("state", "overdue", "recalled", "due_in_s")) -> Query:
    """How many assets' newest values of `fields` satisfy `having` (the first is counted)."""
    inner_by = '"asset_id"' + (f", {by}" if by else "")
    outer_by = f" GROUP BY {by}" if by else ""
    inner = latest({name: name for name in fields}, where, inner_by)
    return Query(f'SELECT count("{fields[0]}") AS "{alias}" FROM ({inner}) WHERE '
                 f"{having}{outer_by}", "table" if by else "time_series")


def newest_point(columns: tuple[str, ...], where: str, by: str) -> str:
    """Each asset's newest point in the range, found by its `state` (which every point has),
    with that point's `columns`: null where that point lacks one. (`last()` of each field
    would take an older point's value, an estimate of arrival from before it arrived.)"""
    shown = ", ".join(f'"{column}"' for column in columns)
    return (f'SELECT last("state") AS "state", {shown} FROM "{STATES}" WHERE $timeFilter AND '
            f"{where} GROUP BY {by}")


def matching(statuses: tuple[str, ...]) -> str:
    return f'"status" =~ /^({"|".join(statuses)})$/'


def arrival_figures(where: str, by: str) -> Query:
    """Per value of the `trips` tag `by`, the trips that arrived in the range: how many,
    their transit time (median and 90th percentile, hours), alerts per trip, and the shares
    with an excursion, damage, or late. Trips without the tag make a row of their own."""
    return Query(
        'SELECT count("changes") AS "trips", percentile("transit_h", 50) AS "transit p50", '
        'percentile("transit_h", 90) AS "transit p90", mean("alerts") AS "alerts per trip", '
        'mean("excursion") AS "excursions", mean("damage") AS "damage", mean("late") AS "late" '
        f'FROM "{TRIPS}" WHERE $timeFilter AND {where} AND {matching(ARRIVAL_STATUSES)} '
        f'GROUP BY "{by}"', "table")


ARRIVAL_UNITS = {"transit p50": "h", "transit p90": "h", "excursions": "percentunit",
                 "damage": "percentunit", "late": "percentunit"}


def reached(where: str, status: str, alias: str) -> Query:
    """How many trips had reached `status` (a regex alternation) by each moment of the range."""
    return Query(f'SELECT cumulative_sum(count("changes")) AS "{alias}" FROM "{TRIPS}" WHERE '
                 f"$timeFilter AND {where} AND \"status\" =~ /^({status})$/ "
                 "GROUP BY time($__interval) fill(0)")


def overdue_assets(where: str, by: str) -> Query:
    """Each asset past its due date (plus grace) and not arrived, with days past due."""
    return Query(per_asset(("days_overdue", "sku", "serial", "tag_id"),
                           {"days_overdue": "days_overdue", "sku": "sku", "serial": "serial",
                            "tag_id": "tag_id", "overdue": "overdue"},
                           where, "\"overdue\" = 1", by), "table")


# The point written at an arrival: the only one of an arrived asset with the trip's duration
# (`transit_s`) and the recommendation. The later changes of the trip (inspected, closed...)
# carry the recommendation too, but not the duration.
AT_ARRIVAL = "\"disposition\" != '' AND \"transit_s\" >= 0"


def arrivals(where: str, state: str, columns: tuple[str, ...], by: str) -> Query:
    """Each arrival in the range, with the disposition recommended at it."""
    shown = ", ".join(f'"{column}"' for column in columns)
    return Query(f'SELECT {shown} FROM "{STATES}" WHERE $timeFilter AND {where} AND '
                 f"\"state\" = '{state}' AND {AT_ARRIVAL} GROUP BY {by}", "table")


def inspected_trips(where: str, alias: str, having: str = "") -> Query:
    """How many trips were inspected in the range (and satisfy `having`). The changes of a
    trip after its inspection carry its disposition too: trips are counted by their id."""
    also = f" AND {having}" if having else ""
    return Query(f'SELECT count(distinct("trip_id")) AS "{alias}" FROM "{STATES}" WHERE '
                 f"$timeFilter AND {where} AND \"disposition_actual\" != ''{also}")


def _state_mappings() -> list[dict[str, Any]]:
    return [{"type": "value", "options": {
        state: {"color": colour, "text": state.replace("_", " "), "index": i}
        for i, (state, colour) in enumerate(STATE_COLOURS.items())}}]


def geomap(title: str, query: Query, *, colour_by: str = "", description: str = "",
           width: int = 24, height: int = 14, layer: str = "markers") -> Panel:
    """Markers at `lat`/`lon`; the query must be `table` formatted, or Grafana splits lat
    and lon into frames the map cannot pair."""
    style: dict[str, Any] = {"size": {"fixed": 6}, "opacity": 0.8,
                             "color": {"fixed": "blue"}}
    if colour_by:
        style["color"] = {"field": colour_by, "fixed": "blue"}
    return Panel(
        title, "geomap", [query], width=width, height=height, description=description,
        mappings=_state_mappings() if colour_by else [],
        options={
            "view": {"id": "fit", "lat": 51, "lon": 10, "zoom": 5, "allLayers": True},
            "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
            "basemap": {"type": "default", "name": "Basemap"},
            "layers": [{
                # "route": a line through the rows in time order (Grafana 10+).
                "type": layer, "name": title,
                "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                "config": {"style": style, "showLegend": bool(colour_by)},
                "tooltip": True,
            }],
            "tooltip": {"mode": "details"},
        },
    )


def table(title: str, query: Query, *, width: int = 12, height: int = 8,
          description: str = "", unit: str = "",
          units: dict[str, str] | None = None,
          transformations: list[dict[str, Any]] | None = None) -> Panel:
    """`units`: column -> unit, where the columns differ."""
    return Panel(title, "table", [query], width=width, height=height, unit=unit,
                 description=description, mappings=_state_mappings(),
                 overrides=[_unit_of(column, its) for column, its in (units or {}).items()],
                 transformations=transformations or [],
                 options={"showHeader": True, "cellHeight": "sm"})


def _unit_of(column: str, unit: str) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": column},
            "properties": [{"id": "unit", "value": unit}]}


def stat(title: str, query: Query | list[Query], *, colour: str = "blue", width: int = 4,
         height: int = 4, description: str = "", unit: str = "", named: bool = False) -> Panel:
    """`named`: several values (queries or columns), each shown with its name."""
    return Panel(title, "stat", query if isinstance(query, list) else [query], width=width,
                 height=height, description=description, unit=unit,
                 thresholds=[(None, colour)],
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                            "values": False},
                          "colorMode": "background", "graphMode": "none",
                          "textMode": "value_and_name" if named else "value"})


def bars(title: str, queries: list[Query], *, width: int = 12, height: int = 8,
         description: str = "", x_field: str = "", stacked: bool = False, unit: str = "",
         transformations: list[dict[str, Any]] | None = None) -> Panel:
    options: dict[str, Any] = {"orientation": "horizontal", "showValue": "auto",
                               "legend": {"showLegend": True, "displayMode": "list",
                                          "placement": "bottom"}}
    if x_field:
        options["xField"] = x_field
    if stacked:
        options["stacking"] = "normal"
    return Panel(title, "barchart", queries, width=width, height=height,
                 description=description, options=options, unit=unit,
                 transformations=transformations or [])


def timeseries(title: str, queries: list[Query], *, unit: str = "", width: int = 12,
               height: int = 8, description: str = "",
               overrides: list[dict[str, Any]] | None = None) -> Panel:
    return Panel(title, "timeseries", queries, width=width, height=height, unit=unit,
                 description=description, overrides=overrides or [],
                 field_config={"custom": {"spanNulls": True, "lineWidth": 1,
                                          "showPoints": "never"}},
                 options={"legend": {"showLegend": True, "displayMode": "list",
                                     "placement": "bottom"},
                          "tooltip": {"mode": "multi"}})


def _dashed(name: str, colour: str) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name}, "properties": [
        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
        {"id": "color", "value": {"mode": "fixed", "fixedColor": colour}},
    ]}


# --- Fleet map --------------------------------------------------------------------------

def fleet_map() -> Dashboard:
    states = ("in_transit", "overdue", "out_of_spec", "recalled", "received", "returned")
    return Dashboard(
        uid="boomerang-fleet-map", title="Boomerang / Fleet map",
        description="Where is every tracked asset now, and what state is it in?",
        variables=[FLOW, KIND, CUSTOMER], time_from="now-2d",
        rows=[
            [stat(f"{state.replace('_', ' ').capitalize()}",
                  count_of(FILTERS, f"\"state\" = '{state}'", state),
                  colour=STATE_COLOURS[state],
                  description=f"Assets whose newest state in the range is {state}.")
             for state in states],
            [geomap(
                "Where every asset is now",
                Query(latest({"lat": "lat", "lon": "lon", "state": "state",
                              "sku": "sku", "tag_id": "tag_id"},
                             FILTERS, '"asset_id", "flow", "asset_kind"'), "table"),
                colour_by="state",
                description="Each asset's last known position, coloured by its state: "
                            "blue in transit, orange overdue, purple out of spec, red "
                            "recalled, green received or returned.")],
            [table(
                "Needing attention",
                Query(per_asset(
                    ("state", "open_alerts", "sku", "tag_id", "days_overdue", "lat", "lon"),
                    {"state": "state", "sku": "sku", "tag_id": "tag_id",
                     "days_overdue": "days_overdue", "lat": "lat", "lon": "lon",
                     "open_alerts": "open_alerts"},
                    FILTERS, "\"open_alerts\" > 0",
                    '"asset_id", "flow", "customer"'), "table"),
                width=24,
                description="Assets with an open alert (open_alerts counts them).")],
        ],
    )


# --- Asset detail -----------------------------------------------------------------------

def asset_detail() -> Dashboard:
    mine = "\"asset_id\" = '$asset'"
    condition_rows: list[list[Panel]] = []
    row: list[Panel] = []
    for field, title, unit in METRICS:
        row.append(timeseries(
            title,
            [Query(f'SELECT mean("{field}") AS "{field}" FROM "telemetry" WHERE {mine} '
                   "AND $timeFilter GROUP BY time($__interval) fill(none)"),
             Query(f'SELECT last("{field}_min") AS "min", last("{field}_max") AS "max" '
                   f'FROM "{STATES}" WHERE {mine} AND $timeFilter '
                   "GROUP BY time($__interval) fill(previous)")],
            unit=unit, width=8,
            description=f"{title} as reported; dashed red: the limits of the asset's "
                        "profile.",
            overrides=[_dashed("min", "red"), _dashed("max", "red")]))
        if len(row) == 3:
            condition_rows.append(row)
            row = []
    return Dashboard(
        uid="boomerang-asset", title="Boomerang / Asset detail",
        description="Where has this asset been, in what condition, and what was raised?",
        variables=[ASSET], time_from="now-2d",
        annotations=[Annotation(
            "Alert transitions",
            f'SELECT "summary", "state" FROM "alerts" WHERE {mine} AND $timeFilter',
            text_column="summary", tags_column="state")],
        rows=[
            [geomap("Track",
                    Query(f'SELECT "lat", "lon", "speed_kmh" FROM "telemetry" WHERE {mine} '
                          "AND $timeFilter", "table"),
                    width=16, height=12, layer="route",
                    description="Every position the asset reported in the range."),
             table("State now",
                   Query(latest({"state": "state", "sku": "sku", "serial": "serial",
                                 "lot": "lot", "tag_id": "tag_id", "transit_s": "transit_s",
                                 "due_in_s": "due_in_s"},
                                mine, '"asset_id", "flow", "asset_kind", "customer"'),
                         "table"),
                   width=8, height=12,
                   description="The asset's newest state; trip time in seconds.")],
            *condition_rows,
            [table("Alerts",
                   Query(f'SELECT "state", "summary", "value" FROM "alerts" WHERE {mine} '
                         'AND $timeFilter GROUP BY "kind", "severity"', "table"),
                   width=24,
                   description="Every alert transition of the asset in the range.")],
        ],
    )


# --- Returns ----------------------------------------------------------------------------

def returns() -> Dashboard:
    shipments = "\"asset_kind\" = 'shipment' AND \"flow\" =~ /^$flow$/"
    # Trips of the return and recall machines: every flow but rentals', whatever the asset.
    trips = "\"flow\" =~ /^$flow$/ AND \"flow\" != 'rental_return'"
    by_flow = '"flow"'
    by_pair = {"id": "groupBy", "options": {"fields": {
        "disposition_recommended": {"operation": "groupby", "aggregations": []},
        "disposition_actual": {"operation": "groupby", "aggregations": []},
        "trip_id": {"operation": "aggregate", "aggregations": ["distinctCount"]}}}}
    pair_names = {"id": "organize", "options": {"renameByName": {
        "disposition_recommended": "recommended", "disposition_actual": "actual",
        "trip_id (distinctCount)": "trips"}}}
    # Each asset on its way with an estimate of arrival, from its newest point.
    on_the_way = newest_point(("eta_h", "late_probability", "trip_status", "sku", "tag_id"),
                              trips, '"asset_id", "flow"')
    inspections = f"{trips} AND {matching(INSPECTION_STATUSES)}"
    repairs = ("\"flow\" =~ /^$flow$/ AND \"flow\" = 'warranty_repair' AND "
               "\"status\" = 'dispositioned'")
    recalls = "\"flow\" =~ /^$flow$/ AND \"flow\" = 'recall'"

    def arrivals_by(tag: str, name: str) -> Panel:
        return table(f"Arrivals by {name}", arrival_figures(trips, tag), units=ARRIVAL_UNITS,
                     description=f"Trips that arrived in the range, per {name}: transit "
                                 "time (median, 90th percentile), alerts per trip, and the "
                                 "shares with a temperature, humidity or light excursion, "
                                 "with shock or tilt damage, and late.")

    return Dashboard(
        uid="boomerang-returns", title="Boomerang / Returns",
        description="What is on its way back, per flow, and where is each trip in its "
                    "pipeline; when will it arrive, and will it be late; how long does it "
                    "take, per flow, hub, lane, carrier; what goes wrong on the way, per SKU, "
                    "packaging, carrier, lane; why was it returned; what should happen to "
                    "what arrived, and did it; how far along is a recall?",
        variables=[FLOW],
        rows=[
            [bars("In transit per flow",
                  [count_of(shipments, "\"state\" != 'received'", "in transit", by_flow)],
                  x_field="flow",
                  description="Shipments not yet received, by reverse-logistics flow."),
             bars("Received per flow",
                  [count_of(shipments, "\"state\" = 'received'", "received", by_flow)],
                  x_field="flow",
                  description="Shipments received in the range, by flow.")],
            [bars("Trips by status and flow",
                  [count_of(trips, f"\"trip_status\" = '{status}'", status, by_flow,
                            fields=("trip_status",))
                   for status in TRIP_STATUSES],
                  x_field="flow", stacked=True, width=24,
                  transformations=[{"id": "joinByField",
                                    "options": {"byField": "flow", "mode": "outer"}}],
                  description="The pipeline now: each asset's newest trip status in the "
                              "range, per flow. Returns go authorized, in transit, arrived, "
                              "inspected, dispositioned; recalls identified, located, in "
                              "transit, received. Closed, remedied and destroyed trips are "
                              "done and not shown.")],
            [table("Transit times of received shipments (hours)",
                   Query("SELECT mean(\"transit_s\") / 3600 AS \"mean\", "
                         "percentile(\"transit_s\", 90) / 3600 AS \"p90\", "
                         "max(\"transit_s\") / 3600 AS \"max\" FROM ("
                         + latest({"transit_s": "transit_s", "state": "state"}, shipments,
                                  '"asset_id", "flow"')
                         + ") WHERE \"state\" = 'received' GROUP BY \"flow\"", "table"),
                   description="From the first reading of the trip to arrival."),
             table("Late returns", overdue_assets(shipments, '"asset_id", "flow"'),
                   description="Shipments past their due date (plus grace), not received.")],
            [stat("Predicted late",
                  Query(f'SELECT count("late_probability") AS "predicted late" FROM '
                        f'({on_the_way}) WHERE "late_probability" >= 0.5'),
                  colour="orange", width=6, height=8,
                  description="Trips on their way whose estimate of arrival gives them an "
                              "even chance or more of arriving after their due date "
                              "(docs/eta.md), on each asset's newest point."),
             table("Estimated arrival of trips on their way",
                   Query(f'SELECT "eta_h", "late_probability", "trip_status", "sku", "tag_id" '
                         f'FROM ({on_the_way}) WHERE "eta_h" >= 0 GROUP BY "asset_id", "flow"',
                         "table"),
                   width=18, units={"eta_h": "h", "late_probability": "percentunit"},
                   description="Each trip on its way with an estimate: the median hours left "
                               "to its destination (eta_h) and the chance that it arrives "
                               "after its due date.")],
            [arrivals_by("flow", "flow"), arrivals_by("hub", "hub")],
            [arrivals_by("lane", "lane"), arrivals_by("carrier", "carrier")],
            [arrivals_by("sku", "SKU"), arrivals_by("packaging", "packaging")],
            [bars("Dispositions recommended at receipt",
                  [Query(f'SELECT count("disposition") AS "{d}" FROM "{STATES}" WHERE '
                         f"$timeFilter AND {shipments} AND {AT_ARRIVAL} AND "
                         f"\"disposition\" = '{d}'")
                   for d in DISPOSITIONS],
                  description="The disposition policy's recommendation at each arrival in "
                              "the range: the operator's rules, then the defaults (quarantine "
                              "a recall, repair a warranty return, refurbish a trade-in, "
                              "recycle at end of life, inspect what went out of spec, "
                              "restock the rest)."),
             table("Received in the range",
                   arrivals(shipments, "received", ("disposition", "transit_s", "sku", "serial"),
                            '"asset_id", "flow"'),
                   description="Each arrival with its recommended disposition.")],
            [table("Dispositions recommended against actual",
                   Query('SELECT "trip_id", "disposition_recommended", "disposition_actual" '
                         f"FROM \"{STATES}\" WHERE $timeFilter AND {trips} AND "
                         "\"disposition_actual\" != ''", "table"),
                   width=16, transformations=[by_pair, pair_names],
                   description="Trips inspected in the range (or changed in it after an "
                               "earlier inspection), by the disposition recommended at "
                               "arrival and the one the inspection chose."),
             stat("Recommendation followed",
                  [inspected_trips(trips, "followed",
                                   "\"disposition_actual\" = \"disposition_recommended\""),
                   inspected_trips(trips, "inspected")],
                  colour="green", width=8, height=8, named=True,
                  description="Of the trips inspected in the range (as in the table), "
                              "those whose inspection chose the recommended disposition.")],
            [bars("Disposition mix",
                  [Query(f'SELECT count("changes") AS "trips" FROM "{TRIPS}" WHERE $timeFilter '
                         f"AND {inspections} AND \"actual\" != '' GROUP BY \"actual\"",
                         "table")],
                  x_field="actual",
                  description="Trips inspected in the range, by the disposition the "
                              "inspection chose."),
             stat("Recommendation match rate",
                  Query(f'SELECT mean("matched") AS "matched" FROM "{TRIPS}" WHERE '
                        f"$timeFilter AND {inspections}"),
                  unit="percentunit", colour="green", width=6, height=8,
                  description="Of the trips inspected in the range, the share whose "
                              "inspection chose the disposition recommended at arrival."),
             stat("Warranty repair turnaround (hours)",
                  Query('SELECT percentile("since_arrival_h", 50) AS "p50", '
                        'percentile("since_arrival_h", 90) AS "p90", '
                        f'count("since_arrival_h") AS "repairs" FROM "{TRIPS}" WHERE '
                        f"$timeFilter AND {repairs}"),
                  colour="purple", width=6, height=8, named=True,
                  description="Warranty repairs dispositioned in the range: hours from "
                              "arrival to disposition, median and 90th percentile.")],
            [bars("Return reasons by SKU",
                  [Query(f'SELECT count("changes") AS "trips" FROM "{TRIPS}" WHERE $timeFilter '
                         f"AND {trips} AND \"status\" = 'authorized' GROUP BY \"sku\", "
                         '"reason"', "table")],
                  stacked=True,
                  transformations=[{"id": "groupingToMatrix", "options": {
                      "columnField": "reason", "rowField": "sku", "valueField": "trips",
                      "emptyValue": "zero"}}],
                  description="Returns authorized in the range, per SKU, by the reason "
                              "given."),
             timeseries("Recall recovery",
                        [*(reached(recalls, status, alias) for status, alias in RECALL_STEPS),
                         Query('SELECT cumulative_sum(sum("n")) AS "still missing" FROM '
                               f'(SELECT "changes" AS "n" FROM "{TRIPS}" WHERE $timeFilter '
                               f"AND {recalls} AND \"status\" = 'identified'), "
                               f'(SELECT -1 * "changes" AS "n" FROM "{TRIPS}" WHERE '
                               f"$timeFilter AND {recalls} AND \"status\" = 'located') "
                               "WHERE $timeFilter GROUP BY time($__interval) fill(0)")],
                        description="Recall trips opened in the range: how many had been "
                                    "recalled, located (their tag's first position), were "
                                    "collected (in transit), received, remedied or "
                                    "destroyed by each moment; still missing: recalled and "
                                    "not located.")],
        ],
    )


# --- Rentals ----------------------------------------------------------------------------

def rentals() -> Dashboard:
    mine = "\"asset_kind\" = 'rental' AND \"customer\" =~ /^$customer$/"
    rental_trips = "\"flow\" = 'rental_return' AND \"customer\" =~ /^$customer$/"
    week = 7 * 86_400
    # out_with_customer is 0 or 1 at every point, and rentals get one every snapshot
    # interval: its mean over the range is the share of the range they were out.
    out_share = 'mean("out_with_customer") AS "utilization"'
    turnaround = ('mean("turnaround_h") AS "turnaround mean", '
                  'percentile("turnaround_h", 90) AS "turnaround p90"')
    available = {"available": "available", "sku": "sku", "tag_id": "tag_id",
                 "trip_status": "trip_status"}
    return Dashboard(
        uid="boomerang-rentals", title="Boomerang / Rentals",
        description="What is out, what is due this week, who is late and by how long, "
                    "what came back, how much of the time is the fleet out, how long does "
                    "it take to get back out, per rental and per asset class, what can go "
                    "out now?",
        variables=[CUSTOMER],
        rows=[
            [stat("Out with customers", count_of(mine, "\"state\" != 'returned'", "out"),
                  width=6),
             stat("Due this week",
                  count_of(mine, f"\"state\" != 'returned' AND \"due_in_s\" >= 0 AND "
                                 f"\"due_in_s\" < {week}", "due"),
                  colour="yellow", width=6),
             stat("Overdue", count_of(mine, "\"overdue\" = 1", "overdue"), colour="orange",
                  width=6),
             stat("Returned", count_of(mine, "\"state\" = 'returned'", "returned"),
                  colour="green", width=6)],
            [stat("Utilization",
                  Query(f'SELECT {out_share} FROM "{STATES}" WHERE $timeFilter AND {mine}'),
                  unit="percentunit", width=6,
                  description="The share of the range the rentals were out with customers "
                              "(checked out, not yet returned), over the fleet."),
             stat("Turnaround (hours)",
                  Query(f'SELECT {turnaround} FROM "{STATES}" WHERE $timeFilter AND {mine}'),
                  unit="h", colour="purple", width=6, named=True,
                  description="From returned to available again, of the rentals made "
                              "available in the range: mean and 90th percentile."),
             stat("Made available in the range",
                  Query(f'SELECT count("turnaround_h") AS "made available" FROM "{STATES}" '
                        f"WHERE $timeFilter AND {mine}"),
                  colour="blue", width=6,
                  description="Rentals inspected and made available again (the trips the "
                              "turnaround is of)."),
             stat("Available now",
                  count_of(mine, "\"available\" = 1", "available", fields=("available",)),
                  colour="green", width=6,
                  description="Rentals whose newest point in the range says available: "
                              "their last trip is over, or they never went out.")],
            [bars("Overdue by customer",
                  [count_of(mine, "\"overdue\" = 1", "overdue", '"customer"')],
                  x_field="customer",
                  description="Rentals past due (plus grace) and not returned."),
             table("Overdue rentals, by days", overdue_assets(mine, '"asset_id", "customer"'),
                   description="Days past the due date, per rental.")],
            [table("Due this week",
                   Query(per_asset(("due_in_s", "sku", "tag_id"),
                                   {"due_in_s": "due_in_s", "sku": "sku",
                                    "tag_id": "tag_id", "state": "state"},
                                   mine, f"\"state\" != 'returned' AND \"due_in_s\" >= 0 "
                                         f"AND \"due_in_s\" < {week}",
                                   '"asset_id", "customer"'), "table"),
                   unit="s", description="Seconds until due."),
             table("Returned in the range",
                   arrivals(mine, "returned", ("transit_s", "sku", "disposition"),
                            '"asset_id", "customer"'),
                   description="Each return with the time it was out (seconds).")],
            [table("Utilization and turnaround per rental",
                   Query(f'SELECT {out_share}, {turnaround} FROM "{STATES}" WHERE '
                         f'$timeFilter AND {mine} GROUP BY "asset_id"', "table"),
                   units={"utilization": "percentunit", "turnaround mean": "h",
                          "turnaround p90": "h"},
                   description="Each rental's share of the range out with customers, and "
                               "its turnarounds in the range."),
             table("Rentals available now",
                   Query(per_asset(("sku", "tag_id", "trip_status"), available, mine,
                                   "\"available\" = 1", '"asset_id"'), "table"),
                   description="Rentals ready to go out: their newest point in the range "
                               "says available.")],
            [bars("Utilization by asset class",
                  [Query(f'SELECT {out_share} FROM "{STATES}" WHERE $timeFilter AND {mine} '
                         'GROUP BY "category"', "table")],
                  x_field="category", unit="percentunit",
                  description="The share of the range the rentals of each class (the "
                              "asset's category) were out with customers."),
             table("Turnaround by asset class (hours)",
                   Query('SELECT count("since_arrival_h") AS "made available", '
                         'mean("since_arrival_h") AS "mean", '
                         'percentile("since_arrival_h", 50) AS "p50", '
                         'percentile("since_arrival_h", 90) AS "p90" '
                         f'FROM "{TRIPS}" WHERE $timeFilter AND {rental_trips} AND '
                         "\"status\" = 'available' GROUP BY \"category\"", "table"),
                   unit="h", units={"made available": "none"},
                   description="From returned to available again, of the rentals made "
                               "available in the range, per class.")],
        ],
    )


# --- Recalls ----------------------------------------------------------------------------

def recalls() -> Dashboard:
    mine = "\"flow\" =~ /^$flow$/"
    # Still out: an open recall on an asset that has not arrived (the state says recalled).
    out = "\"recalled\" = 1 AND \"state\" = 'recalled'"
    columns = ("lat", "lon", "state", "sku", "serial", "lot", "tag_id")
    fields = {"lat": "lat", "lon": "lon", "state": "state", "sku": "sku", "serial": "serial",
              "lot": "lot", "tag_id": "tag_id", "recalled": "recalled", "located": "located"}
    by = '"asset_id", "flow"'
    located = Query(per_asset(columns, fields, mine, f"{out} AND \"located\" = 1", by),
                    "table")
    missing = Query(per_asset(("sku", "serial", "lot", "tag_id"), fields, mine,
                              f"{out} AND \"located\" = 0", by), "table")
    return Dashboard(
        uid="boomerang-recalls", title="Boomerang / Recalls",
        description="Which recalled items have we located, where are they, which are still "
                    "missing?",
        variables=[FLOW],
        rows=[
            [stat("Recalled, still out", count_of(mine, out, "recalled"), colour="red",
                  width=6,
                  description="Items with an open recall alert, not yet at their "
                              "destination or in quarantine."),
             stat("Never located",
                  count_of(mine, f"{out} AND \"located\" = 0", "missing"),
                  colour="purple", width=6,
                  description="Recalled items still out whose tag has reported no position."),
             stat("Recall hits in the range",
                  Query("SELECT count(\"alert_id\") AS \"hits\" FROM \"alerts\" WHERE "
                        "$timeFilter AND \"kind\" = 'recall' AND \"state\" = 'open'"),
                  colour="orange", width=6),
             stat("Recall alerts resolved in the range",
                  Query("SELECT count(\"alert_id\") AS \"resolved\" FROM \"alerts\" WHERE "
                        "$timeFilter AND \"kind\" = 'recall' AND \"state\" = 'resolved'"),
                  colour="green", width=6,
                  description="Items brought to their destination or to quarantine, or "
                              "resolved by hand.")],
            [geomap("Where the recalled items are", located, colour_by="state",
                    width=14, height=12),
             table("Recalled items located", located, width=10, height=12,
                   description="Last known position of each recalled item still out.")],
            [table("Recalled items never located", missing, width=10,
                   description="Still out, and no position from their tag: ask the "
                               "customer, or check the tag."),
             table("Recall alerts",
                   Query("SELECT \"state\", \"summary\" FROM \"alerts\" WHERE $timeFilter "
                         "AND \"kind\" = 'recall' GROUP BY \"asset_id\"", "table"),
                   width=14, description="Every recall alert transition in the range.")],
        ],
    )


# --- Gateway health ---------------------------------------------------------------------

def gateway_health() -> Dashboard:
    mine = "\"instance\" =~ /^$instance$/"

    def rate(field: str, alias: str) -> Query:
        return Query(f'SELECT non_negative_derivative(max("{field}"), 1s) AS "{alias}" '
                     f'FROM "gateway_stats" WHERE $timeFilter AND {mine} '
                     'GROUP BY time($__interval), "instance" fill(none)')

    def gauge(field: str, alias: str) -> Query:
        return Query(f'SELECT max("{field}") AS "{alias}" FROM "gateway_stats" WHERE '
                     f'$timeFilter AND {mine} GROUP BY time($__interval), "instance" '
                     "fill(none)")

    def increase(field: str, alias: str) -> Query:
        return Query(f'SELECT non_negative_difference(max("{field}")) AS "{alias}" '
                     f'FROM "gateway_stats" WHERE $timeFilter AND {mine} '
                     'GROUP BY time($__interval), "instance" fill(none)')

    return Dashboard(
        uid="boomerang-gateway", title="Boomerang / Gateway health",
        description="Is the gateway keeping up, what does it refuse, are webhooks going "
                    "out?",
        variables=[INSTANCE], time_from="now-6h", refresh="30s",
        rows=[
            [timeseries("Readings per second",
                        [rate("readings", "readings/s"), rate("messages", "messages/s")],
                        unit="reqps"),
             timeseries("Duplicates per second", [rate("duplicates", "duplicates/s")],
                        unit="reqps",
                        description="Readings dropped as (tag_id, seq) seen before.")],
            [timeseries("Dead letters per second, by cause",
                        [Query('SELECT non_negative_derivative(max("count"), 1s) FROM '
                               f'"gateway_dead_letters" WHERE $timeFilter AND {mine} '
                               'GROUP BY time($__interval), "cause", "instance" fill(none)')],
                        unit="reqps"),
             # Increments between consecutive points of each gateway's counter, summed:
             # right across several gateways, and a restart's drop to 0 is not negative.
             bars("Dead letters in the range, by cause",
                  [Query('SELECT sum("d") AS "dead letters" FROM (SELECT '
                         'non_negative_difference("count") AS "d" FROM "gateway_dead_letters" '
                         f'WHERE $timeFilter AND {mine} GROUP BY "cause", "instance") '
                         'GROUP BY "cause"', "table")],
                  x_field="cause",
                  description="Why readings were refused (see /api/v1/dead-letters).")],
            [timeseries("Spool and buffers",
                        [gauge("spool_points", "spooled"),
                         gauge("points_buffered", "buffered")],
                        description="Points waiting for InfluxDB: on disk (spool) and in "
                                    "memory."),
             timeseries("Webhook deliveries per second",
                        [rate("webhook_delivered", "delivered/s"),
                         rate("webhook_retried", "retried/s"),
                         rate("webhook_failed", "failed/s")],
                        unit="reqps",
                        overrides=[{"matcher": {"id": "byName", "options": "failed/s"},
                                    "properties": [{"id": "color", "value": {
                                        "mode": "fixed", "fixedColor": "red"}}]}])],
            [timeseries("Outbox", [gauge("outbox_pending", "pending deliveries")]),
             timeseries("Alert transitions",
                        [Query('SELECT count("alert_id") FROM "alerts" WHERE $timeFilter '
                               'GROUP BY time($__interval), "kind" fill(none)')],
                        description="Alert transitions by kind (opened, updated, "
                                    "acknowledged, resolved).")],
            # A cluster of gateways (BOOMERANG_NATS_URL; docs/operations.md, "A cluster of
            # gateways"): zero throughout for one gateway alone.
            [timeseries("Cluster: partitions judged, relay",
                        [gauge("partitions_owned", "partitions"), gauge("relay", "relay")],
                        width=8,
                        description="The partitions each gateway judges (together, "
                                    "BOOMERANG_PARTITIONS) and which one relays the "
                                    "broker's messages (1)."),
             timeseries("Cluster: waiting",
                        [gauge("partition_lag", "in the stream"),
                         gauge("unacknowledged", "judged, not yet stored")],
                        width=8,
                        description="Messages of a gateway's partitions not yet delivered "
                                    "to it, and those it judged that wait to be stored "
                                    "and acknowledged: growing, it falls behind."),
             timeseries("Cluster: takeovers and refusals",
                        [increase("takeovers", "partitions taken"),
                         increase("partitions_lost", "partitions lost"),
                         increase("fenced_writes", "writes fenced"),
                         increase("lease_renewals_failed", "renewals failed")],
                        width=8,
                        description="Partitions taken (at start, from a gateway gone, in a "
                                    "rebalance); lost without giving them back (a lease "
                                    "lapsed: paused, cut off) and the late writes refused "
                                    "then; lease renewals that failed.")],
        ],
    )


def all_dashboards() -> list[Dashboard]:
    return [fleet_map(), asset_detail(), returns(), rentals(), recalls(), gateway_health()]
