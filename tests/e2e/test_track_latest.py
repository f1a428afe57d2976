"""Position and condition history on real servers: readings published over MQTT come back
from `/assets/{id}/track` and `/tags/{tag_id}/latest`, once with the gateway on InfluxDB and
once on SQLite."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from support.common import free_port, wait_until
from support.gateways import GatewayProcess, run_gateway
from support.servers import InfluxDB, Mosquitto, publisher

from ingest.sinks import InfluxQLTelemetryReader, InfluxV1Sink, Point

TAG, OTHER_TAG = "tag-g", "tag-h"


def publish(client: mqtt.Client, topic: str, payload: dict[str, object]) -> None:
    """QoS 1, waiting for a PUBACK that accepts it, so that the order of publishing is the
    order of arrival."""
    codes: list[int] = []
    client.on_publish = lambda _c, _u, _mid, reason, _p: codes.append(reason.value)
    client.publish(topic, orjson.dumps(payload), qos=1).wait_for_publish(10)
    wait_until(lambda: bool(codes), 10, "PUBACK")
    assert codes == [0], f"the broker refused the publish: {codes}"


@dataclass
class Server:
    backend: str
    gateway: GatewayProcess
    stored: Callable[[str], int]
    """How many readings of a tag the telemetry store holds, asked of the store itself."""

    def api(self) -> httpx.Client:
        return self.gateway.client()


def gateway_env(mosquitto: Mosquitto) -> dict[str, str]:
    return {
        "BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
    }


@pytest.fixture(scope="module", params=["influxdb", "sqlite"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
    mosquitto: Mosquitto, state_engine: str,
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp(f"gateway-{request.param}")
    env = gateway_env(mosquitto)
    if request.param == "influxdb":
        influx: InfluxDB = request.getfixturevalue("influxdb")
        database = f"track_{uuid.uuid4().hex[:8]}"
        influx.create_database(database)
        env |= {"BOOMERANG_INFLUX_URL": influx.url, "BOOMERANG_INFLUX_DB": database}

        def stored(tag_id: str) -> int:
            return influx.count(database, f"SELECT count(seq) FROM telemetry "
                                          f"WHERE tag_id='{tag_id}'")
    else:
        telemetry_db = workdir / "data" / "telemetry.db"

        def stored(tag_id: str) -> int:
            with contextlib.closing(sqlite3.connect(telemetry_db)) as db:
                row = db.execute("SELECT count(*) FROM telemetry WHERE tag_id=?", (tag_id,))
                return int(row.fetchone()[0])
    with run_gateway(workdir, env) as gateway:
        yield Server(request.param, gateway, stored)


def rfc3339(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def reading(ts: datetime, seq: int, **values: float) -> dict[str, object]:
    return {"ts": rfc3339(ts), "seq": seq, **values}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def pairs(series: list[list[Any]]) -> list[tuple[datetime, float]]:
    return [(at(ts), value) for ts, value in series]


@dataclass
class Scenario:
    asset_id: str
    start: datetime
    """Reading k of the trip is at start + k minutes; `old` is three days before."""

    def k(self, minutes: int) -> datetime:
        return self.start + timedelta(minutes=minutes)

    @property
    def old(self) -> datetime:
        return self.start - timedelta(days=3)


@pytest.fixture(scope="module")
def scenario(server: Server, mosquitto: Mosquitto) -> Scenario:
    """An asset on tag-g and its trip, published out of order; some readings have no
    position, one is three days old, the newest by reading time is published next to last."""
    asset_id = f"trk-{uuid.uuid4().hex[:8]}"
    with server.api() as api:
        api.post("/api/v1/assets", json={"id": asset_id, "tag_id": TAG, "kind": "shipment",
                                         "flow": "customer_return"}).raise_for_status()
    # Whole minutes would hide a loss of sub-second precision.
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(second=0, microsecond=123456)
    s = Scenario(asset_id, start)
    client = publisher(mosquitto.port, TAG)
    topic = f"tags/{TAG}/telemetry"
    publish(client, topic, reading(s.old, 1, lat=50.0, lon=8.0, temp_c=20.0))
    publish(client, topic, reading(s.k(0), 2, lat=52.52, lon=13.405, accuracy_m=8, temp_c=5.0,
                                   battery_pct=90))
    publish(client, topic, reading(s.k(2), 4, lat=52.522, lon=13.407, temp_c=6.0,
                                   speed_kmh=30))
    publish(client, topic, reading(s.k(1), 3, lat=52.521, lon=13.406, temp_c=5.5))
    publish(client, topic, {"readings": [
        reading(s.k(3), 5, temp_c=7.0, shock_g=2.5),
        reading(s.k(4), 6, lat=52.524, lon=13.409, temp_c=7.5),
    ]})
    publish(client, topic, reading(s.k(6), 8, temp_c=8.0, battery_pct=85, tilt_deg=10))
    publish(client, topic, reading(s.k(5), 7, lat=52.525, lon=13.41, light_lux=3))
    client.disconnect()
    wait_until(lambda: server.stored(TAG) == 8, 20, f"8 readings of {TAG} stored")
    return s


def track(server: Server, asset_id: str, **params: object) -> httpx.Response:
    with server.api() as api:
        return api.get(f"/api/v1/assets/{asset_id}/track", params=params)


def test_track_is_the_located_readings_in_time_order_as_lon_lat(
    server: Server, scenario: Scenario
) -> None:
    response = track(server, scenario.asset_id)
    assert response.status_code == 200, response.text
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "LineString", "coordinates": [
        [13.405, 52.52], [13.406, 52.521], [13.407, 52.522], [13.409, 52.524], [13.41, 52.525],
    ]}
    props = feature["properties"]
    assert [at(t) for t in props["times"]] == [scenario.k(m) for m in (0, 1, 2, 4, 5)]
    assert props["asset_id"] == scenario.asset_id and props["tag_id"] == TAG
    assert props["points"] == 5 and props["readings"] == 7  # the 3-day-old one is outside
    assert props["truncated"] is False and props["next_from"] is None
    assert props["limit"] == 10_000
    # The default window: the last 24 hours, up to the 5 minutes tag clocks may run ahead.
    now = datetime.now(UTC)
    assert at(props["to"]) - at(props["from"]) == timedelta(hours=24)
    assert now < at(props["to"]) <= now + timedelta(minutes=5)


def test_track_carries_each_present_measurement_as_a_time_value_series(
    server: Server, scenario: Scenario
) -> None:
    series = track(server, scenario.asset_id).json()["properties"]["series"]
    k = scenario.k
    assert set(series) == {"temp_c", "battery_pct", "accuracy_m", "speed_kmh", "shock_g",
                           "tilt_deg", "light_lux"}  # no humidity_pct was ever sent
    assert pairs(series["temp_c"]) == [(k(0), 5.0), (k(1), 5.5), (k(2), 6.0), (k(3), 7.0),
                                       (k(4), 7.5), (k(6), 8.0)]
    assert pairs(series["battery_pct"]) == [(k(0), 90.0), (k(6), 85.0)]
    assert pairs(series["shock_g"]) == [(k(3), 2.5)]
    assert pairs(series["speed_kmh"]) == [(k(2), 30.0)]
    assert pairs(series["accuracy_m"]) == [(k(0), 8.0)]
    assert pairs(series["tilt_deg"]) == [(k(6), 10.0)]
    assert pairs(series["light_lux"]) == [(k(5), 3.0)]


def test_track_window_includes_from_and_excludes_to(server: Server, scenario: Scenario) -> None:
    # Offsets other than Z mean the same instants.
    plus_two = timezone(timedelta(hours=2))
    props = track(server, scenario.asset_id, **{
        "from": scenario.k(1).astimezone(plus_two).isoformat(),
        "to": scenario.k(4).astimezone(plus_two).isoformat(),
    }).json()["properties"]
    assert [at(t) for t in props["times"]] == [scenario.k(1), scenario.k(2)]
    assert props["readings"] == 3  # k1, k2 and the unlocated k3
    assert at(props["from"]) == scenario.k(1) and at(props["to"]) == scenario.k(4)

    wide = track(server, scenario.asset_id, **{
        "from": rfc3339(scenario.old - timedelta(days=1)), "to": rfc3339(scenario.k(60)),
    }).json()
    assert wide["geometry"]["coordinates"][0] == [8.0, 50.0]
    assert at(wide["properties"]["times"][0]) == scenario.old
    assert wide["properties"]["points"] == 6
    widest = track(server, scenario.asset_id, **{
        "from": "0001-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}).json()
    assert widest["geometry"] == wide["geometry"]


def test_track_cut_at_the_limit_keeps_the_oldest_and_says_where_the_rest_begins(
    server: Server, scenario: Scenario
) -> None:
    props = track(server, scenario.asset_id, limit=3).json()["properties"]
    assert props["readings"] == 3 and props["limit"] == 3
    assert [at(t) for t in props["times"]] == [scenario.k(0), scenario.k(1), scenario.k(2)]
    assert props["truncated"] is True
    assert at(props["next_from"]) == scenario.k(3)

    rest = track(server, scenario.asset_id, limit=3, **{"from": props["next_from"]}).json()
    assert [at(t) for t in rest["properties"]["times"]] == [scenario.k(4), scenario.k(5)]
    assert rest["properties"]["readings"] == 3  # k3, k4, k5
    assert rest["properties"]["truncated"] is True
    last = track(server, scenario.asset_id, limit=3,
                 **{"from": rest["properties"]["next_from"]}).json()["properties"]
    assert last["readings"] == 1 and last["truncated"] is False
    assert pairs(last["series"]["tilt_deg"]) == [(scenario.k(6), 10.0)]


def test_track_of_an_empty_range_is_an_empty_line(server: Server, scenario: Scenario) -> None:
    response = track(server, scenario.asset_id, **{
        "from": rfc3339(scenario.old + timedelta(hours=1)),
        "to": rfc3339(scenario.start - timedelta(hours=1)),
    })
    assert response.status_code == 200
    feature = response.json()
    assert feature["geometry"] == {"type": "LineString", "coordinates": []}
    props = feature["properties"]
    assert props["series"] == {} and props["times"] == []
    assert props["points"] == 0 and props["readings"] == 0 and props["truncated"] is False

    untagged = f"trk-{uuid.uuid4().hex[:8]}"
    with server.api() as api:
        api.post("/api/v1/assets", json={"id": untagged, "kind": "rental",
                                         "flow": "rental_return"}).raise_for_status()
    props = track(server, untagged).json()["properties"]
    assert props["tag_id"] is None and props["points"] == 0 and props["series"] == {}


def test_track_refuses_to_before_from_a_time_without_offset_and_a_bad_limit(
    server: Server, scenario: Scenario
) -> None:
    backwards = track(server, scenario.asset_id, **{"from": rfc3339(scenario.k(5)),
                                                   "to": rfc3339(scenario.k(1))})
    assert backwards.status_code == 422
    assert "before" in backwards.text
    naive = track(server, scenario.asset_id, **{"from": "2026-11-29T08:00:00"})
    assert naive.status_code == 422
    for out_of_range in ({"from": "0001-01-01T00:00:00+01:00"},
                         {"to": "0001-01-01T00:00:00Z"}):
        assert track(server, scenario.asset_id, **out_of_range).status_code == 422
    for limit in (0, 100_001):
        assert track(server, scenario.asset_id, limit=limit).status_code == 422
    # An equal `from` and `to` is an empty window, not an error.
    same = track(server, scenario.asset_id, **{"from": rfc3339(scenario.k(1)),
                                               "to": rfc3339(scenario.k(1))})
    assert same.status_code == 200 and same.json()["properties"]["readings"] == 0


def test_track_of_an_unknown_asset_is_404(server: Server) -> None:
    response = track(server, f"nobody-{uuid.uuid4().hex[:8]}")
    assert response.status_code == 404
    assert "nobody-" in response.json()["detail"]


def latest(server: Server, tag_id: str) -> httpx.Response:
    with server.api() as api:
        return api.get(f"/api/v1/tags/{tag_id}/latest")


def test_latest_is_the_newest_by_reading_time_with_the_newest_known_position(
    server: Server, scenario: Scenario
) -> None:
    response = latest(server, TAG)
    assert response.status_code == 200, response.text
    body = response.json()
    # k6 was published before k5, and has no position: the position is k5's.
    assert at(body["ts"]) == scenario.k(6)
    assert body["seq"] == 8
    assert body["values"] == {"temp_c": 8.0, "battery_pct": 85.0, "tilt_deg": 10.0}
    assert body["position"]["lat"] == 52.525 and body["position"]["lon"] == 13.41
    assert at(body["position"]["ts"]) == scenario.k(5)
    assert body["tag_id"] == TAG and body["asset_id"] == scenario.asset_id
    assert body["asset"]["id"] == scenario.asset_id and body["asset"]["tag_id"] == TAG


def test_latest_of_an_unregistered_tag_has_no_asset_and_its_own_position(
    server: Server, mosquitto: Mosquitto
) -> None:
    newer = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=654321)
    client = publisher(mosquitto.port, OTHER_TAG)
    topic = f"tags/{OTHER_TAG}/telemetry"
    publish(client, topic, reading(newer, 2, lat=48.1, lon=11.6, temp_c=21.0, accuracy_m=5))
    publish(client, topic, reading(newer - timedelta(minutes=1), 1, temp_c=20.0))
    client.disconnect()
    wait_until(lambda: server.stored(OTHER_TAG) == 2, 20, f"2 readings of {OTHER_TAG}")

    body = latest(server, OTHER_TAG).json()
    assert at(body["ts"]) == newer and body["seq"] == 2
    assert body["values"] == {"lat": 48.1, "lon": 11.6, "temp_c": 21.0, "accuracy_m": 5.0}
    assert body["position"] == {"lat": 48.1, "lon": 11.6, "ts": body["ts"]}
    assert body["asset_id"] is None and body["asset"] is None


def test_latest_of_a_registered_tag_that_never_reported_has_no_reading(server: Server) -> None:
    tag_id, asset_id = f"quiet-{uuid.uuid4().hex[:8]}", f"trk-{uuid.uuid4().hex[:8]}"
    with server.api() as api:
        api.post("/api/v1/assets", json={"id": asset_id, "tag_id": tag_id, "kind": "rental",
                                         "flow": "rental_return"}).raise_for_status()
    response = latest(server, tag_id)
    assert response.status_code == 200
    body = response.json()
    assert body["asset_id"] == asset_id
    assert body["ts"] is None and body["seq"] is None
    assert body["values"] == {} and body["position"] is None


@pytest.mark.parametrize("tag_id", ["never-seen", "it's", "back\\slash", "quote'); DROP"])
def test_latest_of_a_tag_never_seen_and_not_registered_is_404(
    server: Server, tag_id: str
) -> None:
    response = latest(server, tag_id)
    assert response.status_code == 404, response.text
    assert "never reported" in response.json()["detail"]


def test_history_needs_a_key_and_a_read_key_is_enough(
    server: Server, scenario: Scenario
) -> None:
    with server.api() as api:
        created = api.post("/api/v1/keys", json={"scope": "read", "name": "history test"})
        created.raise_for_status()
        read_key = created.json()["key"]
    paths = (f"/api/v1/assets/{scenario.asset_id}/track", f"/api/v1/tags/{TAG}/latest")
    with httpx.Client(base_url=server.gateway.api, timeout=10) as anonymous:
        for path in paths:
            assert anonymous.get(path).status_code == 401
            assert anonymous.get(
                path, headers={"Authorization": f"Bearer {read_key}"}).status_code == 200


def test_history_is_503_while_influxdb_does_not_answer(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto
) -> None:
    env = gateway_env(mosquitto) | {"BOOMERANG_INFLUX_URL": f"http://127.0.0.1:{free_port()}"}
    with run_gateway(tmp_path_factory.mktemp("gateway-no-influx"), env,
                     telemetry_down=True) as gateway, \
            gateway.client() as api:
        asset_id = f"trk-{uuid.uuid4().hex[:8]}"
        api.post("/api/v1/assets", json={"id": asset_id, "tag_id": "tag-never", "kind": "rental",
                                         "flow": "rental_return"}).raise_for_status()
        response = api.get(f"/api/v1/assets/{asset_id}/track")
        assert response.status_code == 503
        assert "did not answer" in response.json()["detail"]
        assert api.get("/api/v1/tags/tag-never/latest").status_code == 503


async def test_influxql_reader_matches_ids_with_quotes_and_backslashes_exactly(
    influxdb: InfluxDB,
) -> None:
    database = f"escape_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(database)
    tag_ids = ["it's", "it\\'s", "back\\slash", "it"]
    start = datetime.now(UTC) - timedelta(minutes=5)
    sink = InfluxV1Sink(influxdb.url, database)
    await sink.write([
        Point("telemetry", {"tag_id": tag_id, "asset_id": "o'hara"},
              {"temp_c": float(i), "seq": i}, start + timedelta(seconds=i))
        for i, tag_id in enumerate(tag_ids)
    ])
    await sink.close()
    reader = InfluxQLTelemetryReader(influxdb.url, database)
    try:
        for i, tag_id in enumerate(tag_ids):
            found = await reader.latest(tag_id)
            assert found is not None and found.reading.tag_id == tag_id
            assert found.reading.values == {"temp_c": float(i)}
        assert await reader.latest("it\\") is None
        track = await reader.track("o'hara", start, start + timedelta(minutes=1), 10)
        assert [r.tag_id for r in track.readings] == tag_ids
    finally:
        await reader.close()
