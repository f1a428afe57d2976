"""A cluster's partitions (gateway/registry/partitions.py): who judges each, and the epoch
that fences off a gateway whose lease lapsed."""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partition_owners",
        sa.Column("partition", sa.Integer, autoincrement=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("lease_revision", sa.BigInteger, nullable=False),
        # Times are UTC ISO 8601 text, as in every table (ingest.statedb.Utc).
        sa.Column("taken_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("partition", name="pk_partition_owners"),
    )


def downgrade() -> None:
    op.drop_table("partition_owners")
