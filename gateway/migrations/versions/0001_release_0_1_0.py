"""The schema of release 0.1.0 (SQLite `user_version` 4, before Alembic).

A database that release wrote is stamped with this revision rather than created by it
(gateway.migrations.legacy). Frozen: later changes are new revisions."""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "state != 'resolved'"
# Listed and paged by these: by code point on PostgreSQL too, as SQLite sorts text.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # AUTOINCREMENT needs INTEGER
SORTED = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", SORTED, primary_key=True),
        sa.Column("tag_id", sa.Text, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("flow", sa.Text, nullable=False),
        sa.Column("sku", SORTED), sa.Column("serial", sa.Text), sa.Column("lot", sa.Text),
        sa.Column("profile", sa.Text), sa.Column("customer", SORTED),
        sa.Column("due_at", sa.Text),
        sa.Column("destination", sa.Text),
        sa.Column("allowed_area", sa.Text),
        sa.Column("state", SORTED, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    for column in ("sku", "serial", "lot", "customer"):
        op.create_index(f"assets_by_{column}", "assets", [column])
    op.create_index("assets_by_created", "assets", ["created_at", "id"])
    # 0.1.0's due-date sort, SQLite only; revision 0002 replaces it on both engines.
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("assets_by_due", "assets", [sa.text("IFNULL(due_at, X'')"), "id"])
    op.create_table(
        "recalls",
        sa.Column("id", SORTED, primary_key=True),
        sa.Column("sku", SORTED, nullable=False),
        sa.Column("lots", sa.Text, nullable=False),
        sa.Column("serials", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("active", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_table("profiles", sa.Column("name", SORTED, primary_key=True),
                    sa.Column("body", sa.Text, nullable=False))
    op.create_table("geofences", sa.Column("id", SORTED, primary_key=True),
                    sa.Column("body", sa.Text, nullable=False))
    op.create_table(
        "api_keys",
        sa.Column("id", SORTED, primary_key=True),
        sa.Column("hash", sa.Text, nullable=False, unique=True),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.Text),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("asset_id", sa.Text, nullable=False),
        sa.Column("tag_id", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("severity", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("opened_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text),
        sa.Column("resolved_at", sa.Text),
        sa.Column("location", sa.Text),
    )
    op.create_index("one_live_alert_per_key", "alerts", ["asset_id", "kind", "key"],
                    unique=True, sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    op.create_index("alerts_by_time", "alerts", ["opened_at"])
    op.create_index("alerts_by_asset", "alerts", ["asset_id", "kind", "key"])
    op.create_index("alerts_by_kind", "alerts", ["kind", "state", "opened_at"])
    op.create_table(
        "rule_state",
        sa.Column("asset_id", sa.Text, primary_key=True),
        sa.Column("rule", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("event_types", sa.Text, nullable=False),
        sa.Column("alert_kinds", sa.Text, nullable=False),
        sa.Column("severities", sa.Text, nullable=False, server_default="[]"),
        sa.Column("asset_kinds", sa.Text, nullable=False, server_default="[]"),
        sa.Column("flows", sa.Text, nullable=False, server_default="[]"),
        sa.Column("previous_secret", sa.Text),
        sa.Column("previous_secret_until", sa.Text),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("enabled", sa.Integer, nullable=False, server_default="1"),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("seq", ID, primary_key=True),
        sa.Column("msg_id", sa.Text, nullable=False),
        sa.Column("subscription_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Text, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("last_latency_ms", sa.Float),
        sa.Column("finished_at", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("pending_by_subscription", "deliveries", ["subscription_id", "seq"],
                    sqlite_where=sa.text("state = 'pending'"),
                    postgresql_where=sa.text("state = 'pending'"))
    op.create_table(
        "delivery_attempts",
        sa.Column("delivery_seq", ID, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("latency_ms", sa.Float, nullable=False),
    )
    op.create_index("attempts_by_delivery", "delivery_attempts", ["delivery_seq"])
    op.create_table(
        "dead_letters",
        sa.Column("id", ID, primary_key=True),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("tag_id", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("cause", sa.Text, nullable=False, server_default="invalid_reading"),
        sa.Column("payload_bytes", sa.Integer),
        sa.Column("payload_sha256", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_index("dead_letters_by_tag", "dead_letters", ["tag_id", "id"])
    op.create_table(
        "tag_speakers",
        sa.Column("tag_id", sa.Text, primary_key=True),
        sa.Column("speaker", sa.Text, nullable=False),
        sa.Column("since", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    raise NotImplementedError("restore a backup to go back to release 0.1.0")
