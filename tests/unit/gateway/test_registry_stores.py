"""The registry's stores, on SQLite and on PostgreSQL (`state_db`, `state_url`:
tests/support/plugin.py): assets and their tag bindings, recalls, keyset paging (a page of any sort
follows code point order on both engines, and the next page starts exactly where the last
ended), geofences and profiles, API keys, and stores joining a transaction already open."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, exc, text
from support.postgres import Postgres

from alerts.domain import Asset, AssetKind, AssetState, Circle, Flow, Geofence, GeofenceKind, Recall
from alerts.profiles import MetricSpec, Profile
from gateway.migrations import upgrade
from gateway.registry import (
    ASSET_SORT_FIELDS,
    RECALL_SORT_FIELDS,
    AssetOrder,
    AssetRegistry,
    KeyStore,
    PlaceRegistry,
    RecallOrder,
    SortKey,
    TagAlreadyBound,
)
from ingest.statedb import StateDb, is_unique_violation

T0 = datetime(2026, 1, 1, tzinfo=UTC)

CodePointKey = tuple[Any, ...]


def asset(asset_id: str, **fields: Any) -> Asset:
    return Asset(id=asset_id, kind=AssetKind.RENTAL, flow=Flow.RENTAL_RETURN, **fields)


def varied_assets(n: int = 60, seed: int = 7) -> list[Asset]:
    """Assets whose ids, skus and customers differ in case, accents, spaces and punctuation,
    where a locale's collation and code point order disagree, with ties and missing values."""
    rnd = random.Random(seed)
    return [asset(
        f"a{i:02d}" if i % 3 else f"B{i}",
        sku=rnd.choice([None, "", "a", "B", "b", "Z", "é", "a b", "ab"]),
        customer=rnd.choice([None, "ACME", "acme", "Ümlaut", "_x"]),
        due_at=rnd.choice([None, T0, T0 + timedelta(days=1), T0 - timedelta(hours=3)]),
        state=rnd.choice(list(AssetState)),
        created_at=rnd.choice([T0, T0 + timedelta(seconds=1)]),
    ) for i in range(n)]


def _nullable(value: str | datetime | None) -> tuple[bool, str]:
    """A missing value last (first when descending), as `last_when_null` sorts it."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    return value is None, value or ""


ASSET_KEYS: dict[str, Callable[[Asset], CodePointKey]] = {
    "id": lambda a: (a.id,),
    "created_at": lambda a: (a.created_at.isoformat() if a.created_at else "", a.id),
    "state": lambda a: (str(a.state), a.id),
    "due_at": lambda a: (*_nullable(a.due_at), a.id),
    "customer": lambda a: (*_nullable(a.customer), a.id),
    "sku": lambda a: (*_nullable(a.sku), a.id),
}
"""Each asset sort, in Python: strings compare by code point."""

RECALL_KEYS: dict[str, Callable[[Recall], CodePointKey]] = {
    "id": lambda r: (r.id,),
    "created_at": lambda r: (r.created_at.isoformat() if r.created_at else "", r.id),
    "sku": lambda r: (r.sku, r.id),
}


def code_point_order(assets: list[Asset], order: AssetOrder) -> list[str]:
    key = ASSET_KEYS[order.field]
    return [a.id for a in sorted(assets, key=key, reverse=order.descending)]


def page_through(registry: AssetRegistry, order: AssetOrder, limit: int,
                 **equal: str | None) -> list[str]:
    """The ids of every page of `order`, in turn; checks the shape of each page's key."""
    seen: list[str] = []
    after: SortKey | None = None
    while True:
        page, after = registry.asset_page(order, limit=limit, after=after, **equal)
        assert len(page) <= limit
        seen += [a.id for a in page]
        if after is None:
            return seen
        assert len(after) == order.key_length
        assert all(isinstance(term, str) for term in after)


# Assets and tag bindings

