"""CSV import of assets and recalls against a real gateway process: per-row outcomes and
reasons, updates, modes, files refused whole, 10,000 rows in one request, the example files
in docs/examples/, and `boomerang import` with its exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import processes
from support.common import ROOT, free_port
from support.gateways import GatewayProcess, run_gateway, unique
from support.servers import Mosquitto

EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            mosquitto: Mosquitto, state_engine: str) -> Iterator[GatewayProcess]:
    env = {
        "BOOMERANG_MQTT_URL": mosquitto.gateway_url(),
    }
    with run_gateway(Path(tmp_path_factory.mktemp("import")), env) as process:
        yield process


@pytest.fixture
def api(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with gateway.client() as client:
        client.timeout = httpx.Timeout(120)
        yield client


def post_csv(api: httpx.Client, resource: str, text: str | bytes,
             **params: str) -> httpx.Response:
    return api.post(f"/api/v1/{resource}:import", params=params,
                    content=text.encode() if isinstance(text, str) else text,
                    headers={"Content-Type": "text/csv"})


def report_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def by_row(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {row["row"]: row for row in report["rows"]}


def problems(row: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["reason"] for error in row["errors"]}


def test_each_row_is_created_updated_or_rejected_with_its_reason(api: httpx.Client) -> None:
    p = unique("imp")
    api.post("/api/v1/assets", json={"id": f"{p}-old", "kind": "rental", "flow": "rental_return",
                                     "customer": "Old Customer", "sku": "OLD"}
             ).raise_for_status()
    api.post("/api/v1/assets", json={"id": f"{p}-holder", "kind": "rental",
                                     "flow": "rental_return", "tag_id": f"{p}-t9"}
             ).raise_for_status()
    text = (
        "id,tag_id,kind,flow,sku,customer,due_at,profile\n"
        f"{p}-1,{p}-t1,rental,rental_return,DRILL,\"Kranz & Sohn, Leipzig\",2026-12-24T17:00:00Z,\n"
        f"{p}-old,,rental,rental_return,NEW,New Customer,,\n"
        f"{p}-2,,boat,rental_return,,,,\n"
        f"{p}-3,,rental,,,,2026-12-24,\n"
        f"{p}-4,,shipment,customer_return,,,,no-such-profile\n"
        f"{p}-5,{p}-t9,shipment,customer_return,,,,\n"
        f"{p}-6,,rental\n"
        "\n"
        f"{p}-7, {p}-t7 ,shipment,warranty_repair,,,,cold_chain\n"
        f",,shipment,b2b_return,PALLET,,,\n"
    )
    report = report_of(post_csv(api, "assets", text))
    rows = by_row(report)
    assert (report["created"], report["updated"], report["rejected"]) == (3, 1, 5)
    assert [r["row"] for r in report["rows"]] == [2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert rows[2]["outcome"] == "created" and rows[2]["id"] == f"{p}-1"
    assert rows[3]["outcome"] == "updated"
    assert rows[4]["outcome"] == "rejected" and "kind" in problems(rows[4])
    assert set(problems(rows[5])) == {"flow", "due_at"}
    assert "timezone" in problems(rows[5])["due_at"]
    assert "no-such-profile" in problems(rows[6])["profile"]
    assert f"{p}-holder" in problems(rows[7])["tag_id"]
    assert "3 cells" in problems(rows[8])[""]
    assert rows[10]["outcome"] == "created" and rows[11]["outcome"] == "created"
    assert rows[11]["id"].startswith("ast_")  # no id given: one made

    first = api.get(f"/api/v1/assets/{p}-1").json()
    assert first["customer"] == "Kranz & Sohn, Leipzig" and first["tag_id"] == f"{p}-t1"
    assert first["due_at"] == "2026-12-24T17:00:00Z"
    old = api.get(f"/api/v1/assets/{p}-old").json()
    assert (old["sku"], old["customer"]) == ("NEW", "New Customer")
    assert api.get(f"/api/v1/assets/{p}-7").json()["tag_id"] == f"{p}-t7"  # cells stripped
    for rejected in (2, 3, 4, 5, 6):
        assert api.get(f"/api/v1/assets/{p}-{rejected}").status_code == 404
    assert api.get(f"/api/v1/assets/{p}-holder").json()["tag_id"] == f"{p}-t9"


def test_a_file_of_some_columns_changes_only_those(api: httpx.Client) -> None:
    p = unique("cols")
    api.post("/api/v1/assets", json={"id": p, "kind": "rental", "flow": "rental_return",
                                     "sku": "KEEP", "customer": "Before", "lot": "L-1"}
             ).raise_for_status()
    report = report_of(post_csv(api, "assets", f"customer,id,lot\nAfter,{p},\n"))
    assert by_row(report)[2]["outcome"] == "updated"
    asset = api.get(f"/api/v1/assets/{p}").json()
    assert (asset["sku"], asset["customer"], asset["lot"]) == ("KEEP", "After", None)
    # A new id needs kind and flow.
    report = report_of(post_csv(api, "assets", f"id,customer\n{p}-new,Someone\n"))
    assert set(problems(by_row(report)[2])) == {"kind", "flow"}


def test_mode_create_rejects_an_existing_id(api: httpx.Client) -> None:
    p = unique("mode")
    text = f"id,kind,flow\n{p}-1,rental,rental_return\n"
    assert report_of(post_csv(api, "assets", text, mode="create"))["created"] == 1
    report = report_of(post_csv(api, "assets", text + f"{p}-2,rental,rental_return\n",
                                mode="create"))
    rows = by_row(report)
    assert rows[2]["outcome"] == "rejected" and "exists" in problems(rows[2])["id"]
    assert rows[3]["outcome"] == "created"
    assert report_of(post_csv(api, "assets", text))["updated"] == 1  # upsert, the default
    assert post_csv(api, "assets", text, mode="replace").status_code == 422


def test_an_id_twice_in_one_file_updates_the_row_above(api: httpx.Client) -> None:
    p = unique("twice")
    text = (f"id,kind,flow,customer,tag_id\n{p},rental,rental_return,First,{p}-t1\n"
            f"{p},rental,rental_return,Second,{p}-t2\n")
    report = report_of(post_csv(api, "assets", text))
    assert [r["outcome"] for r in report["rows"]] == ["created", "updated"]
    asset = api.get(f"/api/v1/assets/{p}").json()
    assert (asset["customer"], asset["tag_id"]) == ("Second", f"{p}-t2")
    # The first tag is free again.
    other = f"id,kind,flow,tag_id\n{p}-other,rental,rental_return,{p}-t1\n"
    assert report_of(post_csv(api, "assets", other))["created"] == 1


def test_recalls_import_splits_lists_and_alerts_matching_assets(api: httpx.Client) -> None:
    p = unique("rcl")
    sku = unique("SKU")
    for lot in ("L1", "L2", "L3"):
        api.post("/api/v1/assets", json={"id": f"{p}-{lot}", "kind": "shipment",
                                         "flow": "recall", "sku": sku, "lot": lot}
                 ).raise_for_status()
    text = (
        "id,sku,lots,serials,reason,active\n"
        f"{p}-a,{sku},L1; L2,,overheats,true\n"
        f"{p}-b,,L3,,,true\n"
        f"{p}-c,{sku},,S1;S2;S3,,maybe\n"
        f"{p}-d,OTHER,,,,false\n"
    )
    report = report_of(post_csv(api, "recalls", text))
    rows = by_row(report)
    assert (report["created"], report["rejected"]) == (2, 2)
    assert "sku" in problems(rows[3]) and "active" in problems(rows[4])
    recall = api.get(f"/api/v1/recalls/{p}-a").json()
    assert (recall["lots"], recall["serials"], recall["reason"]) == (["L1", "L2"], [], "overheats")
    assert api.get(f"/api/v1/recalls/{p}-d").json()["active"] is False

    def recalled(lot: str) -> list[str]:
        found = api.get("/api/v1/alerts", params={"asset_id": f"{p}-{lot}",
                                                  "kind": "recall"}).json()["items"]
        return [a["key"] for a in found]

    assert recalled("L1") == [f"{p}-a"] and recalled("L2") == [f"{p}-a"]
    assert recalled("L3") == []
    # Updating: widen the lots, end it with `active`.
    report = report_of(post_csv(api, "recalls", f"id,lots\n{p}-a,L1;L2;L3\n"))
    assert by_row(report)[2]["outcome"] == "updated"
    assert recalled("L3") == [f"{p}-a"]
    report_of(post_csv(api, "recalls", f"id,active\n{p}-a,false\n"))
    assert api.get(f"/api/v1/recalls/{p}-a").json()["active"] is False


def test_the_example_files_import_without_a_rejection(api: httpx.Client) -> None:
    for resource in ("assets", "recalls"):
        report = report_of(post_csv(api, resource, (EXAMPLES / f"{resource}.csv").read_bytes()))
        assert report["rejected"] == 0, report
        assert report["created"] + report["updated"] == len(report["rows"]) > 0
    assert api.get("/api/v1/assets/rent-drill-0002").json()["customer"] == (
        "Kranz & Sohn, Leipzig")
    assert api.get("/api/v1/recalls/rcl-phone-9-batt").json()["serials"] == [
        "SN-0815", "SN-0816", "SN-0817"]


def bulk_file(rows: int, sku: str) -> str:
    lines = ["id,tag_id,kind,flow,sku,serial,lot,customer,due_at"]
    lines += [f"{sku}-{n:05d},{sku}-tag-{n:05d},rental,rental_return,{sku},SN-{n},L-{n % 7},"
              f"Customer {n % 300},2027-01-{1 + n % 28:02d}T12:00:00Z" for n in range(rows)]
    return "\n".join(lines) + "\n"


def test_ten_thousand_rows_import_in_one_request(api: httpx.Client) -> None:
    sku = unique("BULK")
    text = bulk_file(10_000, sku)
    started = time.perf_counter()
    report = report_of(post_csv(api, "assets", text))
    created_s = time.perf_counter() - started
    assert (report["created"], report["rejected"]) == (10_000, 0)
    started = time.perf_counter()
    report = report_of(post_csv(api, "assets", text))
    updated_s = time.perf_counter() - started
    assert report["updated"] == 10_000
    print(f"\n10,000 asset rows ({len(text) / 1e6:.1f} MB): created in {created_s:.2f} s, "
          f"updated in {updated_s:.2f} s (HTTP round trip included)")

    ids: list[str] = []
    cursor = None
    while True:
        page = api.get("/api/v1/assets", params={
            "sku": sku, "limit": 1000, "sort": "-due_at", **({"cursor": cursor} if cursor else {})
        }).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(ids) == len(set(ids)) == 10_000
    assert set(ids) == {f"{sku}-{n:05d}" for n in range(10_000)}


def test_the_gateway_answers_while_a_large_import_runs(
    api: httpx.Client, gateway: GatewayProcess
) -> None:
    """An import goes in a chunk of rows at a time, letting other requests (and ingest) in
    between: /healthz, asked over and over while 10,000 rows go in, never waits for more
    than a small part of the import's time."""
    text = bulk_file(10_000, unique("BUSY"))
    done: dict[str, Any] = {}

    def run_import() -> None:
        started = time.perf_counter()
        done["response"] = post_csv(api, "assets", text)
        done["seconds"] = time.perf_counter() - started

    importer = threading.Thread(target=run_import)
    waits: list[float] = []
    with httpx.Client(base_url=gateway.api, timeout=60) as probe:
        importer.start()
        while importer.is_alive():
            started = time.perf_counter()
            assert probe.get("/healthz").status_code == 200
            waits.append(time.perf_counter() - started)
    importer.join()
    assert report_of(done["response"])["created"] == 10_000
    print(f"\n10,000 rows in {done['seconds']:.2f} s; /healthz answered {len(waits)} times "
          f"meanwhile, the slowest in {max(waits) * 1000:.0f} ms")
    assert len(waits) >= 5  # asked while the import ran
    assert max(waits) < done["seconds"] / 4


