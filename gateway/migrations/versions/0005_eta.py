"""Arrival prediction (docs/eta.md): a trip keeps the estimate of arrival last announced and,
once arrived, its last leg (the lane it taught, when it started, how far it came)."""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Times are UTC ISO 8601 text, as in every table (ingest.statedb.Utc).
_COLUMNS = (
    ("eta_p50", sa.Text), ("eta_p90", sa.Text), ("eta_at", sa.Text), ("eta_basis", sa.Text),
    ("eta_remaining_km", sa.Float), ("late_probability", sa.Float), ("lane", sa.Text),
    ("transit_started_at", sa.Text), ("transit_arrived_at", sa.Text), ("transit_km", sa.Float),
)


def upgrade() -> None:
    for name, kind in _COLUMNS:
        op.add_column("trips", sa.Column(name, kind))
    op.create_index("trips_by_arrival", "trips", ["transit_arrived_at"])


def downgrade() -> None:
    op.drop_index("trips_by_arrival", table_name="trips")
    with op.batch_alter_table("trips") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
