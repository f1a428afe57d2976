"""Alerts and per-asset rule state in the state database; the engine owns the transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    Float,
    Index,
    Row,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError

from alerts.domain import Alert, AlertKind, AlertState, Location, Severity
from ingest.statedb import METADATA, Json, StateDb, Utc, is_unique_violation, upsert

ALERTS = Table(
    "alerts", METADATA,
    Column("id", Text, primary_key=True),
    Column("asset_id", Text, nullable=False),
    Column("tag_id", Text),
    Column("kind", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("value", Float),
    Column("details", Json, nullable=False),
    Column("opened_at", Utc, nullable=False),
    Column("updated_at", Utc),
    Column("resolved_at", Utc),
    Column("location", Json),
    Column("trip_id", Text),  # release 0.2: the trip it was raised during
    # At most one live (open or acknowledged) alert per key, whoever writes: the engine, a
    # person through the API of any gateway on the same database.
    Index("one_live_alert_per_key", "asset_id", "kind", "key", unique=True,
          sqlite_where=text("state != 'resolved'"), postgresql_where=text("state != 'resolved'")),
    Index("alerts_by_time", "opened_at"),
    Index("alerts_by_asset", "asset_id", "kind", "key"),
    Index("alerts_by_kind", "kind", "state", "opened_at"),
)
RULE_STATE = Table(
    "rule_state", METADATA,
    Column("asset_id", Text, primary_key=True),
    Column("rule", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("state", Text, nullable=False),  # JSON, made by the engine (which checks it can)
    sqlite_with_rowid=False,
)
_SAVE_RULE_STATES = (
    'INSERT INTO rule_state (asset_id, rule, "key", state) VALUES ({0}, {0}, {0}, {0}) '
    'ON CONFLICT (asset_id, rule, "key") DO UPDATE SET state = excluded.state')
"""The same SQL on both engines; {0}: the driver's placeholder."""


def _location_json(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"lat": location.lat, "lon": location.lon, "ts": location.ts.astimezone(UTC).isoformat()}


def _location(data: dict[str, Any] | None) -> Location | None:
    if not data:
        return None
    return Location(data["lat"], data["lon"], datetime.fromisoformat(data["ts"]))


def _alert(row: Row[Any]) -> Alert:
    return Alert(
        id=row.id,
        asset_id=row.asset_id,
        tag_id=row.tag_id,
        kind=AlertKind(row.kind),
        key=row.key,
        severity=Severity(row.severity),
        state=AlertState(row.state),
        summary=row.summary,
        value=row.value,
        details=row.details,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        location=_location(row.location),
        trip_id=row.trip_id,
    )


def _values(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id, "asset_id": alert.asset_id, "tag_id": alert.tag_id,
        "kind": str(alert.kind), "key": alert.key, "severity": str(alert.severity),
        "state": str(alert.state), "summary": alert.summary, "value": alert.value,
        "details": alert.details, "opened_at": alert.opened_at, "updated_at": alert.updated_at,
        "resolved_at": alert.resolved_at, "location": _location_json(alert.location),
        "trip_id": alert.trip_id,
    }


_LIVE = ALERTS.c.state != "resolved"


