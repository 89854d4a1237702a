"""E-Activity: diary days and entries, SKP targets, unvalidated echelons, longer TPP codes

Revision ID: 0014
Revises: 0006
Create Date: 2026-12-01 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "activity_unvalidated_echelons",
                sa.String(length=100),
                nullable=False,
                server_default="II.a,II.b",
            )
        )
    # "activity_shortfall" and "activity_threshold" are longer than the old 16 characters.
    with op.batch_alter_table("tpp_rules", schema=None) as batch_op:
        batch_op.alter_column(
            "code", existing_type=sa.String(length=16), type_=sa.String(length=32)
        )

    op.create_table(
        "activity_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("approved_minutes", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validation_due", sa.Date(), nullable=True),
        sa.Column("resubmit_until", sa.Date(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("note", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_activity_days_employee_id_employees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_days")),
        sa.UniqueConstraint("employee_id", "day", name="uq_activity_days_employee_day"),
    )
    op.create_index("ix_activity_days_status_day", "activity_days", ["status", "day"])
    op.create_index("ix_activity_days_day", "activity_days", ["day"])

    op.create_table(
        "activity_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_day_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("output_quantity", sa.Float(), nullable=False),
        sa.Column("output_unit", sa.String(length=50), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_day_id"],
            ["activity_days.id"],
            name=op.f("fk_activity_entries_activity_day_id_activity_days"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_entries")),
    )
    op.create_index(
        op.f("ix_activity_entries_activity_day_id"), "activity_entries", ["activity_day_id"]
    )

    op.create_table(
        "skp_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_skp_targets_employee_id_employees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skp_targets")),
        sa.UniqueConstraint(
            "employee_id", "year", "target_id", name="uq_skp_targets_employee_year"
        ),
    )


def downgrade() -> None:
    op.drop_table("skp_targets")
    op.drop_index(op.f("ix_activity_entries_activity_day_id"), table_name="activity_entries")
    op.drop_table("activity_entries")
    op.drop_index("ix_activity_days_day", table_name="activity_days")
    op.drop_index("ix_activity_days_status_day", table_name="activity_days")
    op.drop_table("activity_days")
    with op.batch_alter_table("tpp_rules", schema=None) as batch_op:
        batch_op.alter_column(
            "code", existing_type=sa.String(length=32), type_=sa.String(length=16)
        )
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_column("activity_unvalidated_echelons")
