"""requests from the phone: attachments, staff requests and their hand-overs

Revision ID: 0007
Revises: 0011
Create Date: 2026-12-01 14:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_attachments_employee_id_employees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(op.f("ix_attachments_employee_id"), "attachments", ["employee_id"])
    op.create_table(
        "staff_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("absence_kind", sa.String(length=32), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("scan", sa.String(length=8), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("reference", sa.String(length=100), server_default="", nullable=False),
        sa.Column("attachment_id", sa.String(length=32), nullable=True),
        sa.Column("days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column("escalations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("held_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decider_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), server_default="", nullable=False),
        sa.Column("effect", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_staff_requests_attachment_id_attachments"),
        ),
        sa.ForeignKeyConstraint(
            ["decider_id"], ["employees.id"], name=op.f("fk_staff_requests_decider_id_employees")
        ),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_staff_requests_employee_id_employees")
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["employees.id"], name=op.f("fk_staff_requests_holder_id_employees")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_requests")),
    )
    op.create_index(op.f("ix_staff_requests_attachment_id"), "staff_requests", ["attachment_id"])
    op.create_index("ix_staff_requests_holder_status", "staff_requests", ["holder_id", "status"])
    op.create_index(
        "ix_staff_requests_employee_status", "staff_requests", ["employee_id", "status"]
    )
    op.create_index("ix_staff_requests_status_held", "staff_requests", ["status", "held_since"])
    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["holder_id"], ["employees.id"], name=op.f("fk_request_events_holder_id_employees")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["staff_requests.id"],
            name=op.f("fk_request_events_request_id_staff_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_events")),
    )
    op.create_index(op.f("ix_request_events_request_id"), "request_events", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_request_events_request_id"), table_name="request_events")
    op.drop_table("request_events")
    for name in (
        "ix_staff_requests_status_held",
        "ix_staff_requests_employee_status",
        "ix_staff_requests_holder_status",
        op.f("ix_staff_requests_attachment_id"),
    ):
        op.drop_index(name, table_name="staff_requests")
    op.drop_table("staff_requests")
    op.drop_index(op.f("ix_attachments_employee_id"), table_name="attachments")
    op.drop_table("attachments")