def test_a_file_that_is_not_a_table_is_refused_whole(
    api: httpx.Client, gateway: GatewayProcess
) -> None:
    response = post_csv(api, "assets", "id,kind,colour\nx,rental,red\n")
    assert response.status_code == 422 and "colour" in response.text
    assert post_csv(api, "assets", "").status_code == 422
    assert post_csv(api, "assets", "id,id\na,b\n").status_code == 422
    assert post_csv(api, "assets", b"id,customer\nx,M\xfcller\n").status_code == 422
    response = api.post("/api/v1/assets:import", json=[{"id": "x"}])
    assert response.status_code == 415
    too_big = b"id,customer\n" + b"x," + b"y" * (20 * 1024 * 1024) + b"\n"
    assert post_csv(api, "recalls", too_big).status_code == 413
    with httpx.Client(base_url=gateway.api, timeout=10) as anonymous:
        assert post_csv(anonymous, "assets", "id\n").status_code == 401
        key = api.post("/api/v1/keys", json={"scope": "read"}).json()["key"]
        anonymous.headers["Authorization"] = f"Bearer {key}"
        assert post_csv(anonymous, "assets", "id\n").status_code == 403


@pytest.mark.parametrize(("text", "where", "says"), [
    ("id,sku,colour\n{id},S,red\n", "header", "'colour'"),
    ("", "header", "empty"),
    ("id,sku,sku\n{id},S,T\n", "header", "'sku' repeated"),
    ("id,sku,reason\n{id},S,M\udcfcller\n", "file", "not UTF-8"),  # a Latin-1 byte
    # An unclosed quote: refused, rather than every row after it swallowed into one cell.
    ('id,sku,reason\n{id},S,"Needle\nother,T,x\n', "file", "row"),
])
def test_a_recalls_file_that_is_not_a_table_is_422_saying_where(
    api: httpx.Client, text: str, where: str, says: str
) -> None:
    recall_id = unique("rcl")
    response = post_csv(api, "recalls",
                        text.format(id=recall_id).encode(errors="surrogateescape"))
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", where] and says in error["msg"]
    assert api.get(f"/api/v1/recalls/{recall_id}").status_code == 404


