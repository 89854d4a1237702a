"""office geofence, scan positions and fraud-pattern clusters

Revision ID: 0010
Revises: 0012
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("offices") as batch:
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("radius_m", sa.Integer(), nullable=True))
    with op.batch_alter_table("checkins") as batch:
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("accuracy_m", sa.Float(), nullable=True))
    op.create_index("ix_checkins_coordinates", "checkins", ["latitude", "longitude"])
    op.create_table(
        "fraud_clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_fraud_clusters_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fraud_clusters")),
        sa.UniqueConstraint("agency_id", "pattern", "key", name="uq_fraud_clusters_key"),
    )
    op.create_index("ix_fraud_clusters_agency_status", "fraud_clusters", ["agency_id", "status"])
    op.create_table(
        "fraud_cluster_scans",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_id"],
            ["fraud_clusters.id"],
            name=op.f("fk_fraud_cluster_scans_cluster_id_fraud_clusters"),
        ),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["checkins.id"],
            name=op.f("fk_fraud_cluster_scans_checkin_id_checkins"),
        ),
        sa.PrimaryKeyConstraint("cluster_id", "checkin_id", name=op.f("pk_fraud_cluster_scans")),
    )
    op.create_index("ix_fraud_cluster_scans_checkin", "fraud_cluster_scans", ["checkin_id"])


def downgrade() -> None:
    op.drop_index("ix_fraud_cluster_scans_checkin", table_name="fraud_cluster_scans")
    op.drop_table("fraud_cluster_scans")
    op.drop_index("ix_fraud_clusters_agency_status", table_name="fraud_clusters")
    op.drop_table("fraud_clusters")
    op.drop_index("ix_checkins_coordinates", table_name="checkins")
    with op.batch_alter_table("checkins") as batch:
        batch.drop_column("accuracy_m")
        batch.drop_column("longitude")
        batch.drop_column("latitude")
    with op.batch_alter_table("offices") as batch:
        batch.drop_column("radius_m")
        batch.drop_column("longitude")
        batch.drop_column("latitude")
