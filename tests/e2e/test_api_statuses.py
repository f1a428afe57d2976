"""The API's answers a client relies on, through a real gateway: an alert acknowledged and
resolved by hand (the conflict of acknowledging a resolved one, and a bad request for
either), a geofence that assets still use, and an import too big to take. None needs a
broker: the gateway runs in-process (support/inprocess.py), one per module and engine, shared
by the tests as a gateway process would be."""

from __future__ import annotations

import uuid

import httpx
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_an_alert_is_acknowledged_then_resolved_by_hand_and_no_further(
    api: httpx.AsyncClient,
) -> None:
    asset_id = f"a-{uuid.uuid4().hex[:6]}"
    assert (await api.post("/api/v1/assets", json={
        "id": asset_id, "kind": "shipment", "flow": "recall", "sku": "KETTLE-2",
        "lot": "L7"})).status_code == 201
    assert (await api.post("/api/v1/recalls", json={"sku": "KETTLE-2", "lots": ["L7"]})
            ).status_code == 201
    (alert,) = (await api.get("/api/v1/alerts", params={"asset_id": asset_id})).json()["items"]
    assert (await api.get(f"/api/v1/alerts/{alert['id']}")).json()["kind"] == "recall"
    acknowledged = await api.post(f"/api/v1/alerts/{alert['id']}/acknowledge",
                                  json={"by": "returns desk", "note": "customer called"})
    assert acknowledged.status_code == 200
    assert acknowledged.json()["state"] == "acknowledged"
    resolved = await api.post(f"/api/v1/alerts/{alert['id']}/resolve",
                              json={"by": "returns desk"})
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    again = await api.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={})
    assert again.status_code == 409 and "resolved" in again.json()["detail"]


@pytest.mark.parametrize(("body", "loc"), [
    ({"by": "x" * 257}, ["body", "by"]),
    ({"note": "x" * 2001}, ["body", "note"]),
    ({"note": None}, ["body", "note"]),
    ({"state": "resolved"}, ["body", "state"]),
])
async def test_a_bad_acknowledge_or_resolve_is_422_naming_the_field_and_changes_nothing(
    api: httpx.AsyncClient, body: dict[str, object], loc: list[str]
) -> None:
    sku, asset_id = f"SKU-{uuid.uuid4().hex[:6]}", f"a-{uuid.uuid4().hex[:6]}"
    assert (await api.post("/api/v1/assets", json={
        "id": asset_id, "kind": "shipment", "flow": "recall", "sku": sku})).status_code == 201
    assert (await api.post("/api/v1/recalls", json={"sku": sku})).status_code == 201
    (alert,) = (await api.get("/api/v1/alerts", params={"asset_id": asset_id})).json()["items"]
    assert alert["state"] == "open"
    for action in ("acknowledge", "resolve"):
        response = await api.post(f"/api/v1/alerts/{alert['id']}/{action}", json=body)
        assert response.status_code == 422, (action, response.text)
        assert [e["loc"] for e in response.json()["detail"]] == [loc], action
    assert (await api.get(f"/api/v1/alerts/{alert['id']}")).json() == alert


async def test_a_geofence_that_assets_use_cannot_be_deleted(api: httpx.AsyncClient) -> None:
    fence = (await api.post("/api/v1/geofences", json={
        "name": "Returns hub", "kind": "hub",
        "circle": {"lat": 50.1, "lon": 8.7, "radius_m": 500}})).json()
    asset_id = f"a-{uuid.uuid4().hex[:6]}"
    assert (await api.post("/api/v1/assets", json={
        "id": asset_id, "kind": "shipment", "flow": "customer_return",
        "destination": fence["id"]})).status_code == 201
    refused = await api.delete(f"/api/v1/geofences/{fence['id']}")
    assert refused.status_code == 409 and asset_id in refused.text
    assert (await api.delete(f"/api/v1/assets/{asset_id}")).status_code == 204
    assert (await api.delete(f"/api/v1/geofences/{fence['id']}")).status_code == 204


