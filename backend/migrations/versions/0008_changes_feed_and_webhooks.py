"""changes feed (triggers on every tracked table), webhooks, CLI-created API tokens

Revision ID: 0008
Revises: 0013
Create Date: 2026-12-01 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend import changes

revision: str = "0008"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# (table, type, options): one line per record type in the feed (backend/changes.py).
TRACKED: list[tuple[str, str, dict[str, object]]] = [
    ("checkins", "checkin", {}),
    ("checkin_reviews", "review", {}),
    # A review or a correction changes the scan's derived status: checkin.updated as well.
    ("checkin_reviews", "checkin", {"id_column": "checkin_id", "on_insert": "updated"}),
    ("corrections", "correction", {}),
    (
        "corrections",
        "checkin",
        {"id_column": "replaces_checkin_id", "on_insert": "updated", "updates": False},
    ),
    ("absences", "absence", {"cancel_column": "cancelled_at"}),
    ("holidays", "holiday", {}),
    ("employees", "employee", {}),
    ("devices", "device", {"cancel_column": "revoked_at", "ignore": ("last_used_at",)}),
]


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        _ts("at"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_changes_seq", "changes", ["seq"], unique=True)
    op.create_index("ix_changes_at", "changes", ["at"])
    op.create_index(
        "ix_changes_unpublished",
        "changes",
        ["txid", "id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )
    changes.install(op)
    for table, type_, options in TRACKED:
        changes.track(op, table, type_, **options)

    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agencies.id"), nullable=True),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        _ts("created_at"),
        _ts("paused_at", True),
        sa.Column("paused_reason", sa.String(length=500), nullable=False, server_default=""),
        _ts("deleted_at", True),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "webhook_id", sa.Integer(), sa.ForeignKey("webhooks.id"), nullable=False, index=True
        ),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("msg_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("record", sa.String(length=80), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=False, server_default=""),
        _ts("created_at"),
        _ts("next_attempt_at", True),
        _ts("delivered_at", True),
        sa.UniqueConstraint("webhook_id", "seq", name="uq_webhook_deliveries_webhook_seq"),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("created_by", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("created_by", existing_type=sa.Integer(), nullable=False)
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    for table, type_, _options in TRACKED:
        changes.untrack(op, table, type_)
    changes.uninstall(op)
    op.drop_table("changes")
