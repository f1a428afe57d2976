"""Request bodies the API cannot take, through a real gateway: a body over its operation's
size limit (413, whether Content-Length announces it or it streams in chunks), NaN and
Infinity where JSON has numbers (422 naming the field), and a webhook URL whose host is no
valid IDNA (422 at `body.url`). None of them is a server error, none changes anything.
All but one run on a gateway in-process (support/inprocess.py), one per module and engine;
the body announced over the limit and never sent needs a real socket, and a gateway
process."""

from __future__ import annotations

import http.client
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from support.gateways import ADMIN_KEY, GatewayProcess, unique

MIB = 1024 * 1024
# The contract: bodies that may carry a recall's 100,000 serials (the CSV imports, a recall's
# JSON) may have 20 MiB; every other body 1 MiB.
LARGE_BODIES = {("POST", "/api/v1/assets:import"), ("POST", "/api/v1/recalls:import"),
                ("POST", "/api/v1/trips:import"),
                ("POST", "/api/v1/recalls"), ("PATCH", "/api/v1/recalls/{recall_id}")}


def limit_of(method: str, path: str) -> int:
    return 20 * MIB if (method, path) in LARGE_BODIES else MIB


@pytest.fixture(scope="module")
def gateway(sqlite_gateway: GatewayProcess) -> GatewayProcess:
    return sqlite_gateway


# The tests on the in-process gateway: in the event loop it was opened in.
in_process_loop = pytest.mark.asyncio(loop_scope="module")


def operations_with_a_body(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path template, media type) of each operation `schema` gives a body."""
    return [(method.upper(), path, next(iter(operation["requestBody"]["content"])))
            for path, operations in schema["paths"].items()
            for method, operation in operations.items() if "requestBody" in operation]


def concrete(path: str) -> str:
    return path.replace("{", "no-such-").replace("}", "")


def assert_too_large(response: httpx.Response | http.client.HTTPResponse, body: bytes,
                     limit: int) -> None:
    status = response.status_code if isinstance(response, httpx.Response) else response.status
    assert status == 413, body[:500]
    assert response.headers["content-type"] == "application/json"
    assert f"over {limit} bytes" in json.loads(body)["detail"]


# Size limits --------------------------------------------------------------------------------


@in_process_loop
async def test_every_operation_with_a_body_documents_its_limit(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    operations = operations_with_a_body(schema)
    assert len(operations) >= 15
    for method, path, _ in operations:
        documented = schema["paths"][path][method.lower()]["responses"]["413"]["description"]
        assert f"over {limit_of(method, path)} bytes" in documented, (method, path)


def test_a_body_announced_over_the_limit_is_413_before_it_is_sent(
    gateway: GatewayProcess,
) -> None:
    """Only the head goes out, with a Content-Length past the limit: the answer comes
    without the body, so the gateway cannot have read or parsed any of it. On a gateway
    process: httpx's ASGI transport has no socket to send a head alone through."""
    address = urlsplit(gateway.api)
    with gateway.client() as api:
        schema = api.get("/openapi.json").json()
    for method, path, media in operations_with_a_body(schema):
        limit = limit_of(method, path)
        connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
        try:
            connection.putrequest(method, concrete(path))
            connection.putheader("Authorization", f"Bearer {ADMIN_KEY}")
            connection.putheader("Content-Type", media)
            connection.putheader("Content-Length", str(limit + 1))
            connection.endheaders()
            response = connection.getresponse()
            assert_too_large(response, response.read(), limit)
        finally:
            connection.close()


def chunks(head: bytes, total: int, tail: bytes = b"") -> Iterator[bytes]:
    """`total` bytes in 64 KiB chunks: `head`, spaces, `tail`. Sent as an iterator, httpx
    streams it with Transfer-Encoding: chunked, no Content-Length."""
    yield head
    left = total - len(head) - len(tail)
    while left > 0:
        yield b" " * min(left, 64 * 1024)
        left -= 64 * 1024
    yield tail


async def chunks_async(head: bytes, total: int, tail: bytes = b"") -> AsyncIterator[bytes]:
    """chunks(...) as an async client streams them: an async iterator."""
    for chunk in chunks(head, total, tail):
        yield chunk