async def test_an_import_over_the_size_limit_is_413(api: httpx.AsyncClient) -> None:
    row = "a-0001,shipment,customer_return," + "x" * 100 + "\n"
    body = "id,kind,flow,customer\n" + row * (21 * 1024 * 1024 // len(row))
    response = await api.post("/api/v1/assets:import", content=body.encode(),
                              headers={"content-type": "text/csv"})
    assert response.status_code == 413


# Bodies that pass validation where an empty one would not, so that the id is what fails.
BODIES = {
    ("PUT", "/api/v1/profiles/{name}"): {"name": "no-such-name"},
    ("PUT", "/api/v1/geofences/{fence_id}"): {
        "name": "Nowhere", "kind": "hub", "circle": {"lat": 0, "lon": 0, "radius_m": 1}},
    ("POST", "/api/v1/trips/{trip_id}/inspection"): {"disposition": "restock"},
}


async def test_every_operation_that_documents_404_answers_it_for_an_unknown_id(
    api: httpx.AsyncClient,
) -> None:
    schema = (await api.get("/openapi.json")).json()
    checked = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "404" not in operation.get("responses", {}):
                continue
            unknown = path.replace("{", "no-such-").replace("}", "")
            body = BODIES.get((method.upper(), path), {}) if "requestBody" in operation \
                else None
            response = await api.request(method.upper(), unknown, json=body)
            assert response.status_code == 404, f"{method.upper()} {path}: {response.text}"
            checked += 1
    assert checked >= 15


async def test_alerts_page_by_cursor_in_either_order_without_loss_or_repeat(
    api: httpx.AsyncClient,
) -> None:
    sku = f"SKU-{uuid.uuid4().hex[:6]}"
    for n in range(7):
        assert (await api.post("/api/v1/assets", json={
            "id": f"{sku}-{n}", "kind": "shipment", "flow": "recall", "sku": sku}
                               )).status_code == 201
    assert (await api.post("/api/v1/recalls", json={"sku": sku})).status_code == 201
    for sort in ("opened_at", "-opened_at"):
        seen: list[tuple[str, str]] = []
        cursor = None
        while True:
            params = {"kind": "recall", "sort": sort, "limit": 2,
                      **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/api/v1/alerts", params=params)).json()
            seen += [(a["opened_at"], a["id"]) for a in page["items"]
                     if a["asset_id"].startswith(sku)]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 7 and len(set(seen)) == 7
        assert [t for t, _ in seen] == sorted((t for t, _ in seen),
                                             reverse=sort.startswith("-"))
    first = (await api.get("/api/v1/alerts", params={"limit": 1})).json()["next_cursor"]
    for bad in ("not-a-cursor", first):  # the second: made for the other sort
        response = await api.get("/api/v1/alerts", params={"sort": "opened_at", "cursor": bad})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_a_built_in_profile_cannot_be_replaced_or_deleted(api: httpx.AsyncClient) -> None:
    replaced = await api.put("/api/v1/profiles/cold_chain", json={"name": "cold_chain"})
    assert replaced.status_code == 409 and "built in" in replaced.text
    assert (await api.delete("/api/v1/profiles/cold_chain")).status_code == 409
    name = f"p-{uuid.uuid4().hex[:6]}"
    assert (await api.post("/api/v1/profiles", json={"name": name})).status_code == 201
    mismatched = await api.put(f"/api/v1/profiles/{name}", json={"name": "other"})
    assert mismatched.status_code == 422
    assert mismatched.json()["detail"][0]["loc"] == ["body", "name"]


async def test_a_dead_letter_cursor_beyond_sqlite_integers_is_422(
    api: httpx.AsyncClient,
) -> None:
    """Found by schemathesis: it was a server error."""
    response = await api.get("/api/v1/dead-letters", params={"cursor": str(-(10**24))})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
