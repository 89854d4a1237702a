"""passkeys: user verification policy per agency and unit, one passkey per phone

Revision ID: 0009
Revises: 0010
Create Date: 2026-12-01 14:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "user_verification", sa.String(length=16), server_default="off", nullable=False
            )
        )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_verification", sa.String(length=16), nullable=True))
    op.create_table(
        "passkeys",
        sa.Column("device_id", sa.String(length=40), nullable=False),
        sa.Column("credential_id", sa.String(length=400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_passkeys_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
    )


def downgrade() -> None:
    op.drop_table("passkeys")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_column("user_verification")
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_column("user_verification")
