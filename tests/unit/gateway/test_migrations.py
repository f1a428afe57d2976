"""Upgrading keeps the data: the state database is migrated in place, once, in order."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import open_state_db
from gateway.migrations import BASELINE, LATEST, Migration, SchemaTooNew, migrate, schema_version
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def indexes(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}


def test_a_database_from_before_migrations_is_upgraded_with_its_data(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "state.db")
    old.executescript(BASELINE)  # what an earlier gateway left: tables, user_version 0
    with old:
        old.execute("INSERT INTO assets (id, kind, flow, state, created_at) VALUES "
                    "('a1', 'rental', 'rental_return', 'in_transit', '2026-11-01T00:00:00+00:00')")
    old.close()
    db = open_state_db(Settings(data_dir=tmp_path))
    assert schema_version(db) == LATEST
    assert "alerts_by_kind" in indexes(db)
    assert db.execute("SELECT id FROM assets").fetchall() == [("a1",)]
    assert migrate(db) == LATEST  # again: nothing to do


def test_a_fresh_database_starts_at_the_newest_version(tmp_path: Path) -> None:
    db = open_state_db(Settings(data_dir=tmp_path))
    assert schema_version(db) == LATEST and "alerts_by_kind" in indexes(db)


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "state.db")
    steps = (Migration(1, "baseline", BASELINE),
             Migration(2, "broken", "CREATE TABLE half_done (a); INSERT INTO nowhere VALUES (1);"))
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        migrate(db, steps)
    assert schema_version(db) == 1
    assert db.execute("SELECT name FROM sqlite_master WHERE name='half_done'").fetchone() is None


def test_a_database_from_a_newer_gateway_stops_start_up(tmp_path: Path) -> None:
    db = open_state_db(Settings(data_dir=tmp_path))
    db.execute(f"PRAGMA user_version = {LATEST + 1}")
    db.close()
    with pytest.raises(SchemaTooNew, match=f"version {LATEST + 1}"):
        open_state_db(Settings(data_dir=tmp_path))
    served = subprocess.run([sys.executable, "-m", "gateway", "serve"], cwd=ROOT, timeout=60,
                            capture_output=True, text=True,
                            env={"PATH": "", "BOOMERANG_DATA_DIR": str(tmp_path)})
    assert served.returncode == 2
    assert "newer than this gateway" in served.stderr and "Traceback" not in served.stderr