def test_a_file_with_old_mac_line_ends_imports_every_row(api: httpx.Client) -> None:
    first, second = unique("rcl"), unique("rcl")
    report = report_of(post_csv(api, "recalls", f"id,sku\r{first},S1\r{second},S2\r"))
    assert [row["outcome"] for row in report["rows"]] == ["created", "created"]
    assert api.get(f"/api/v1/recalls/{second}").json()["sku"] == "S2"


def test_a_recalls_import_that_is_not_csv_or_of_an_unknown_mode_is_refused(
    api: httpx.Client,
) -> None:
    recall_id = unique("rcl")
    text = f"id,sku\n{recall_id},S\n"
    for content_type in ("application/json", "text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = api.post("/api/v1/recalls:import", headers=headers, content=text.encode())
        assert response.status_code == 415, content_type
        assert "text/csv" in response.json()["detail"]
    mode = post_csv(api, "recalls", text, mode="replace")
    assert mode.status_code == 422
    assert [error["loc"] for error in mode.json()["detail"]] == [["query", "mode"]]
    assert api.get(f"/api/v1/recalls/{recall_id}").status_code == 404
    # The same file as CSV in a known mode goes in.
    assert report_of(post_csv(api, "recalls", text, mode="create"))["created"] == 1
    assert api.get(f"/api/v1/recalls/{recall_id}").json()["sku"] == "S"


def run_cli(gateway_api: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOMERANG_API_KEY": key, "COLUMNS": "200"}
    return processes.run([sys.executable, "-m", "gateway", "import", *args, "--api",
                          gateway_api], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)


def test_cli_reports_rejected_rows_and_exits_1_else_0(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    p = unique("cli")
    good = tmp_path / "good.csv"
    good.write_text(f"id,kind,flow\n{p}-1,rental,rental_return\n{p}-2,shipment,trade_in\n")
    done = run_cli(gateway.api, gateway.admin_key, "assets", str(good))
    assert done.returncode == 0, done.stderr
    assert "created 2, updated 0, rejected 0" in done.stdout
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(f"id,kind,flow\n{p}-1,rental,rental_return\n{p}-3,boat,trade_in\n")
    done = run_cli(gateway.api, gateway.admin_key, "assets", str(mixed))
    assert done.returncode == 1, done.stderr
    assert f"{p}-3" in done.stdout and "kind" in done.stdout and "'shipment'" in done.stdout
    assert "created 0, updated 1, rejected 1" in done.stdout
    recalls = tmp_path / "recalls.csv"
    recalls.write_text(f"id,sku,lots\n{p}-r,SKU-CLI,A;B\n")
    done = run_cli(gateway.api, gateway.admin_key, "recalls", str(recalls), "--mode", "create")
    assert done.returncode == 0 and "created 1" in done.stdout


def test_cli_exits_2_when_nothing_was_imported(gateway: GatewayProcess, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,kind,flow\ncli-x,rental,rental_return\n")
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = run_cli(nowhere, gateway.admin_key, "assets", str(good))
    assert done.returncode == 2 and nowhere in done.stderr
    done = run_cli(gateway.api, "wrong-key", "assets", str(good))
    assert done.returncode == 2 and "401" in done.stderr
    done = run_cli(gateway.api, gateway.admin_key, "assets", str(tmp_path / "missing.csv"))
    assert done.returncode == 2
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("id,colour\nx,red\n")
    done = run_cli(gateway.api, gateway.admin_key, "assets", str(bad_header))
    assert done.returncode == 2 and "colour" in done.stderr
    done = run_cli(gateway.api, gateway.admin_key, "assets", str(good), "--mode", "merge")
    assert done.returncode == 2
    with gateway.client() as api:
        assert api.get("/api/v1/assets/cli-x").status_code == 404  # none of them imported it
