"""Profiles, geofences and subscriptions through the REST API of a real gateway: read,
replace and delete with their effect, a name or id taken twice (409), and a bad request
(422) naming the field at fault and changing nothing. None needs a broker or a webhook
that is delivered: the gateway runs in-process (support/inprocess.py), one per module and
engine, shared by the tests as a gateway process would be."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from support.common import wait_until
from support.gateways import unique
from support.inprocess import InProcessApi

from alerts.outbox import DELIVERIES
from ingest.statedb import StateDb

pytestmark = pytest.mark.asyncio(loop_scope="module")


def locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.status_code == 422, response.text
    return [list(error["loc"]) for error in response.json()["detail"]]


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# Profiles -----------------------------------------------------------------------------------


async def test_profiles_are_listed_read_replaced_and_deleted(api: httpx.AsyncClient) -> None:
    name = unique("p")
    profile = created(await api.post("/api/v1/profiles", json={
        "name": name, "description": "frozen", "metrics": {"temp_c": {"max": -15}}}))
    assert profile["built_in"] is False and profile["metrics"]["temp_c"]["max"] == -15

    listed = await api.get("/api/v1/profiles")
    assert listed.status_code == 200
    by_name = {p["name"]: p for p in listed.json()}
    assert by_name[name] == profile
    assert {"cold_chain", "ambient_electronics", "fragile"} <= by_name.keys()
    assert by_name["cold_chain"]["built_in"] is True
    assert by_name["cold_chain"]["metrics"]["temp_c"]["min"] == 2

    read = await api.get(f"/api/v1/profiles/{name}")
    assert read.status_code == 200 and read.json() == profile

    replaced = await api.put(f"/api/v1/profiles/{name}", json={
        "name": name, "metrics": {"temp_c": {"max": -18, "min_duration_s": 60}},
        "silent_after_s": 600})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["metrics"] == {"temp_c": {"min": None, "max": -18,
                                                     "min_duration_s": 60, "hysteresis": 0}}
    assert replaced.json()["silent_after_s"] == 600
    assert replaced.json()["description"] == ""  # replaced whole, not merged
    assert (await api.get(f"/api/v1/profiles/{name}")).json() == replaced.json()

    deleted = await api.delete(f"/api/v1/profiles/{name}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await api.get(f"/api/v1/profiles/{name}")).status_code == 404
    assert name not in {p["name"] for p in (await api.get("/api/v1/profiles")).json()}
    assert (await api.delete(f"/api/v1/profiles/{name}")).status_code == 404
    # The name is free again.
    created(await api.post("/api/v1/profiles", json={"name": name}))


async def test_a_profile_in_use_can_be_replaced_but_not_deleted(api: httpx.AsyncClient) -> None:
    name = unique("p")
    created(await api.post("/api/v1/profiles", json={"name": name}))
    asset = created(await api.post("/api/v1/assets", json={
        "id": unique("a"), "kind": "shipment", "flow": "customer_return", "profile": name}))
    # An asset uses it: it can be replaced, not deleted.
    assert (await api.put(f"/api/v1/profiles/{name}", json={
        "name": name, "battery_below_pct": 20})).json()["battery_below_pct"] == 20
    refused = await api.delete(f"/api/v1/profiles/{name}")
    assert refused.status_code == 409 and asset["id"] in refused.json()["detail"]
    assert (await api.get(f"/api/v1/profiles/{name}")).status_code == 200


async def test_a_profile_name_taken_is_409_and_the_profile_unchanged(
    api: httpx.AsyncClient,
) -> None:
    name = unique("p")
    first = created(await api.post("/api/v1/profiles",
                                   json={"name": name, "description": "first"}))
    again = await api.post("/api/v1/profiles", json={"name": name, "description": "second"})
    assert again.status_code == 409
    assert again.json()["detail"] == f"profile {name} exists"
    assert (await api.get(f"/api/v1/profiles/{name}")).json() == first
    built_in = await api.post("/api/v1/profiles", json={"name": "cold_chain"})
    assert built_in.status_code == 409 and "cold_chain exists" in built_in.json()["detail"]
    assert (await api.get("/api/v1/profiles/cold_chain")).json()["built_in"] is True


@pytest.mark.parametrize(("body", "loc"), [
    ({"name": "not a name!"}, ["body", "name"]),
    ({"metrics": {"temp_c": {"min": 9, "max": 2}}}, ["body", "metrics", "temp_c"]),
    ({"metrics": {"temp_c": {}}}, ["body", "metrics", "temp_c"]),
    ({"metrics": {"colour": {"max": 1}}}, ["body", "metrics", "colour", "[key]"]),
    ({"metrics": {"shock_g": {"max": 3, "hysteresis": -1}}},
     ["body", "metrics", "shock_g", "hysteresis"]),
    ({"silent_after_s": 0}, ["body", "silent_after_s"]),
    ({"battery_below_pct": 101}, ["body", "battery_below_pct"]),
    ({"colour": "red"}, ["body", "colour"]),
])
async def test_an_invalid_profile_is_422_naming_the_field_and_not_made(
    api: httpx.AsyncClient, body: dict[str, Any], loc: list[str]
) -> None:
    name = unique("p")
    response = await api.post("/api/v1/profiles", json={"name": name, **body})
    assert loc in locs(response)
    assert (await api.get(f"/api/v1/profiles/{name}")).status_code == 404


# Geofences ----------------------------------------------------------------------------------


SQUARE = {"type": "Polygon",
          "coordinates": [[[8.0, 50.0], [8.1, 50.0], [8.1, 50.1], [8.0, 50.1], [8.0, 50.0]]]}


async def test_geofences_are_listed_and_read_as_made(api: httpx.AsyncClient) -> None:
    circle = created(await api.post("/api/v1/geofences", json={
        "id": unique("hub"), "name": "Returns hub", "kind": "hub",
        "circle": {"lat": 50.1, "lon": 8.7, "radius_m": 500}}))
    polygon = created(await api.post("/api/v1/geofences", json={
        "name": "Depot", "kind": "depot", "geometry": SQUARE}))
    assert polygon["id"].startswith("geo_") and polygon["geometry"] == SQUARE

    listed = await api.get("/api/v1/geofences")
    assert listed.status_code == 200
    by_id = {fence["id"]: fence for fence in listed.json()}
    assert by_id[circle["id"]] == circle and by_id[polygon["id"]] == polygon

    for fence in (circle, polygon):
        read = await api.get(f"/api/v1/geofences/{fence['id']}")
        assert read.status_code == 200 and read.json() == fence

    assert (await api.delete(f"/api/v1/geofences/{polygon['id']}")).status_code == 204
    assert polygon["id"] not in {f["id"] for f in (await api.get("/api/v1/geofences")).json()}
    assert (await api.get(f"/api/v1/geofences/{polygon['id']}")).status_code == 404


async def test_a_geofence_is_replaced_in_place_and_a_bad_replacement_changes_nothing(
        api: httpx.AsyncClient) -> None:
    fence = created(await api.post("/api/v1/geofences", json={
        "id": unique("depot"), "name": "Old depot", "kind": "depot",
        "circle": {"lat": 50.0, "lon": 8.0, "radius_m": 300}}))
    path = f"/api/v1/geofences/{fence['id']}"
    moved = await api.put(path, json={"name": "New depot", "kind": "depot", "geometry": SQUARE})
    assert moved.status_code == 200, moved.text
    assert (await api.get(path)).json() == {**fence, "name": "New depot", "circle": None,
                                            "geometry": SQUARE}
    for body, loc in (({"id": "other", "name": "X", "kind": "hub", "geometry": SQUARE},
                       ["body", "id"]),
                      ({"name": "X", "kind": "hub",
                        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}},
                       ["body", "geometry"]),
                      ({"name": "X", "kind": "moon", "geometry": SQUARE}, ["body", "kind"])):
        assert loc in locs(await api.put(path, json=body))
    assert (await api.get(path)).json()["name"] == "New depot"
    missing = await api.put("/api/v1/geofences/nowhere", json={"name": "X", "kind": "hub",
                                                                "geometry": SQUARE})
    assert missing.status_code == 404


async def test_a_geofence_id_taken_is_409_and_the_geofence_unchanged(
    api: httpx.AsyncClient,
) -> None:
    fence_id = unique("hub")
    first = created(await api.post("/api/v1/geofences", json={
        "id": fence_id, "name": "North", "kind": "hub",
        "circle": {"lat": 50.0, "lon": 8.0, "radius_m": 100}}))
    again = await api.post("/api/v1/geofences", json={
        "id": fence_id, "name": "South", "kind": "depot", "geometry": SQUARE})
    assert again.status_code == 409
    assert again.json()["detail"] == f"geofence {fence_id} exists"
    assert (await api.get(f"/api/v1/geofences/{fence_id}")).json() == first


@pytest.mark.parametrize(("body", "loc"), [
    ({"circle": {"lat": 91, "lon": 8, "radius_m": 10}}, ["body", "circle", "lat"]),
    ({"circle": {"lat": 50, "lon": 8, "radius_m": 0}}, ["body", "circle", "radius_m"]),
    ({"kind": "castle", "circle": {"lat": 50, "lon": 8, "radius_m": 10}}, ["body", "kind"]),
    ({"name": "", "circle": {"lat": 50, "lon": 8, "radius_m": 10}}, ["body", "name"]),
    ({"id": "no spaces", "circle": {"lat": 50, "lon": 8, "radius_m": 10}}, ["body", "id"]),
    # Checked by the gateway, past the schema:
    ({"geometry": {"type": "Point", "coordinates": [8, 50]}}, ["body", "geometry"]),
    ({"geometry": {"type": "Polygon", "coordinates": [[[8, 50], [9, 51], [8, 51], [9, 50],
                                                       [8, 50]]]}}, ["body", "geometry"]),
    ({"geometry": {"type": "Polygon", "coordinates": [[[8, 50], [200, 50], [8, 51],
                                                       [8, 50]]]}}, ["body", "geometry"]),
])
async def test_an_invalid_geofence_is_422_naming_the_field_and_not_made(
    api: httpx.AsyncClient, body: dict[str, Any], loc: list[str]
) -> None:
    fence_id = unique("fence")
    response = await api.post("/api/v1/geofences", json={
        "id": fence_id, "name": "Bad", "kind": "hub", **body})
    assert loc in locs(response)
    assert (await api.get(f"/api/v1/geofences/{fence_id}")).status_code == 404


async def test_a_geofence_of_both_or_no_shape_is_422_saying_so(api: httpx.AsyncClient) -> None:
    for shapes in ({}, {"circle": {"lat": 50, "lon": 8, "radius_m": 10}, "geometry": SQUARE}):
        response = await api.post("/api/v1/geofences",
                                  json={"name": "Bad", "kind": "hub", **shapes})
        assert locs(response) == [["body"]]  # the object as a whole: no one field is at fault
        assert "exactly one of circle and geometry" in response.json()["detail"][0]["msg"]


# Subscriptions ------------------------------------------------------------------------------


async def subscribe(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return created(await api.post("/api/v1/subscriptions",
                                  json={"url": "http://127.0.0.1:9/hook", **fields}))


async def test_a_deleted_subscription_takes_its_waiting_deliveries_along(
        api: httpx.AsyncClient, in_process: InProcessApi) -> None:
    """Else they would wait forever: no worker sends for a deleted subscription, replay
    answers 404 for it, and the outbox's pending gauge would count them for good. (No
    dispatcher runs in-process: the test delivery waits, as it would for a receiver that
    refuses it.)"""
    subscription = await subscribe(api, description="nobody listens")  # port 9: refused
    assert (await api.post(f"/api/v1/subscriptions/{subscription['id']}/test")
            ).status_code == 202
    state = StateDb.open(in_process.gateway.settings.state_database)
    count = select(func.count()).select_from(DELIVERIES).where(
        DELIVERIES.c.subscription_id == subscription["id"])
    wait_until(lambda: state.scalar(count) == 1, 10, "the test delivery queued")
    assert (await api.delete(f"/api/v1/subscriptions/{subscription['id']}")).status_code == 204
    assert state.scalar(count) == 0
    state.close()


async def test_a_deleted_subscription_is_gone(api: httpx.AsyncClient) -> None:
    subscription = await subscribe(api, description="to delete")
    kept = await subscribe(api, description="to keep")
    deleted = await api.delete(f"/api/v1/subscriptions/{subscription['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await api.get(f"/api/v1/subscriptions/{subscription['id']}")).status_code == 404
    assert (await api.get(f"/api/v1/subscriptions/{subscription['id']}/deliveries")
            ).status_code == 404
    ids = {s["id"] for s in (await api.get("/api/v1/subscriptions")).json()}
    assert subscription["id"] not in ids and kept["id"] in ids
    assert (await api.delete(f"/api/v1/subscriptions/{subscription['id']}")).status_code == 404


@pytest.mark.parametrize(("body", "loc"), [
    ({"url": "ftp://example.com/hook"}, ["body", "url"]),
    ({"url": "not a url"}, ["body", "url"]),
    ({"event_types": ["alert.exploded"]}, ["body", "event_types", 0]),
    ({"alert_kinds": ["recall", "weather"]}, ["body", "alert_kinds", 1]),
    ({"severities": ["loud"]}, ["body", "severities", 0]),
    ({"flows": "recall"}, ["body", "flows"]),
    ({"description": "x" * 501}, ["body", "description"]),
    ({"secret": "mine"}, ["body", "secret"]),
])
async def test_an_invalid_subscription_is_422_naming_the_field_and_not_made(
    api: httpx.AsyncClient, body: dict[str, Any], loc: list[str | int]
) -> None:
    before = (await api.get("/api/v1/subscriptions")).json()
    response = await api.post("/api/v1/subscriptions",
                              json={"url": "http://127.0.0.1:9/hook", **body})
    assert loc in locs(response)
    assert (await api.get("/api/v1/subscriptions")).json() == before


async def test_a_subscription_or_profile_without_what_it_needs_is_422_naming_it(
    api: httpx.AsyncClient,
) -> None:
    assert locs(await api.post("/api/v1/subscriptions", json={"description": "where?"})) == [
        ["body", "url"]]
    assert locs(await api.post("/api/v1/profiles", json={"description": "who?"})) == [
        ["body", "name"]]


@pytest.mark.parametrize(("body", "loc"), [
    ({"overlap_s": -1}, ["body", "overlap_s"]),
    ({"overlap_s": 31 * 86_400}, ["body", "overlap_s"]),
    ({"overlap_s": "a while"}, ["body", "overlap_s"]),
    ({"overlap": 60}, ["body", "overlap"]),
])
async def test_a_bad_secret_rotation_is_422_naming_the_field_and_rotates_nothing(
    api: httpx.AsyncClient, body: dict[str, Any], loc: list[str]
) -> None:
    subscription = await subscribe(api)
    response = await api.post(f"/api/v1/subscriptions/{subscription['id']}/rotate-secret",
                              json=body)
    assert loc in locs(response)
    assert (await api.get(f"/api/v1/subscriptions/{subscription['id']}")).json()[
        "previous_secret_valid_until"] is None
    rotated = await api.post(f"/api/v1/subscriptions/{subscription['id']}/rotate-secret",
                             json={"overlap_s": 60})
    assert rotated.status_code == 200 and rotated.json()["secret"] != subscription["secret"]
    assert rotated.json()["previous_secret_valid_until"] is not None


@pytest.mark.parametrize(("params", "loc"), [
    ({"limit": 0}, ["query", "limit"]),
    ({"limit": 1001}, ["query", "limit"]),
    ({"limit": "all"}, ["query", "limit"]),
])
async def test_a_bad_delivery_listing_is_422_naming_the_parameter(
    api: httpx.AsyncClient, params: dict[str, Any], loc: list[str]
) -> None:
    subscription = await subscribe(api)
    response = await api.get(f"/api/v1/subscriptions/{subscription['id']}/deliveries",
                             params=params)
    assert locs(response) == [loc]
    listed = await api.get(f"/api/v1/subscriptions/{subscription['id']}/deliveries",
                           params={"limit": 1000})
    assert listed.status_code == 200 and listed.json() == []


@pytest.mark.parametrize(("params", "loc"), [
    ({"seq": "first"}, ["query", "seq"]),
    ({"since": "2026-01-01T00:00:00"}, ["query", "since"]),  # no time zone
    ({"until": "yesterday"}, ["query", "until"]),
])
async def test_a_bad_replay_is_422_naming_the_parameter(
    api: httpx.AsyncClient, params: dict[str, Any], loc: list[str]
) -> None:
    subscription = await subscribe(api)
    response = await api.post(f"/api/v1/subscriptions/{subscription['id']}/replay", params=params)
    assert locs(response) == [loc]
