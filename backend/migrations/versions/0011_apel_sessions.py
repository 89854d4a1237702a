"""apel (morning assembly) sessions, and the session a scan attended

Revision ID: 0011
Revises: 0014
Create Date: 2026-12-01 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apel_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("start", sa.String(length=5), nullable=False),
        sa.Column("end", sa.String(length=5), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_apel_sessions_office_id_offices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apel_sessions")),
    )
    op.create_index("ix_apel_sessions_office_id", "apel_sessions", ["office_id"], unique=False)
    op.create_table(
        "apel_session_units",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["apel_sessions.id"],
            name=op.f("fk_apel_session_units_session_id_apel_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_apel_session_units_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("session_id", "unit_id", name=op.f("pk_apel_session_units")),
    )
    # A nullable column without a foreign key: added in place, without rebuilding the table.
    op.add_column("checkins", sa.Column("apel_session_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_column("apel_session_id")
    op.drop_table("apel_session_units")
    op.drop_index("ix_apel_sessions_office_id", table_name="apel_sessions")
    op.drop_table("apel_sessions")
