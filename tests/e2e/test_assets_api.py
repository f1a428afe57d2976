"""Assets and recalls through the REST API of a real gateway process: update and delete with
their 404, 409 and 422 answers, filters, every sort in both directions paged by cursor, and
the rule engine following each change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support.common import wait_until
from support.gateways import GatewayProcess, run_gateway, unique
from support.servers import TAG_PASSWORD, Mosquitto

from gateway.api.schemas import AssetIn, AssetPatch

SORT_FIELDS = ("id", "created_at", "due_at", "customer", "sku", "state")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            mosquitto: Mosquitto, state_engine: str) -> Iterator[GatewayProcess]:
    env = {
        "BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
        "BOOMERANG_TIMER_INTERVAL_S": "0.2",
        "BOOMERANG_OVERDUE_GRACE_S": "0",
    }
    with run_gateway(Path(tmp_path_factory.mktemp("assets-api")), env) as process:
        yield process


@pytest.fixture
def api(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        yield client


def create(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"id": unique("a"), "kind": "rental", "flow": "rental_return", **fields}
    response = api.post("/api/v1/assets", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def alerts(api: httpx.Client, asset_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    params = {"asset_id": asset_id, **({"kind": kind} if kind else {})}
    found: list[dict[str, Any]] = api.get("/api/v1/alerts", params=params).json()["items"]
    return found


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def publish_as(port: int, tag_id: str, payloads: list[dict[str, Any]]) -> None:
    """Publish QoS 1 as the tag itself, each message acknowledged by the broker."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("pub"),
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(tag_id, TAG_PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(f"tags/{tag_id}/telemetry", orjson.dumps(payload),
                           qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def field_names(response: httpx.Response) -> set[str]:
    return {str(error["loc"][-1]) for error in response.json()["detail"]}


# Update and delete ------------------------------------------------------------------------


def test_patch_changes_the_fields_given_and_null_clears_one(api: httpx.Client) -> None:
    asset = create(api, sku="DRILL-1", serial="SN-1", customer="Kranz")
    response = api.patch(f"/api/v1/assets/{asset['id']}", json={
        "customer": "Muller Bau", "due_at": "2026-12-24T12:00:00+01:00", "sku": None})
    assert response.status_code == 200, response.text
    changed = api.get(f"/api/v1/assets/{asset['id']}").json()
    assert response.json() == changed
    assert changed["customer"] == "Muller Bau" and changed["sku"] is None
    assert changed["due_at"] == "2026-12-24T11:00:00Z"  # stored in UTC
    unchanged = {k: v for k, v in changed.items() if k not in ("customer", "due_at", "sku")}
    assert unchanged == {k: v for k, v in asset.items() if k not in ("customer", "due_at", "sku")}


def test_patch_and_delete_of_an_unknown_asset_are_404(api: httpx.Client) -> None:
    assert api.patch("/api/v1/assets/no-such", json={"customer": "x"}).status_code == 404
    assert api.delete("/api/v1/assets/no-such").status_code == 404


def test_taking_a_tag_bound_to_another_asset_is_409_naming_both(api: httpx.Client) -> None:
    holder = create(api, tag_id=unique("tag"))
    taker = create(api)
    response = api.patch(f"/api/v1/assets/{taker['id']}", json={"tag_id": holder["tag_id"]})
    assert response.status_code == 409
    assert holder["id"] in response.json()["detail"] and taker["id"] in response.json()["detail"]
    assert api.get(f"/api/v1/assets/{taker['id']}").json()["tag_id"] is None
    # Its own tag again is no conflict.
    same = api.patch(f"/api/v1/assets/{holder['id']}", json={"tag_id": holder["tag_id"]})
    assert same.status_code == 200


@pytest.mark.parametrize(("body", "loc"), [
    ({"kind": "boat"}, ["body", "kind"]),
    ({"kind": None}, ["body", "kind"]),
    ({"flow": "lost"}, ["body", "flow"]),
    ({"id": "no spaces"}, ["body", "id"]),
    ({"tag_id": "not a tag!"}, ["body", "tag_id"]),
    ({"due_at": "2026-12-24T12:00:00"}, ["body", "due_at"]),  # no time zone
    ({"sku": "S" * 129}, ["body", "sku"]),
    ({"customer": 42}, ["body", "customer"]),
    ({"state": "returned"}, ["body", "state"]),
])
def test_an_invalid_new_asset_is_422_naming_the_field_and_not_made(
    api: httpx.Client, body: dict[str, Any], loc: list[str]
) -> None:
    asset_id = unique("a")
    response = api.post("/api/v1/assets", json={
        "id": asset_id, "kind": "rental", "flow": "rental_return", **body})
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert api.get(f"/api/v1/assets/{asset_id}").status_code == 404


def test_a_new_asset_without_kind_and_flow_is_422_naming_both(api: httpx.Client) -> None:
    response = api.post("/api/v1/assets", json={"id": unique("a"), "customer": "Kranz"})
    assert response.status_code == 422
    assert sorted(error["loc"] for error in response.json()["detail"]) == [
        ["body", "flow"], ["body", "kind"]]


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "boat"}, "kind"),
    ({"flow": None}, "flow"),
    ({"id": "renamed"}, "id"),
    ({"state": "returned"}, "state"),
    ({"due_at": "2026-12-24"}, "due_at"),
    ({"tag_id": "not a tag!"}, "tag_id"),
    ({"profile": "no-such-profile"}, "profile"),
    ({"destination": "no-such-fence"}, "destination"),
])
def test_an_invalid_patch_is_422_naming_the_field(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    asset = create(api)
    response = api.patch(f"/api/v1/assets/{asset['id']}", json=body)
    assert response.status_code == 422
    assert field in field_names(response)
    assert api.get(f"/api/v1/assets/{asset['id']}").json() == asset


def test_delete_frees_the_tag_for_another_asset(api: httpx.Client) -> None:
    tag = unique("tag")
    first = create(api, tag_id=tag)
    assert api.post("/api/v1/assets", json={"kind": "rental", "flow": "rental_return",
                                            "tag_id": tag}).status_code == 409
    assert api.delete(f"/api/v1/assets/{first['id']}").status_code == 204
    assert api.get(f"/api/v1/assets/{first['id']}").status_code == 404
    assert api.delete(f"/api/v1/assets/{first['id']}").status_code == 404
    second = create(api, tag_id=tag)
    assert api.get("/api/v1/assets", params={"tag_id": tag}).json()["items"] == [second]


def test_patch_takes_every_field_asset_in_has_but_id() -> None:
    # open_trip is for registration only: a registered asset's trips are the trips API's.
    assert set(AssetPatch.model_fields) == set(AssetIn.model_fields) - {"id", "open_trip"}


# Listing ------------------------------------------------------------------------------------


def test_filters_match_exactly_and_combine(api: httpx.Client) -> None:
    customer = unique("Customer")
    a = create(api, customer=customer, sku="S-1", serial="N-1", lot="L-1")
    b = create(api, customer=customer, sku="S-1", serial="N-2", lot="L-2", kind="shipment",
               flow="customer_return", tag_id=unique("tag"))
    c = create(api, customer=customer, sku="S-2", serial="N-3", lot="L-1")
    create(api, customer=customer + "-other", sku="S-1")

    def ids(**params: str) -> list[str]:
        page = api.get("/api/v1/assets", params={"customer": customer, **params})
        assert page.status_code == 200, page.text
        return [item["id"] for item in page.json()["items"]]

    assert ids() == sorted([a["id"], b["id"], c["id"]])
    assert ids(sku="S-1") == sorted([a["id"], b["id"]])
    assert ids(sku="S-1", lot="L-1") == [a["id"]]
    assert ids(serial="N-3") == [c["id"]]
    assert ids(tag_id=b["tag_id"]) == [b["id"]]
    assert ids(kind="shipment") == [b["id"]]
    assert ids(flow="rental_return", lot="L-1") == sorted([a["id"], c["id"]])
    assert ids(state="in_transit", sku="S-2") == [c["id"]]
    assert ids(state="returned") == []
    assert ids(sku="S") == []  # exact, not a prefix
    assert api.get("/api/v1/assets", params={"kind": "boat"}).status_code == 422


@pytest.fixture(scope="module")
def sort_set(gateway: GatewayProcess) -> list[dict[str, Any]]:
    """23 assets of their own flow with ties and missing values in every sort field."""
    now = datetime.now(UTC).replace(microsecond=0)
    made = []
    with gateway.client() as api:
        for n in range(23):
            made.append(create(
                api, id=f"sort-{(n * 7) % 23:02d}", flow="trade_in",
                kind="shipment" if n % 4 == 0 else "rental",
                due_at=iso(now + timedelta(days=n % 5)) if n % 3 else None,
                customer=("Anna", "Bauer", None, "anna")[n % 4],
                sku=f"SKU-{n % 6}" if n % 5 else None,
            ))
    return made


def expected_order(assets: list[dict[str, Any]], field: str) -> list[str]:
    """Ascending: values, then items without one, ties by id."""
    def key(asset: dict[str, Any]) -> tuple[Any, ...]:
        value = asset[field]
        if field in ("due_at", "created_at") and value is not None:
            value = datetime.fromisoformat(value)
        return (value is None, value if value is not None else "", asset["id"])
    return [asset["id"] for asset in sorted(assets, key=key)]


def walk_pages(api: httpx.Client, path: str, params: dict[str, str]) -> list[list[str]]:
    """The ids of each page, following next_cursor to the last page."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        response = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("field", SORT_FIELDS)
def test_every_sort_pages_by_cursor_without_losing_or_repeating_a_row(
    api: httpx.Client, sort_set: list[dict[str, Any]], field: str, descending: bool
) -> None:
    expected = expected_order(sort_set, field)
    if descending:
        expected.reverse()
    pages = walk_pages(api, "/api/v1/assets", {
        "flow": "trade_in", "sort": f"-{field}" if descending else field, "limit": "4"})
    assert len(pages) == 6  # 23 rows, 4 a page; the last page knows it is the last
    assert [item for page in pages for item in page] == expected


@pytest.mark.parametrize(("resource", "made", "field"), [
    ("assets", "sort_set", "due_at"), ("recalls", "recall_set", "sku")])
def test_an_unknown_sort_or_a_bad_cursor_is_422(
    api: httpx.Client, request: pytest.FixtureRequest, resource: str, made: str, field: str
) -> None:
    request.getfixturevalue(made)  # enough of them for a second page
    path = f"/api/v1/{resource}"
    response = api.get(path, params={"sort": "colour"})
    assert response.status_code == 422 and "sort" in field_names(response)
    assert field in response.text  # says which fields there are
    for cursor in ("garbage!", "WzEsMiwzXQ", ""):
        response = api.get(path, params={"cursor": cursor})
        assert response.status_code == 422 and "cursor" in field_names(response), cursor
    first = api.get(path, params={"sort": field, "limit": 2}).json()
    response = api.get(path, params={"sort": f"-{field}", "cursor": first["next_cursor"]})
    assert response.status_code == 422 and "cursor" in field_names(response)


# The rule engine follows --------------------------------------------------------------------


def test_a_due_date_moved_into_the_past_makes_the_rental_overdue(api: httpx.Client) -> None:
    rental = create(api, due_at=iso(datetime.now(UTC) + timedelta(days=3)),
                    customer="Late Larry")
    time.sleep(1)  # five timer ticks
    assert alerts(api, rental["id"], "overdue") == []
    response = api.patch(f"/api/v1/assets/{rental['id']}",
                         json={"due_at": iso(datetime.now(UTC) - timedelta(hours=2))})
    assert response.status_code == 200
    wait_until(lambda: len(alerts(api, rental["id"], "overdue")) == 1, 10, "the overdue alert")
    overdue = alerts(api, rental["id"], "overdue")[0]
    assert overdue["state"] == "open" and overdue["details"]["customer"] == "Late Larry"


@pytest.fixture(scope="module")
def strict_profile(gateway: GatewayProcess) -> str:
    """Above 8 C is out of spec at once."""
    name = "strict-temp"
    with gateway.client() as api:
        api.post("/api/v1/profiles", json={
            "name": name, "metrics": {"temp_c": {"max": 8}}}).raise_for_status()
    return name


def test_a_deleted_assets_tag_is_no_longer_judged(
    api: httpx.Client, mosquitto: Mosquitto, strict_profile: str
) -> None:
    gone = create(api, tag_id="tag-a", profile=strict_profile)
    witness = create(api, tag_id="tag-b", profile=strict_profile)
    assert api.delete(f"/api/v1/assets/{gone['id']}").status_code == 204
    now = datetime.now(UTC)
    publish_as(mosquitto.port, "tag-a", [{"ts": iso(now), "seq": 1, "temp_c": 20.0}])
    # Published after, through the same broker connection to the gateway: once the
    # witness's alert is there, the deleted asset's reading has been handled too.
    publish_as(mosquitto.port, "tag-b", [{"ts": iso(now), "seq": 1, "temp_c": 20.0}])
    wait_until(lambda: len(alerts(api, witness["id"], "out_of_spec")) == 1, 15,
               "the witness's out_of_spec alert")
    time.sleep(0.5)
    assert alerts(api, gone["id"]) == []


def test_a_tag_moved_by_patch_is_judged_for_its_new_asset(
    api: httpx.Client, mosquitto: Mosquitto, strict_profile: str
) -> None:
    before = create(api, tag_id="tag-c", profile=strict_profile)
    after = create(api, profile=strict_profile)
    assert api.patch(f"/api/v1/assets/{before['id']}", json={"tag_id": None}).status_code == 200
    assert api.patch(f"/api/v1/assets/{after['id']}", json={"tag_id": "tag-c"}).status_code == 200
    publish_as(mosquitto.port, "tag-c", [{"ts": iso(datetime.now(UTC)), "seq": 1,
                                          "temp_c": 21.0}])
    wait_until(lambda: len(alerts(api, after["id"], "out_of_spec")) == 1, 15,
               "the new holder's alert")
    assert alerts(api, before["id"]) == []


# Recalls ------------------------------------------------------------------------------------


def test_recall_update_delete_and_their_404_and_422(api: httpx.Client) -> None:
    sku = unique("SKU")
    recall = api.post("/api/v1/recalls", json={"sku": sku, "lots": ["L1"]}).json()
    ended = api.patch(f"/api/v1/recalls/{recall['id']}", json={"active": False,
                                                                "reason": "fixed"})
    assert ended.status_code == 200
    assert ended.json() == {**recall, "active": False, "reason": "fixed"}
    assert api.get(f"/api/v1/recalls/{recall['id']}").json() == ended.json()
    for body, field in (({"id": "x"}, "id"), ({"sku": None}, "sku"), ({"lots": "L1"}, "lots"),
                        ({"active": None}, "active")):
        response = api.patch(f"/api/v1/recalls/{recall['id']}", json=body)
        assert response.status_code == 422 and field in field_names(response), body
    assert api.patch("/api/v1/recalls/no-such", json={"active": False}).status_code == 404
    assert api.delete(f"/api/v1/recalls/{recall['id']}").status_code == 204
    assert api.get(f"/api/v1/recalls/{recall['id']}").status_code == 404
    assert api.delete(f"/api/v1/recalls/{recall['id']}").status_code == 404


def test_a_recall_id_taken_is_409_and_the_recall_unchanged(api: httpx.Client) -> None:
    recall_id = unique("rcl")
    first = api.post("/api/v1/recalls", json={"id": recall_id, "sku": unique("SKU")})
    assert first.status_code == 201
    again = api.post("/api/v1/recalls", json={"id": recall_id, "sku": unique("SKU"),
                                              "reason": "another"})
    assert again.status_code == 409
    assert again.json()["detail"] == f"recall {recall_id} exists"
    assert api.get(f"/api/v1/recalls/{recall_id}").json() == first.json()


@pytest.mark.parametrize(("body", "loc"), [
    ({"sku": ""}, ["body", "sku"]),
    ({"sku": None}, ["body", "sku"]),
    ({"id": "no spaces"}, ["body", "id"]),
    ({"lots": "L1"}, ["body", "lots"]),
    ({"serials": ["S1", 2]}, ["body", "serials", 1]),
    ({"reason": "x" * 2001}, ["body", "reason"]),
    ({"active": False}, ["body", "active"]),  # ended by PATCH, not made ended
])
def test_an_invalid_new_recall_is_422_naming_the_field_and_not_made(
    api: httpx.Client, body: dict[str, Any], loc: list[str | int]
) -> None:
    recall_id = unique("rcl")
    response = api.post("/api/v1/recalls", json={"id": recall_id, "sku": unique("SKU"), **body})
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert api.get(f"/api/v1/recalls/{recall_id}").status_code == 404


def test_a_recall_without_a_sku_is_422_naming_it(api: httpx.Client) -> None:
    response = api.post("/api/v1/recalls", json={"lots": ["L1"]})
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "sku"]]


def test_a_recall_filter_that_is_not_a_boolean_is_422_naming_it(api: httpx.Client) -> None:
    response = api.get("/api/v1/recalls", params={"active": "sometimes"})
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", "active"]]


def test_recalls_filter_by_sku_and_active(api: httpx.Client) -> None:
    sku = unique("SKU")
    running = api.post("/api/v1/recalls", json={"sku": sku}).json()
    ended = api.post("/api/v1/recalls", json={"sku": sku}).json()
    api.patch(f"/api/v1/recalls/{ended['id']}", json={"active": False}).raise_for_status()
    api.post("/api/v1/recalls", json={"sku": unique("SKU")}).raise_for_status()

    def ids(**params: str) -> list[str]:
        return [r["id"] for r in api.get("/api/v1/recalls", params=params).json()["items"]]

    assert ids(sku=sku) == [running["id"], ended["id"]]  # oldest first by default
    assert ids(sku=sku, active="true") == [running["id"]]
    assert ids(sku=sku, active="false") == [ended["id"]]


RECALL_SORT_FIELDS = ("id", "created_at", "sku")


@pytest.fixture(scope="module")
def recall_set(gateway: GatewayProcess) -> list[dict[str, Any]]:
    """Recalls with ties in every sort field: seven of three skus imported at once (one
    creation time), and two more of those skus."""
    p = unique("rs")
    text = "id,sku\n" + "".join(f"{p}-{n},{p}-SKU-{n % 3}\n" for n in range(7))
    with gateway.client() as api:
        report = api.post("/api/v1/recalls:import", content=text.encode(),
                          headers={"Content-Type": "text/csv"})
        assert report.status_code == 200 and report.json()["created"] == 7, report.text
        made = [api.get(f"/api/v1/recalls/{p}-{n}").json() for n in range(7)]
        for n in range(2):
            made.append(api.post("/api/v1/recalls", json={"sku": f"{p}-SKU-{n}"}).json())
    return made


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
@pytest.mark.parametrize("field", RECALL_SORT_FIELDS)
def test_recalls_sort_and_page_by_cursor_without_losing_or_repeating_one(
    api: httpx.Client, recall_set: list[dict[str, Any]], field: str, descending: bool
) -> None:
    sort = f"-{field}" if descending else field
    whole = api.get("/api/v1/recalls", params={"sort": sort, "limit": 1000}).json()
    assert whole["next_cursor"] is None
    expected = expected_order(whole["items"], field)
    if descending:
        expected.reverse()
    assert [r["id"] for r in whole["items"]] == expected
    assert {r["id"] for r in recall_set} <= set(expected)
    pages = walk_pages(api, "/api/v1/recalls", {"sort": sort, "limit": "3"})
    assert all(len(page) == 3 for page in pages[:-1]) and 0 < len(pages[-1]) <= 3
    assert [item for page in pages for item in page] == expected


def test_recalls_are_listed_oldest_first_by_default(
    api: httpx.Client, recall_set: list[dict[str, Any]]
) -> None:
    listed = api.get("/api/v1/recalls", params={"limit": 1000}).json()
    assert [r["id"] for r in listed["items"]] == expected_order(listed["items"], "created_at")


def test_a_widened_recall_alerts_at_once_and_an_ended_or_deleted_one_no_more(
    api: httpx.Client,
) -> None:
    sku = unique("SKU")
    recall = api.post("/api/v1/recalls", json={"sku": sku, "lots": ["L1"]}).json()
    early = create(api, sku=sku, lot="L2")
    assert alerts(api, early["id"], "recall") == []
    api.patch(f"/api/v1/recalls/{recall['id']}", json={"lots": ["L1", "L2"]}).raise_for_status()
    raised = alerts(api, early["id"], "recall")
    assert [a["key"] for a in raised] == [recall["id"]]

    api.patch(f"/api/v1/recalls/{recall['id']}", json={"active": False}).raise_for_status()
    assert alerts(api, create(api, sku=sku, lot="L2")["id"], "recall") == []

    other = api.post("/api/v1/recalls", json={"sku": sku}).json()
    assert len(alerts(api, create(api, sku=sku)["id"], "recall")) == 1
    assert api.delete(f"/api/v1/recalls/{other['id']}").status_code == 204
    assert alerts(api, create(api, sku=sku, lot="L1")["id"], "recall") == []
    # What was raised stays, for the record.
    assert alerts(api, early["id"], "recall")[0]["state"] == "open"
