"""Upgrading keeps the data: the state database is migrated in place by Alembic, on SQLite and
on PostgreSQL, and a `state.db` written by release 0.1.0 (before Alembic) is adopted."""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

import pytest
from alembic import op
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from support import processes

from alerts import AlertStore, SubscriptionStore, WebhookOutbox
from alerts.store import AlertFilter
from gateway.app import open_state_db
from gateway.migrations import SchemaTooNew, current_revision, head, target_metadata, upgrade
from gateway.registry import AssetRegistry, KeyStore, PlaceRegistry
from gateway.registry.trips import TripStore
from gateway.settings import Settings
from ingest.deadletters import DeadLetterStore
from ingest.speakers import TagSpeakers
from ingest.statedb import StateDb

ROOT = Path(__file__).resolve().parents[3]
RELEASE_0_1_0 = ROOT / "tests" / "fixtures" / "state-0.1.0.db"


def test_a_state_db_of_release_0_1_0_is_upgraded_in_place_with_every_row(
        tmp_path: Path) -> None:
    shutil.copy(RELEASE_0_1_0, tmp_path / "state.db")
    db = open_state_db(Settings(data_dir=tmp_path))
    assert current_revision(db.conn) == head()
    registry = AssetRegistry(db)
    assert [asset.id for asset in registry.assets()] == ["a1", "a2"]
    a1 = registry.get_asset("a1")
    assert a1 is not None and a1.tag_id == "tag-1" and a1.customer == "ACME"
    assert registry.binding_of("tag-1").asset_id == "a1"
    assert [recall.id for recall in registry.recalls()] == ["rcl_1"]
    places = PlaceRegistry(db)
    assert [fence.id for fence in places.geofences()] == ["hub-fra"] and places.profiles()
    assert len(KeyStore(db).list()) == 1
    alerts = AlertStore(db).list(AlertFilter())
    assert sorted(str(alert.kind) for alert in alerts) == ["overdue", "recall", "silent"]
    assert all(alert.opened_at.tzinfo is not None for alert in alerts)
    assert AlertStore(db).load_rule_states("engine")
    (subscription,) = SubscriptionStore(db).all()
    assert subscription.url == "https://erp.example.com/hooks"
    assert len(WebhookOutbox(db).list(subscription.id)) == 2
    (letter,) = DeadLetterStore(db).list()
    assert letter.letter.payload == b"{not json" and letter.letter.cause == "invalid_json"
    assert TagSpeakers(db).speaker_of("tag-1") == "user:tag-1"
    # Each asset made one trip, open, with its flow, customer, due date and destination;
    # its alerts belong to it.
    trips = TripStore(db)
    for asset in registry.assets():
        trip = trips.open_trip_of(asset.id)
        assert trip is not None and asset.trip_id == trip.id == f"trp_{asset.id}"
        assert (trip.flow, trip.customer, trip.due_at, trip.destination) == (
            asset.flow, asset.customer, asset.due_at, asset.destination)
        assert asset.trip_status == trip.status
        assert trip.status is trip.machine.initial or trip.status in trip.machine.statuses
        assert [change.status for change in trips.history(trip.id)] == [trip.status]
    assert {alert.trip_id for alert in alerts} <= {"trp_a1", "trp_a2"}
    assert all(alert.trip_id == f"trp_{alert.asset_id}" for alert in alerts)
    db.close()
    again = open_state_db(Settings(data_dir=tmp_path))  # nothing left to do
    assert current_revision(again.conn) == head()
    again.close()


def test_release_0_1_0_s_due_date_index_gives_way_to_the_portable_one(tmp_path: Path) -> None:
    shutil.copy(RELEASE_0_1_0, tmp_path / "state.db")
    open_state_db(Settings(data_dir=tmp_path)).close()
    sql = sqlite3.connect(tmp_path / "state.db").execute(
        "SELECT sql FROM sqlite_master WHERE name = 'assets_by_due'").fetchone()[0]
    assert "IFNULL" not in sql and "CASE WHEN" in sql