@in_process_loop
@pytest.mark.parametrize(("method", "path", "media", "head"), [
    ("POST", "/api/v1/assets", "application/json", b'{"kind": "rental", "flow": "rental_return"'),
    ("POST", "/api/v1/recalls", "application/json", b'{"sku": "KETTLE-2"'),
    ("POST", "/api/v1/assets:import", "text/csv", b"kind,flow\nrental,rental_return\n"),
])
async def test_a_streamed_body_over_the_limit_is_413(
    api: httpx.AsyncClient, method: str, path: str, media: str, head: bytes
) -> None:
    limit = limit_of(method, path)
    response = await api.request(method, path, content=chunks_async(head, limit + 1, b"}"),
                                 headers={"content-type": media})
    assert "content-length" not in response.request.headers
    assert_too_large(response, response.content, limit)


@in_process_loop
async def test_a_json_body_of_exactly_the_limit_is_taken_announced_or_streamed(
    api: httpx.AsyncClient,
) -> None:
    for streamed in (False, True):
        asset_id = unique("a")
        head = json.dumps({"id": asset_id, "kind": "rental", "flow": "rental_return"})[:-1]
        body = b"".join(chunks(head.encode(), MIB, b"}"))
        assert len(body) == MIB
        response = await api.post("/api/v1/assets",
                                  content=chunks_async(head.encode(), MIB, b"}")
                                  if streamed else body,
                                  headers={"content-type": "application/json"})
        assert response.status_code == 201, response.text[:500]
        assert (await api.get(f"/api/v1/assets/{asset_id}")).status_code == 200


@in_process_loop
async def test_a_recall_of_100000_serials_fits_as_json(api: httpx.AsyncClient) -> None:
    serials = [f"SN-2026-{n:09d}" for n in range(100_000)]
    sku = unique("SKU")
    body = json.dumps({"sku": sku, "serials": serials}).encode()
    assert MIB < len(body) < 20 * MIB
    created = await api.post("/api/v1/recalls", content=body,
                             headers={"content-type": "application/json"})
    assert created.status_code == 201, created.text[:500]
    assert len(created.json()["serials"]) == 100_000
    patched = await api.patch(f"/api/v1/recalls/{created.json()['id']}",
                              json={"serials": serials[::-1]})
    assert patched.status_code == 200, patched.text[:500]


# NaN and Infinity ---------------------------------------------------------------------------

# Written as text: Python's JSON parser reads NaN, Infinity, -Infinity and 1e999 (Infinity).
FENCE = '{"name": "Depot", "kind": "hub", %s}'
PROFILE = '{"name": "%s", %s}'


