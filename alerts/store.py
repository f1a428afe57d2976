"""Alerts and per-asset rule state in the state database; the engine owns the transaction."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.domain import Alert, AlertKind, AlertState, Location, Severity

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    asset_id TEXT NOT NULL,
    tag_id TEXT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    summary TEXT NOT NULL,
    value REAL,
    details TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT,
    resolved_at TEXT,
    location TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_live_alert_per_key
    ON alerts (asset_id, kind, key) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (opened_at);
CREATE INDEX IF NOT EXISTS alerts_by_asset ON alerts (asset_id, kind, key);
CREATE TABLE IF NOT EXISTS rule_state (
    asset_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (asset_id, rule, key)
) WITHOUT ROWID;
"""

_COLUMNS = (
    "id, asset_id, tag_id, kind, key, severity, state, summary, value, details, "
    "opened_at, updated_at, resolved_at, location"
)


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _location_json(location: Location | None) -> str | None:
    if location is None:
        return None
    return orjson.dumps({"lat": location.lat, "lon": location.lon,
                        "ts": _iso(location.ts)}).decode()


def _alert(row: tuple[Any, ...]) -> Alert:
    location = orjson.loads(row[13]) if row[13] else None
    return Alert(
        id=row[0],
        asset_id=row[1],
        tag_id=row[2],
        kind=AlertKind(row[3]),
        key=row[4],
        severity=Severity(row[5]),
        state=AlertState(row[6]),
        summary=row[7],
        value=row[8],
        details=orjson.loads(row[9]),
        opened_at=datetime.fromisoformat(row[10]),
        updated_at=_time(row[11]),
        resolved_at=_time(row[12]),
        location=Location(location["lat"], location["lon"], datetime.fromisoformat(location["ts"]))
        if location
        else None,
    )


@dataclass(frozen=True, slots=True)
class AlertFilter:
    kind: str | None = None
    state: str | None = None
    severity: str | None = None
    asset_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AlertStore:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def live(self, asset_id: str, kind: AlertKind, key: str) -> Alert | None:
        """The open or acknowledged alert for this key, if any."""
        row = self.db.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE asset_id=? AND kind=? AND key=? "
            "AND state != 'resolved'",
            (asset_id, str(kind), key),
        ).fetchone()
        return _alert(row) if row else None

    def get(self, alert_id: str) -> Alert | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM alerts WHERE id=?", (alert_id,)).fetchone()
        return _alert(row) if row else None

    def save(self, alert: Alert) -> None:
        """Insert or update; call inside the engine's transaction. A second live alert for
        the same key violates the unique index and raises (INSERT OR REPLACE would silently
        delete the first)."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:])
        self.db.execute(
            f"INSERT INTO alerts ({_COLUMNS}) VALUES ({', '.join('?' * 14)}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            (
                alert.id, alert.asset_id, alert.tag_id, str(alert.kind), alert.key,
                str(alert.severity), str(alert.state), alert.summary, alert.value,
                orjson.dumps(alert.details).decode(), _iso(alert.opened_at),
                _iso(alert.updated_at), _iso(alert.resolved_at), _location_json(alert.location),
            ),
        )

    def raised_keys(
        self, asset_id: str, kind: AlertKind
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The keys this asset ever had an alert of this kind for, and those still open."""
        rows = self.db.execute(
            "SELECT key, state FROM alerts WHERE asset_id=? AND kind=?", (asset_id, str(kind))
        ).fetchall()
        return (frozenset(row[0] for row in rows),
                frozenset(row[0] for row in rows if row[1] != "resolved"))

    def open_kinds(self, asset_ids: Collection[str] | None = None) -> dict[str, set[str]]:
        """The kinds of alert open (or acknowledged) per asset: of the given assets (by
        index, for a few), or of all (one scan, for many)."""
        query = "SELECT asset_id, kind FROM alerts WHERE state != 'resolved'"
        if asset_ids is not None and len(asset_ids) <= 500:
            rows: Iterable[tuple[str, str]] = itertools.chain.from_iterable(
                self.db.execute(f"{query} AND asset_id = ?", (asset_id,))
                for asset_id in asset_ids)
        else:
            rows = self.db.execute(query)
        found: dict[str, set[str]] = {}
        for asset_id, kind in rows:
            found.setdefault(asset_id, set()).add(kind)
        return found

    def list(
        self, where: AlertFilter, *, limit: int = 100, after: tuple[str, str] | None = None,
        oldest_first: bool = False,
    ) -> list[Alert]:
        """Newest first (or oldest first), then by id; `after` is the (opened_at, id) of the
        last alert of the previous page: a keyset, so alerts opened meanwhile neither shift
        nor repeat a page."""
        clauses, args = [], []
        for column in ("kind", "state", "severity", "asset_id"):
            value = getattr(where, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if where.since is not None:
            clauses.append("opened_at >= ?")
            args.append(_iso(where.since))
        if where.until is not None:
            clauses.append("opened_at < ?")
            args.append(_iso(where.until))
        beyond = ">" if oldest_first else "<"
        if after is not None:
            clauses.append(f"(opened_at {beyond} ? OR (opened_at = ? AND id > ?))")
            args += [after[0], after[0], after[1]]
        query = f"SELECT {_COLUMNS} FROM alerts"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += f" ORDER BY opened_at {'ASC' if oldest_first else 'DESC'}, id LIMIT ?"
        return [_alert(row) for row in self.db.execute(query, (*args, limit))]

    @staticmethod
    def position(alert: Alert) -> tuple[str, str]:
        """The keyset of `list` for this alert."""
        return _iso(alert.opened_at) or "", alert.id

    def live_of(self, asset_id: str) -> tuple[Alert, ...]:
        """The open and acknowledged alerts of an asset."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE asset_id=? AND state != 'resolved'",
            (asset_id,))
        return tuple(_alert(row) for row in rows)

    def delete_rule_states(self, asset_id: str) -> tuple[tuple[str, str], ...]:
        """Forget an asset's rule state; the (rule, key) of each row deleted. Call inside the
        engine's transaction."""
        rows = self.db.execute("DELETE FROM rule_state WHERE asset_id=? RETURNING rule, key",
                               (asset_id,))
        return tuple((row[0], row[1]) for row in rows)

    def load_rule_states(self, rule: str) -> dict[tuple[str, str], dict[str, Any]]:
        rows = self.db.execute("SELECT asset_id, key, state FROM rule_state WHERE rule=?", (rule,))
        return {(row[0], row[1]): orjson.loads(row[2]) for row in rows}

    def save_rule_states(self, states: Iterable[tuple[str, str, str, str]]) -> None:
        """(asset_id, rule, key, state as JSON) rows; call inside the engine's transaction."""
        self.db.executemany("INSERT OR REPLACE INTO rule_state VALUES (?, ?, ?, ?)", states)
