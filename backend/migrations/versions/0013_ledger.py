"""the tamper-evident record: a hash chain of every entry that affects pay

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-01 14:00:00

Existing records are sealed into the chain here, in id order per kind, so ``presensi
verify-log`` covers them from the start (it cannot tell what was changed before this).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entries")),
    )
    op.create_index(op.f("ix_ledger_entries_at"), "ledger_entries", ["at"], unique=False)
    op.create_index(
        "ix_ledger_entries_kind_record", "ledger_entries", ["kind", "record_id"], unique=False
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    from backend import ledger

    ledger.seal_existing(op.get_bind())


def downgrade() -> None:
    op.drop_table("ledger_head")
    op.drop_index("ix_ledger_entries_kind_record", table_name="ledger_entries")
    op.drop_index(op.f("ix_ledger_entries_at"), table_name="ledger_entries")
    op.drop_table("ledger_entries")
