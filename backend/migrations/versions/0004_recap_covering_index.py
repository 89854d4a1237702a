"""recap covering index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 08:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index("ix_checkins_date_employee")
        batch_op.create_index(
            "ix_checkins_recap", ["local_date", "employee_id", "at", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index("ix_checkins_recap")
        batch_op.create_index(
            "ix_checkins_date_employee", ["local_date", "employee_id"], unique=False
        )