@in_process_loop
@pytest.mark.parametrize(("body", "loc"), [
    (FENCE % '"circle": {"lat": NaN, "lon": 8.7, "radius_m": 500}', ["circle", "lat"]),
    (FENCE % '"circle": {"lat": 50.1, "lon": -Infinity, "radius_m": 500}', ["circle", "lon"]),
    (FENCE % '"circle": {"lat": 50.1, "lon": 8.7, "radius_m": Infinity}', ["circle", "radius_m"]),
    (FENCE % '"geometry": {"type": "Polygon", "coordinates": '
     "[[[8.7, 50.1], [8.8, NaN], [8.8, 50.2], [8.7, 50.1]]]}", ["geometry"]),
    (FENCE % '"geometry": {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", '
     '"coordinates": [[[8.7, 50.1], [8.8, 1e999], [8.8, 50.2], [8.7, 50.1]]]}}', ["geometry"]),
])
async def test_a_non_finite_number_in_a_geofence_is_422_naming_the_field(
    api: httpx.AsyncClient, body: str, loc: list[str]
) -> None:
    fence_id = unique("geo")
    body = body.replace('"name"', f'"id": "{fence_id}", "name"')
    response = await api.post("/api/v1/geofences", content=body,
                              headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", *loc]]
    assert (await api.get(f"/api/v1/geofences/{fence_id}")).status_code == 404


@in_process_loop
@pytest.mark.parametrize(("fields", "loc"), [
    ('"metrics": {"temp_c": {"max": NaN}}', ["metrics", "temp_c", "max"]),
    ('"metrics": {"temp_c": {"min": -Infinity}}', ["metrics", "temp_c", "min"]),
    ('"metrics": {"temp_c": {"max": 8, "min_duration_s": Infinity}}',
     ["metrics", "temp_c", "min_duration_s"]),
    ('"metrics": {"temp_c": {"max": 8, "hysteresis": NaN}}', ["metrics", "temp_c", "hysteresis"]),
    ('"silent_after_s": Infinity', ["silent_after_s"]),
    ('"battery_below_pct": NaN', ["battery_below_pct"]),
    ('"battery_hysteresis_pct": -Infinity', ["battery_hysteresis_pct"]),
])
async def test_a_non_finite_number_in_a_profile_is_422_naming_the_field(
    api: httpx.AsyncClient, fields: str, loc: list[str]
) -> None:
    name = unique("p")
    response = await api.post("/api/v1/profiles", content=PROFILE % (name, fields),
                              headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", *loc]]
    assert (await api.get(f"/api/v1/profiles/{name}")).status_code == 404
    # And replacing one with it changes nothing.
    assert (await api.post("/api/v1/profiles", json={"name": name})).status_code == 201
    before = (await api.get(f"/api/v1/profiles/{name}")).json()
    replaced = await api.put(f"/api/v1/profiles/{name}", content=PROFILE % (name, fields),
                             headers={"content-type": "application/json"})
    assert replaced.status_code == 422, replaced.text
    assert [e["loc"] for e in replaced.json()["detail"]] == [["body", *loc]]
    assert (await api.get(f"/api/v1/profiles/{name}")).json() == before


@in_process_loop
async def test_a_non_finite_secret_overlap_is_422_naming_the_field(
    api: httpx.AsyncClient,
) -> None:
    sub = (await api.post("/api/v1/subscriptions",
                          json={"url": "http://127.0.0.1:9/hook"})).json()
    response = await api.post(f"/api/v1/subscriptions/{sub['id']}/rotate-secret",
                              content='{"overlap_s": NaN}',
                              headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "overlap_s"]]


@in_process_loop
@pytest.mark.parametrize(("body", "loc"), [
    ('{"kind": NaN, "flow": "rental_return"}', ["body", "kind"]),
    ("NaN", ["body"]),
    ("[Infinity]", ["body"]),
])
async def test_a_non_finite_number_where_no_number_belongs_is_422_echoing_it_as_text(
    api: httpx.AsyncClient, body: str, loc: list[Any]
) -> None:
    response = await api.post("/api/v1/assets", content=body,
                              headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == loc
    assert "NaN" in json.dumps(error["input"]) or "Infinity" in json.dumps(error["input"])


# Text no state database can store ------------------------------------------------------------

@in_process_loop
@pytest.mark.parametrize(("body", "loc"), [
    ('{"kind": "rental", "flow": "trade_in", "customer": "A\\u0000B"}', ["body", "customer"]),
    ('{"kind": "shipment", "flow": "recall", "serial": "\\u0000"}',
     ["body", "serial"]),
    ('{"kind": "rental", "flow": "trade_in", "lot": "\\ud800"}', ["body", "lot"]),
])
async def test_text_with_a_nul_or_a_lone_surrogate_is_422_naming_the_field(
    api: httpx.AsyncClient, body: str, loc: list[Any]
) -> None:
    """PostgreSQL's text holds no NUL, and UTF-8 no lone surrogate: found by schemathesis as a
    500 on PostgreSQL."""
    response = await api.post("/api/v1/assets", content=body,
                              headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["detail"]]
    trip = await api.post("/api/v1/trips", json={"asset_id": "x", "reference": "RMA\u0000"})
    assert trip.status_code == 422
    assert ["body", "reference"] in [error["loc"] for error in trip.json()["detail"]]


# Webhook URLs -------------------------------------------------------------------------------

NOT_IDNA = [
    "http://xn--a.example/hook",  # a punycode label that decodes to nothing valid
    "http://a..b/hook",  # an empty label
    f"http://{'a' * 64}.example/hook",  # a label over 63 characters
    "http://\u2000x.com/",  # a space character, which IDNA maps to nothing allowed
]


@in_process_loop
@pytest.mark.parametrize("url", NOT_IDNA)
async def test_a_webhook_host_that_is_not_idna_is_422_at_the_url(
    api: httpx.AsyncClient, url: str
) -> None:
    before = (await api.get("/api/v1/subscriptions")).json()
    created = await api.post("/api/v1/subscriptions", json={"url": url})
    assert created.status_code == 422, created.text
    assert [e["loc"] for e in created.json()["detail"]] == [["body", "url"]]
    assert (await api.get("/api/v1/subscriptions")).json() == before

    sub = (await api.post("/api/v1/subscriptions",
                          json={"url": "http://127.0.0.1:9/hook"})).json()
    patched = await api.patch(f"/api/v1/subscriptions/{sub['id']}", json={"url": url})
    assert patched.status_code == 422, patched.text
    assert [e["loc"] for e in patched.json()["detail"]] == [["body", "url"]]
    assert (await api.get(f"/api/v1/subscriptions/{sub['id']}")).json()["url"] == sub["url"]
    assert (await api.delete(f"/api/v1/subscriptions/{sub['id']}")).status_code == 204
