"""The registry's revision (gateway.registry.changes): how a gateway learns that another one
on the same database changed assets, recalls, profiles or geofences."""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_revision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.CheckConstraint("id = 1", name="one_registry_revision"),
    )
    op.execute("INSERT INTO registry_revision (id, revision) VALUES (1, 0)")


def downgrade() -> None:
    raise NotImplementedError("restore a backup to go back")
