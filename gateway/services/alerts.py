"""Alerts: listed and read from the store; acknowledged and resolved by people through the
rule engine's recording path (the outbox hears of it in the same transaction)."""

from __future__ import annotations

from alerts import AlertStore, RuleEngine
from alerts.domain import Alert, AlertState
from alerts.store import AlertFilter
from gateway.services.errors import Conflict, NotFound
from ingest.statedb import StateDb


class AlertService:
    def __init__(self, db: StateDb, alerts: AlertStore, engine: RuleEngine) -> None:
        self._db, self._alerts, self._engine = db, alerts, engine

    async def page(self, where: AlertFilter, *, limit: int, after: tuple[str, str] | None,
                   oldest_first: bool) -> tuple[list[Alert], tuple[str, str] | None]:
        """Up to `limit` alerts, and the position to pass for the next page (None: none)."""
        found = await self._db.run(self._alerts.list, where, limit=limit + 1, after=after,
                                   oldest_first=oldest_first)
        page = found[:limit]
        more = len(found) > limit
        return page, AlertStore.position(page[-1]) if more else None

    async def get(self, alert_id: str) -> Alert:
        alert = await self._db.run(self._alerts.get, alert_id)
        if alert is None:
            raise NotFound("alert", alert_id)
        return alert

    async def acknowledge(self, alert_id: str, by: str, note: str) -> Alert:
        return self._acted(await self._db.run(self._engine.acknowledge, alert_id, by, note),
                           alert_id, AlertState.ACKNOWLEDGED)

    async def resolve(self, alert_id: str, by: str, note: str) -> Alert:
        return self._acted(await self._db.run(self._engine.resolve, alert_id, by, note),
                           alert_id, AlertState.RESOLVED)

    @staticmethod
    def _acted(alert: Alert | None, alert_id: str, wanted: AlertState) -> Alert:
        if alert is None:
            raise NotFound("alert", alert_id)
        if alert.state is not wanted:
            raise Conflict(f"alert {alert_id} is {alert.state}")
        return alert