def test_a_created_asset_reads_back_equal_with_an_aware_due_date(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    due = datetime(2026, 1, 1, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    created = registry.create_asset(asset("a1", tag_id="t1", sku="S", due_at=due))
    stored = registry.get_asset("a1")
    assert stored is not None and stored == created
    assert stored.due_at == due and stored.due_at.tzinfo is not None
    assert stored.created_at is not None and stored.created_at.tzinfo is not None


def test_a_tag_bound_to_one_asset_is_refused_to_another(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.create_asset(asset("a1", tag_id="t1"))
    with pytest.raises(TagAlreadyBound) as refused:
        registry.create_asset(asset("a2", tag_id="t1"))
    assert (refused.value.tag_id, refused.value.asset_id) == ("t1", "a1")
    assert registry.get_asset("a2") is None
    assert registry.binding_of("t1").asset_id == "a1"


def test_updating_an_asset_onto_a_held_tag_is_refused(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.save_assets([asset("a1", tag_id="t1"), asset("a2", tag_id="t2")])
    with pytest.raises(TagAlreadyBound):
        registry.update_asset(asset("a2", tag_id="t1"))
    stored = registry.get_asset("a2")
    assert stored is not None and stored.tag_id == "t2"


def test_an_asset_id_given_twice_is_refused_as_a_unique_violation(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.create_asset(asset("a1"))
    with pytest.raises(exc.IntegrityError) as refused:
        registry.create_asset(asset("a1"))
    assert is_unique_violation(refused.value)


def test_a_batch_applies_in_order_so_a_tag_freed_earlier_in_it_can_be_taken(
        state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.create_asset(asset("a1", tag_id="t1"))
    answer = registry.save_assets([
        asset("a1", tag_id=None),          # frees t1
        asset("a2", tag_id="t1"),          # takes it
        asset("a1", tag_id="t2", sku="X"),  # the same id again: the later row wins
        asset("a3", tag_id="t2"),          # refused: a1 took t2 just before
    ])
    assert answer[:3] == [None, None, None]
    conflict = answer[3]
    assert isinstance(conflict, TagAlreadyBound)
    assert (conflict.tag_id, conflict.asset_id) == ("t2", "a1")
    assert registry.binding_of("t1").asset_id == "a2"
    assert registry.binding_of("t2").asset_id == "a1"
    assert registry.get_asset("a3") is None
    a1 = registry.get_asset("a1")
    assert a1 is not None and (a1.sku, a1.tag_id) == ("X", "t2")


def test_a_saved_asset_keeps_its_creation_time(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    first = registry.create_asset(asset("a1", created_at=T0))
    registry.save_assets([asset("a1", sku="X")])
    stored = registry.get_asset("a1")
    assert stored is not None and stored.sku == "X" and stored.created_at == first.created_at


def test_a_new_registry_loads_the_tag_bindings_from_the_database(state_db: StateDb) -> None:
    AssetRegistry(state_db).save_assets([asset("a1", tag_id="t1"), asset("a2")])
    again = AssetRegistry(state_db)
    assert again.binding_of("t1").asset_id == "a1"


def test_deleting_an_asset_frees_its_tag_and_deleting_it_again_finds_nothing(
        state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.create_asset(asset("a1", tag_id="t1"))
    assert registry.delete_asset("a1")
    assert not registry.delete_asset("a1")
    assert registry.binding_of("t1").asset_id != "a1"
    registry.create_asset(asset("a2", tag_id="t1"))
    assert registry.binding_of("t1").asset_id == "a2"


def test_get_assets_returns_those_that_exist_by_id(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.save_assets([asset("a1"), asset("a2"), asset("a3")])
    assert set(registry.get_assets(["a1", "a2", "zz", "a1"])) == {"a1", "a2"}
    assert registry.get_assets([]) == {}


def test_assets_are_filtered_by_equal_columns(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.save_assets([asset("a1", tag_id="t1", sku="S"), asset("a2", sku="S"),
                          asset("a3", sku="T")])
    assert [a.id for a in registry.assets(tag_id="t1")] == ["a1"]
    assert [a.id for a in registry.assets(sku="S")] == ["a1", "a2"]
    assert [a.id for a in registry.assets(sku="S", customer=None)] == ["a1", "a2"]


def test_filtering_assets_by_a_column_not_offered_is_refused(state_db: StateDb) -> None:
    with pytest.raises(ValueError, match="cannot filter"):
        AssetRegistry(state_db).assets(created_at="2026")


# Keyset paging

def test_a_sort_is_named_by_its_field_with_a_minus_for_descending() -> None:
    order = AssetOrder.parse("-due_at")
    assert order == AssetOrder("due_at", descending=True) and str(order) == "-due_at"
    assert AssetOrder.parse("sku") == AssetOrder("sku") and str(AssetOrder("sku")) == "sku"
    assert order.key_length == 3 and AssetOrder("id").key_length == 1


def test_a_sort_by_a_field_not_offered_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot sort assets by 'tag_id'"):
        AssetOrder("tag_id")
    with pytest.raises(ValueError, match="cannot sort recalls"):
        RecallOrder.parse("-due_at")


@pytest.mark.parametrize("field", ASSET_SORT_FIELDS)
def test_asset_pages_of_every_size_follow_code_point_order_both_ways(
        state_db: StateDb, field: str) -> None:
    registry = AssetRegistry(state_db)
    assets = varied_assets()
    registry.save_assets(assets)
    for order in (AssetOrder(field), AssetOrder(field, descending=True)):
        expected = code_point_order(assets, order)
        for limit in (1, 7, 60, 1000):
            assert page_through(registry, order, limit) == expected, (str(order), limit)
        everything, key = registry.asset_page(order)
        assert [a.id for a in everything] == expected and key is None


def test_filtered_pages_follow_the_same_order(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    assets = varied_assets()
    registry.save_assets(assets)
    received = [a for a in assets if a.state == AssetState.RECEIVED]
    for order in map(AssetOrder.parse, ("sku", "-customer", "due_at")):
        expected = code_point_order(received, order)
        assert page_through(registry, order, 4, state=AssetState.RECEIVED) == expected, order


@pytest.mark.parametrize("sort", ["-sku", "due_at"])
def test_a_keyset_resumes_exactly_though_rows_are_added_between_pages(
        state_db: StateDb, sort: str) -> None:
    """A row added behind the page already read is not seen; one added ahead is, in its
    place; no row is seen twice or skipped."""
    registry = AssetRegistry(state_db)
    order = AssetOrder.parse(sort)
    key = ASSET_KEYS[order.field]
    original = varied_assets(30, seed=1)
    registry.save_assets(original)
    added = iter(varied_assets(60, seed=2))
    expected_extra: list[Asset] = []
    seen: list[str] = []
    after: SortKey | None = None
    while True:
        page, after = registry.asset_page(order, limit=4, after=after)
        seen += [a.id for a in page]
        if after is None:
            break
        last = key(page[-1])
        for new in (next(added), next(added)):
            new.id = f"{'0Zn'[len(expected_extra) % 3]}-{new.id}"  # before, among, after
            registry.save_assets([new])
            if (key(new) < last) if order.descending else (key(new) > last):
                expected_extra.append(new)
    assert seen == code_point_order(original + expected_extra, order)


def test_a_key_that_is_not_one_of_the_sort_is_refused(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    with pytest.raises(ValueError, match="null flag"):
        registry.asset_page(AssetOrder("sku"), after=("x", "", "a"))
    with pytest.raises(ValueError, match="has 3 terms"):
        registry.asset_page(AssetOrder("sku"), after=("", "a"))


@contextlib.contextmanager
def statements_run(db: StateDb) -> Iterator[list[tuple[str, Any]]]:
    """The SQL and parameters sent to the database meanwhile."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
               _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def query_plan(db: StateDb, statement: str, parameters: Any) -> str:
    with db.transaction() as conn:
        if db.is_postgresql:
            # A table this small is cheaper to scan (whole, or through a bitmap of the index,
            # then sorted); what is asked is whether the index can serve the page (its
            # expressions the very ones sorted by).
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
            return "\n".join(str(row[0]) for row in rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in rows)


def test_pages_by_due_date_are_read_from_its_index_without_sorting(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.save_assets([asset(f"a{n:02d}", due_at=T0 + timedelta(hours=n) if n % 2 else None)
                          for n in range(50)])
    for order in (AssetOrder("due_at"), AssetOrder("due_at", descending=True)):
        _, key = registry.asset_page(order, limit=5)
        with statements_run(state_db) as sent:
            registry.asset_page(order, limit=5, after=key)
        (statement, parameters), = [(sql, values) for sql, values in sent
                                    if sql.lstrip().upper().startswith("SELECT")]
        plan = query_plan(state_db, statement, parameters)
        assert "assets_by_due" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_a_postgresql_database_of_an_icu_collation_still_pages_in_code_point_order(
        request: pytest.FixtureRequest) -> None:
    """The sorted columns are COLLATE "C" on PostgreSQL, whatever the database's default."""
    server: Postgres = request.getfixturevalue("postgres")
    name = f"icu_{uuid.uuid4().hex[:12]}"
    with server.admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                     "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    db = StateDb.open(server.url(name))
    try:
        upgrade(db)
        # The database's own order is not code point order: 'a' < 'B' in en-US.
        assert db.scalar(text("SELECT 'a' < 'B'")) is True
        registry = AssetRegistry(db)
        assets = varied_assets()
        registry.save_assets(assets)
        for field in ASSET_SORT_FIELDS:
            for descending in (False, True):
                order = AssetOrder(field, descending)
                assert page_through(registry, order, 7) == code_point_order(assets, order), order
    finally:
        db.close()
        server.drop_database(name)


# Recalls

def test_a_recall_without_an_id_is_given_one(state_db: StateDb) -> None:
    recall = AssetRegistry(state_db).create_recall(Recall(id="", sku="S"))
    assert recall.id.startswith("rcl_") and recall.created_at is not None


def test_a_recall_id_given_twice_is_refused_as_a_unique_violation(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.create_recall(Recall(id="r1", sku="S"))
    with pytest.raises(exc.IntegrityError) as refused:
        registry.create_recall(Recall(id="r1", sku="T"))
    assert is_unique_violation(refused.value)


def test_a_saved_recall_is_replaced_but_keeps_its_creation_time(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.create_recall(Recall(id="r1", sku="S", lots=("L1",), reason="why", created_at=T0))
    registry.save_recalls([Recall(id="r1", sku="T", lots=("L2", "L3"), serials=("s1",),
                                  active=False)])
    assert registry.get_recall("r1") == Recall(
        id="r1", sku="T", lots=("L2", "L3"), serials=("s1",), active=False, created_at=T0)


def test_recalls_are_listed_oldest_first_and_filtered_by_sku_and_activity(
        state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.save_recalls([
        Recall(id="r3", sku="S", created_at=T0 + timedelta(days=2)),
        Recall(id="r1", sku="T", active=False, created_at=T0),
        Recall(id="r2", sku="S", created_at=T0 + timedelta(days=1)),
    ])
    assert [r.id for r in registry.recalls()] == ["r1", "r2", "r3"]
    assert [r.id for r in registry.recalls(active=True)] == ["r2", "r3"]
    assert [r.id for r in registry.recalls(active=False)] == ["r1"]
    assert [r.id for r in registry.recalls(sku="S", active=True)] == ["r2", "r3"]
    assert registry.recalls(sku="T", active=True) == []


def test_recall_pages_of_every_sort_follow_code_point_order(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    rnd = random.Random(3)
    recalls = [Recall(id=rnd.choice(["r", "R", "é", "_"]) + str(n),
                      sku=rnd.choice(["a", "B", "b", "é", "a b"]),
                      created_at=rnd.choice([T0, T0 + timedelta(hours=1)]))
               for n in range(15)]
    registry.save_recalls(recalls)
    for field in RECALL_SORT_FIELDS:
        for descending in (False, True):
            expected = [r.id for r in
                        sorted(recalls, key=RECALL_KEYS[field], reverse=descending)]
            seen: list[str] = []
            after: SortKey | None = None
            while True:
                page, after = registry.recall_page(RecallOrder(field, descending), limit=4,
                                                   after=after)
                seen += [r.id for r in page]
                if after is None:
                    break
            assert seen == expected, (field, descending)


def test_a_recall_page_ends_at_a_key_of_the_stored_terms(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.save_recalls([Recall(id="r1", sku="T", created_at=T0),
                           Recall(id="r2", sku="S", created_at=T0 + timedelta(days=1))])
    page, key = registry.recall_page(RecallOrder("sku", descending=True), limit=1)
    assert [r.id for r in page] == ["r1"] and key == ("T", "r1")
    page, key = registry.recall_page(RecallOrder("sku", descending=True), limit=1, after=key)
    assert [r.id for r in page] == ["r2"] and key is None
    _, key = registry.recall_page(RecallOrder("created_at"), limit=1)
    assert key == (T0.isoformat(), "r1")


def test_get_recalls_returns_those_that_exist_by_id(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.save_recalls([Recall(id="r1", sku="S"), Recall(id="r2", sku="S")])
    assert set(registry.get_recalls(["r1", "r2", "x"])) == {"r1", "r2"}
    assert registry.get_recall("x") is None


def test_a_deleted_recall_is_gone_and_deleting_it_again_finds_nothing(
        state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.create_recall(Recall(id="r1", sku="S"))
    assert registry.delete_recall("r1")
    assert not registry.delete_recall("r1")
    assert registry.get_recall("r1") is None


# Places

HUB = Geofence(id="hub", name="Hub", kind=GeofenceKind.HUB, circle=Circle(50.0, 8.0, 100.0))
DEPOT = Geofence(id="Depot", name="Depot", kind=GeofenceKind.DEPOT, geometry={
    "type": "Polygon", "coordinates": [[[8.0, 50.0], [8.1, 50.0], [8.1, 50.1], [8.0, 50.0]]]})


def test_a_geofence_saved_twice_is_stored_once_as_last_saved(state_db: StateDb) -> None:
    places = PlaceRegistry(state_db)
    places.save_geofence(HUB)
    renamed = Geofence(id="hub", name="Main hub", kind=GeofenceKind.HUB, circle=HUB.circle)
    places.save_geofence(renamed)
    assert places.geofences() == [renamed]


def test_geofences_are_listed_by_id_in_code_point_order(state_db: StateDb) -> None:
    places = PlaceRegistry(state_db)
    places.save_geofence(HUB)
    places.save_geofence(DEPOT)
    assert places.geofences() == [DEPOT, HUB]


def test_a_geofence_in_use_names_the_assets_that_use_it(state_db: StateDb) -> None:
    places = PlaceRegistry(state_db)
    places.save_geofence(HUB)
    AssetRegistry(state_db).save_assets([asset("b", destination="hub"),
                                         asset("a", allowed_area="hub"), asset("c")])
    assert places.geofence_in_use("hub") == ["a", "b"]
    assert places.geofence_in_use("elsewhere") == []


def test_a_deleted_geofence_is_gone_and_deleting_it_again_finds_nothing(
        state_db: StateDb) -> None:
    places = PlaceRegistry(state_db)
    places.save_geofence(HUB)
    assert places.delete_geofence("hub")
    assert not places.delete_geofence("hub")
    assert places.geofences() == []


def test_a_profile_reads_back_equal_and_is_replaced_when_saved_again(
        state_db: StateDb) -> None:
    places = PlaceRegistry(state_db)
    cold = Profile(name="cold", metrics={"temperature_c": MetricSpec(min=2.0, max=8.0,
                                                                     min_duration_s=60.0)},
                   silent_after_s=600.0, description="2-8 °C")
    places.save_profile(Profile(name="cold"))
    places.save_profile(cold)
    places.save_profile(Profile(name="Ambient", battery_below_pct=20.0))
    assert [p.name for p in places.profiles()] == ["Ambient", "cold"]
    assert places.profiles()[1] == cold
    assert places.delete_profile("cold") and not places.delete_profile("cold")


# API keys

def test_a_created_key_is_known_by_its_secret_alone(state_db: StateDb) -> None:
    keys = KeyStore(state_db)
    key, secret = keys.create("write", "ci")
    assert secret.startswith("bmr_") and secret not in key.id
    assert keys.check(secret) == key
    assert key.allows("read") and key.allows("write") and not key.allows("admin")
    assert keys.check(secret + "x") is None


def test_the_bootstrap_admin_key_is_admin_without_being_stored(state_db: StateDb) -> None:
    keys = KeyStore(state_db, "adm")
    bootstrap = keys.check("adm")
    assert bootstrap is not None and bootstrap.scope == "admin" and bootstrap.allows("admin")
    assert keys.list() == []
    assert KeyStore(state_db).check("adm") is None


def test_a_key_of_an_unknown_scope_is_refused(state_db: StateDb) -> None:
    with pytest.raises(ValueError, match="scope"):
        KeyStore(state_db).create("root")


def test_keys_are_listed_oldest_first(state_db: StateDb) -> None:
    keys = KeyStore(state_db)
    created = [keys.create(scope)[0] for scope in ("admin", "read", "write")]
    assert keys.list() == created


def test_a_revoked_key_allows_nothing_and_is_revoked_only_once(state_db: StateDb) -> None:
    keys = KeyStore(state_db)
    key, secret = keys.create("admin")
    assert keys.revoke(key.id)
    assert not keys.revoke(key.id)
    assert not keys.revoke("key_unknown")
    revoked = keys.check(secret)
    assert revoked is not None and revoked.revoked_at is not None
    assert not revoked.allows("read")


# Transactions

def test_a_store_joins_the_open_transaction_and_rolls_back_with_it(state_db: StateDb) -> None:
    registry = AssetRegistry(state_db)
    registry.create_asset(asset("a1"))
    with pytest.raises(RuntimeError), state_db.transaction():
        registry.set_state("a1", AssetState.RETURNED)
        PlaceRegistry(state_db).save_geofence(HUB)
        raise RuntimeError("the batch failed")
    stored = registry.get_asset("a1")
    assert stored is not None and stored.state == AssetState.IN_TRANSIT
    assert PlaceRegistry(state_db).geofences() == []


def test_writes_in_an_open_transaction_are_seen_by_others_only_once_it_commits(
        state_db: StateDb, state_url: str) -> None:
    other = StateDb.open(state_url)
    try:
        with state_db.transaction():
            AssetRegistry(state_db).create_asset(asset("a1"))
            KeyStore(state_db).create("read")
            assert state_db.in_transaction
            assert AssetRegistry(other).get_asset("a1") is None
            assert KeyStore(other).list() == []
        assert AssetRegistry(other).get_asset("a1") is not None
        assert len(KeyStore(other).list()) == 1
    finally:
        other.close()
