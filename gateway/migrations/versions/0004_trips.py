"""Trips (docs/lifecycle.md): an asset's returns, rental periods and recall recoveries, their
status history and the operator's disposition rules. Each asset of an older release gets one
trip, open, in the status its state implies; its alerts belong to that trip."""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SORTED = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
OPEN = "closed_at IS NULL"

# (flow's machine, asset state) -> the trip's status: a rental out is checked out; an asset
# received is arrived (a return) or received (a recall); one on its way is in transit.
_STATUS = {
    ("rental", "in_transit"): "checked_out", ("rental", "returned"): "returned",
    ("rental", "received"): "returned",
    ("recall", "in_transit"): "in_transit", ("recall", "received"): "received",
    ("recall", "returned"): "received",
    ("return", "in_transit"): "in_transit", ("return", "received"): "arrived",
    ("return", "returned"): "arrived",
}


def _machine(flow: str) -> str:
    return {"rental_return": "rental", "recall": "recall"}.get(flow, "return")


def upgrade() -> None:
    op.create_table(
        "trips",
        sa.Column("id", SORTED, primary_key=True),
        sa.Column("asset_id", SORTED, nullable=False),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("status", SORTED, nullable=False),
        sa.Column("customer", SORTED),
        sa.Column("reason", sa.Text), sa.Column("fault", sa.Text), sa.Column("reference", sa.Text),
        sa.Column("origin_lat", sa.Float), sa.Column("origin_lon", sa.Float),
        sa.Column("origin_name", sa.Text),
        sa.Column("destination", sa.Text),
        sa.Column("allowed_area", sa.Text),
        sa.Column("due_at", sa.Text),
        sa.Column("carrier", sa.Text), sa.Column("packaging", sa.Text),
        sa.Column("routing", sa.Text),
        sa.Column("routed_on", sa.Text),
        sa.Column("recommended", sa.Text), sa.Column("recommended_rule", sa.Text),
        sa.Column("recommended_at", sa.Text),
        sa.Column("inspection", sa.Text),
        sa.Column("actual", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("closed_at", sa.Text),
    )
    op.create_index("one_open_trip_per_asset", "trips", ["asset_id"], unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index("trips_by_asset", "trips", ["asset_id", "created_at"])
    op.create_index("trips_by_created", "trips", ["created_at", "id"])
    op.create_index("trips_by_status", "trips", ["status", "id"])
    op.create_index("trips_routed", "trips", ["destination", "routed_on"])
    op.create_table(
        "trip_changes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("trip_id", SORTED, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("previous_status", sa.Text),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("lat", sa.Float), sa.Column("lon", sa.Float),
        sa.Column("located_at", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("trip_changes_by_trip", "trip_changes", ["trip_id", "id"])
    op.create_index("trip_changes_by_time", "trip_changes", ["status", "at"])
    op.create_table(
        "disposition_rules",
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    for column in (sa.Column("category", sa.Text), sa.Column("acquired_at", sa.Text),
                   sa.Column("trip_id", sa.Text), sa.Column("trip_status", sa.Text),
                   sa.Column("origin_lat", sa.Float), sa.Column("origin_lon", sa.Float)):
        op.add_column("assets", column)
    op.add_column("alerts", sa.Column("trip_id", sa.Text))
    _one_trip_per_asset()


def _one_trip_per_asset() -> None:
    bind = op.get_bind()
    assets = sa.table("assets", sa.column("id", sa.Text), *(sa.column(name) for name in (
        "flow", "customer", "due_at", "destination", "allowed_area", "state",
        "created_at", "trip_id", "trip_status")))
    trips = sa.table("trips", *(sa.column(name) for name in (
        "id", "asset_id", "flow", "status", "customer", "destination", "allowed_area",
        "due_at", "created_at", "updated_at")))
    changes = sa.table("trip_changes", *(sa.column(name) for name in (
        "trip_id", "status", "previous_status", "at", "reason")))
    alerts = sa.table("alerts", sa.column("asset_id"), sa.column("trip_id"))
    now = datetime.now(UTC).isoformat()
    rows = bind.execute(sa.select(assets)).all()
    made = []
    for row in rows:
        status = _STATUS.get((_machine(row.flow), row.state), "in_transit")
        made.append({"id": f"trp_{row.id}", "asset_id": row.id, "flow": row.flow,
                     "status": status, "customer": row.customer,
                     "destination": row.destination, "allowed_area": row.allowed_area,
                     "due_at": row.due_at, "created_at": row.created_at, "updated_at": now})
    for start in range(0, len(made), 500):
        part = made[start:start + 500]
        bind.execute(sa.insert(trips), part)
        bind.execute(sa.insert(changes), [
            {"trip_id": t["id"], "status": t["status"], "previous_status": None,
             "at": t["created_at"], "reason": "migrated from release 0.1"} for t in part])
    bind.execute(sa.update(assets).values(trip_id=sa.literal("trp_", sa.Text) + assets.c.id))
    bind.execute(sa.update(assets).values(trip_status=sa.select(trips.c.status).where(
        trips.c.asset_id == assets.c.id).scalar_subquery()))
    bind.execute(sa.update(alerts).values(trip_id=sa.select(assets.c.trip_id).where(
        assets.c.id == alerts.c.asset_id).scalar_subquery()))


def downgrade() -> None:
    raise NotImplementedError("restore a backup to go back")
