"""The due-date sort on both engines: rows without a due date last, through a CASE and a
COALESCE every engine indexes (0.1.0 sorted `IFNULL(due_at, X'')`, which only SQLite has)."""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("assets_by_due", table_name="assets", if_exists=True)
    # In parentheses, which PostgreSQL needs around an expression; the very expressions
    # gateway.registry's sort terms render, or SQLite would not use the index.
    op.create_index("assets_by_due", "assets", [
        sa.text("(CASE WHEN (due_at IS NULL) THEN 1 ELSE 0 END)"),
        sa.text("(coalesce(due_at, ''))"), "id"])


def downgrade() -> None:
    raise NotImplementedError("restore a backup to go back")
