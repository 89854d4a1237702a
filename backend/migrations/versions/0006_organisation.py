"""organisation: positions, supervisors (atasan langsung), delegations (Plt/Plh), phone request nonces

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:53:21.800007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "me_nonces",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_me_nonces")),
    )
    with op.batch_alter_table("me_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_me_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "delegations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supervisor_id", sa.Integer(), nullable=False),
        sa.Column("delegate_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["admin_users.id"], name=op.f("fk_delegations_created_by_admin_users")
        ),
        sa.ForeignKeyConstraint(
            ["delegate_id"], ["employees.id"], name=op.f("fk_delegations_delegate_id_employees")
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"], ["employees.id"], name=op.f("fk_delegations_supervisor_id_employees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegations")),
    )
    with op.batch_alter_table("delegations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delegations_delegate_id"), ["delegate_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_delegations_supervisor_id"), ["supervisor_id"], unique=False
        )

    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("position_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("echelon", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("supervisor_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_employees_supervisor_id"), ["supervisor_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_employees_supervisor_id_employees"),
            "employees",
            ["supervisor_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:

    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_employees_supervisor_id_employees"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_employees_supervisor_id"))
        batch_op.drop_column("supervisor_id")
        batch_op.drop_column("echelon")
        batch_op.drop_column("position_kind")
        batch_op.drop_column("position")

    with op.batch_alter_table("delegations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delegations_supervisor_id"))
        batch_op.drop_index(batch_op.f("ix_delegations_delegate_id"))

    op.drop_table("delegations")
    with op.batch_alter_table("me_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_me_nonces_expires_at"))

    op.drop_table("me_nonces")