@dataclass(frozen=True, slots=True)
class AlertFilter:
    kind: str | None = None
    state: str | None = None
    severity: str | None = None
    asset_id: str | None = None
    trip_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AlertStore:
    def __init__(self, db: StateDb) -> None:
        self.db = db

    def live(self, asset_id: str, kind: AlertKind, key: str) -> Alert | None:
        """The open or acknowledged alert for this key, if any; locked until the caller's
        transaction ends (PostgreSQL), so that a person acknowledging it through another
        gateway waits rather than having the change overwritten."""
        row = self.db.row(select(ALERTS).where(
            ALERTS.c.asset_id == asset_id, ALERTS.c.kind == str(kind), ALERTS.c.key == key,
            _LIVE).with_for_update())
        return _alert(row) if row else None

    def get(self, alert_id: str, *, for_update: bool = False) -> Alert | None:
        query = select(ALERTS).where(ALERTS.c.id == alert_id)
        row = self.db.row(query.with_for_update() if for_update else query)
        return _alert(row) if row else None

    def insert_live(self, alert: Alert) -> bool:
        """A new open alert; False, and nothing written, when another writer (another
        gateway, a transaction that committed since `live` looked) holds a live one for its
        key: the unique index decides, whoever writes."""
        with self.db.transaction() as conn:
            # PostgreSQL aborts the transaction on a failed statement, so the insert gets a
            # savepoint of its own there; SQLite undoes the one statement by itself.
            guard = conn.begin_nested() if self.db.is_postgresql else contextlib.nullcontext()
            try:
                with guard:
                    conn.execute(insert(ALERTS).values(_values(alert)))
            except IntegrityError as exc:
                if is_unique_violation(exc):
                    return False
                raise
        return True

    def save(self, alert: Alert) -> None:
        """Insert or update; call inside the engine's transaction. A second live alert for
        the same key violates the unique index and raises (an upsert on it would silently
        replace the first)."""
        values = _values(alert)
        statement = upsert(self.db, ALERTS).values(values)
        self.db.execute(statement.on_conflict_do_update(
            index_elements=[ALERTS.c.id],
            set_={name: statement.excluded[name] for name in values if name != "id"}))

    def raised_keys(
        self, asset_id: str, kind: AlertKind
    ) -> tuple[frozenset[str], frozenset[str]]:
        """The keys this asset ever had an alert of this kind for, and those still open."""
        rows = self.db.rows(select(ALERTS.c.key, ALERTS.c.state).where(
            ALERTS.c.asset_id == asset_id, ALERTS.c.kind == str(kind)))
        return (frozenset(row.key for row in rows),
                frozenset(row.key for row in rows if row.state != "resolved"))

    def raised_keys_of(self, asset_ids: Collection[str], kind: AlertKind
                       ) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
        """`raised_keys` of each of these assets, in a query per 500 of them."""
        ever: dict[str, set[str]] = {asset_id: set() for asset_id in asset_ids}
        live: dict[str, set[str]] = {asset_id: set() for asset_id in asset_ids}
        wanted = list(ever)
        for start in range(0, len(wanted), 500):
            for row in self.db.rows(select(ALERTS.c.asset_id, ALERTS.c.key, ALERTS.c.state)
                                    .where(ALERTS.c.kind == str(kind),
                                           ALERTS.c.asset_id.in_(wanted[start:start + 500]))):
                ever[row.asset_id].add(row.key)
                if row.state != "resolved":
                    live[row.asset_id].add(row.key)
        return {asset_id: (frozenset(ever[asset_id]), frozenset(live[asset_id]))
                for asset_id in wanted}

    def open_kinds(self, asset_ids: Collection[str] | None = None) -> dict[str, set[str]]:
        """The kinds of alert open (or acknowledged) per asset: of the given assets (by
        index, for a few), or of all (one scan, for many)."""
        query = select(ALERTS.c.asset_id, ALERTS.c.kind).where(_LIVE)
        rows: list[Row[Any]] = []
        if asset_ids is not None and len(asset_ids) <= 500:
            wanted = list(asset_ids)
            if wanted:
                rows = self.db.rows(query.where(ALERTS.c.asset_id.in_(wanted)))
        else:
            rows = self.db.rows(query)
        found: dict[str, set[str]] = {}
        for row in rows:
            found.setdefault(row.asset_id, set()).add(row.kind)
        return found

    def list(
        self, where: AlertFilter, *, limit: int = 100, after: tuple[str, str] | None = None,
        oldest_first: bool = False,
    ) -> list[Alert]:
        """Newest first (or oldest first), then by id; `after` is the (opened_at, id) of the
        last alert of the previous page: a keyset, so alerts opened meanwhile neither shift
        nor repeat a page."""
        query = select(ALERTS)
        for column in ("kind", "state", "severity", "asset_id", "trip_id"):
            value = getattr(where, column)
            if value is not None:
                query = query.where(ALERTS.c[column] == value)
        if where.since is not None:
            query = query.where(ALERTS.c.opened_at >= where.since)
        if where.until is not None:
            query = query.where(ALERTS.c.opened_at < where.until)
        # The keyset compares the stored text itself (what `position` hands out).
        opened = sql_cast(ALERTS.c.opened_at, Text)
        if after is not None:
            beyond = opened > after[0] if oldest_first else opened < after[0]
            query = query.where(or_(beyond, and_(opened == after[0], ALERTS.c.id > after[1])))
        first = ALERTS.c.opened_at.asc() if oldest_first else ALERTS.c.opened_at.desc()
        return [_alert(row) for row in self.db.rows(
            query.order_by(first, ALERTS.c.id).limit(limit))]

    @staticmethod
    def position(alert: Alert) -> tuple[str, str]:
        """The keyset of `list` for this alert."""
        return alert.opened_at.astimezone(UTC).isoformat(), alert.id

    def live_count(self) -> int:
        """Alerts open or acknowledged, of every asset."""
        return int(self.db.scalar(select(func.count()).select_from(ALERTS).where(_LIVE)))

    def live_of(self, asset_id: str) -> tuple[Alert, ...]:
        """The open and acknowledged alerts of an asset."""
        rows = self.db.rows(select(ALERTS).where(ALERTS.c.asset_id == asset_id, _LIVE))
        return tuple(_alert(row) for row in rows)

    def delete_rule_states(self, asset_id: str) -> tuple[tuple[str, str], ...]:
        """Forget an asset's rule state; the (rule, key) of each row deleted. Call inside the
        engine's transaction."""
        rows = self.db.rows(delete(RULE_STATE).where(RULE_STATE.c.asset_id == asset_id)
                            .returning(RULE_STATE.c.rule, RULE_STATE.c.key))
        return tuple((row.rule, row.key) for row in rows)

    def load_rule_states(self, rule: str) -> dict[tuple[str, str], dict[str, Any]]:
        rows = self.db.rows(select(RULE_STATE.c.asset_id, RULE_STATE.c.key, RULE_STATE.c.state)
                            .where(RULE_STATE.c.rule == rule))
        return {(row.asset_id, row.key): orjson.loads(row.state) for row in rows}

    def load_rule_states_of(self, asset_ids: Collection[str]
                            ) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Every rule's state of these assets, by (asset_id, rule, key): a cluster's partition
        taken over reads its own assets' rows, not the whole table."""
        ids = sorted(asset_ids)
        states = {}
        for start in range(0, len(ids), 500):  # within every engine's bound on parameters
            rows = self.db.rows(
                select(RULE_STATE.c.asset_id, RULE_STATE.c.rule, RULE_STATE.c.key,
                       RULE_STATE.c.state)
                .where(RULE_STATE.c.asset_id.in_(ids[start:start + 500])))
            states.update({(row.asset_id, row.rule, row.key): orjson.loads(row.state)
                           for row in rows})
        return states

    def save_rule_states(self, states: Sequence[tuple[str, str, str, str]]) -> None:
        """(asset_id, rule, key, state as JSON) rows; call inside the engine's transaction.
        The driver's own executemany, past SQLAlchemy's per-row parameter handling: these
        rows are written before every acknowledgement, about two a reading when every
        reading is of another tag, and SQLAlchemy's handling was three quarters of their
        cost (tests/bench/bench_stages.py)."""
        if not states:
            return
        with self.db.transaction() as conn:
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(_SAVE_RULE_STATES.format(mark), list(states))