def test_a_database_of_0_1_0_from_before_its_numbered_migrations_is_adopted(
        tmp_path: Path) -> None:
    """An early 0.1.0 database: tables, user_version 0, none of the later indexes."""
    old = sqlite3.connect(tmp_path / "state.db")
    for (sql,) in sqlite3.connect(RELEASE_0_1_0).execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'tag_speakers'"):
        old.execute(sql.replace(", cause TEXT NOT NULL DEFAULT 'invalid_reading', "
                                "payload_bytes INTEGER, payload_sha256 TEXT", ""))
    old.execute("INSERT INTO assets (id, kind, flow, state, created_at) VALUES "
                "('a1', 'rental', 'rental_return', 'in_transit', '2026-11-01T00:00:00+00:00')")
    old.commit()
    old.close()
    db = open_state_db(Settings(data_dir=tmp_path))
    assert [asset.id for asset in AssetRegistry(db).assets()] == ["a1"]
    assert current_revision(db.conn) == head()
    db.close()


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_the_migrations_make_exactly_the_tables_the_stores_declare(state_db: StateDb) -> None:
    """On both engines: a migrated database and the stores' METADATA do not differ (so no
    store reads a column no migration made, and no migration was forgotten)."""
    context = MigrationContext.configure(state_db.conn, opts={"compare_type": False})
    differences = [diff for diff in compare_metadata(context, target_metadata())
                   if not _expression_index(diff)]
    assert differences == []


def _expression_index(diff: object) -> bool:
    # Alembic cannot reflect an index on expressions (assets_by_due) to compare it.
    return "assets_by_due" in repr(diff)


def test_a_failing_migration_leaves_the_database_as_it_was(
        state_db: StateDb, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each upgrade runs in one transaction, DDL included, on both engines: 0002 drops an
    index, then fails creating its replacement; the drop is undone with it."""
    with state_db.transaction() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
        for table in reversed(target_metadata().sorted_tables):
            conn.execute(text(f"DROP TABLE {table.name}"))
    upgrade(state_db, "0001")
    before = _indexes(state_db)

    def refused(*_: object, **__: object) -> None:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(op, "create_index", refused)
    with pytest.raises(RuntimeError, match="disk is full"):
        upgrade(state_db)
    assert current_revision(state_db.conn) == "0001"
    assert _indexes(state_db) == before


def _indexes(db: StateDb) -> set[str]:
    with db.transaction() as conn:
        if db.is_postgresql:
            return set(conn.scalars(text("SELECT indexname FROM pg_indexes "
                                         "WHERE tablename = 'assets'")))
        return set(conn.scalars(text("SELECT name FROM sqlite_master "
                                     "WHERE type = 'index' AND tbl_name = 'assets'")))


def test_a_database_from_a_newer_gateway_stops_start_up(tmp_path: Path) -> None:
    db = open_state_db(Settings(data_dir=tmp_path))
    with db.transaction() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db.close()
    with pytest.raises(SchemaTooNew, match="9999"):
        open_state_db(Settings(data_dir=tmp_path))
    served = processes.run([sys.executable, "-m", "gateway", "serve"], cwd=ROOT, timeout=60,
                           capture_output=True, text=True,
                           env={"PATH": "", "BOOMERANG_DATA_DIR": str(tmp_path)})
    assert served.returncode == 2
    assert "newer gateway" in served.stderr and "Traceback" not in served.stderr


def test_two_gateways_starting_on_one_postgresql_migrate_it_once(postgres: object) -> None:
    """The migration lock: both come up on the newest revision, neither fails."""
    import threading

    from support.postgres import Postgres
    assert isinstance(postgres, Postgres)
    name = postgres.create_database(template=None)
    results: list[str | BaseException] = []

    def start() -> None:
        db = StateDb.open(postgres.url(name))
        try:
            results.append(upgrade(db))
        except BaseException as exc:
            results.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [head(), head()]
    postgres.drop_database(name)
