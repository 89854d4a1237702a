"""changes feed: requests, delegations and diary days (issues 12 and 13)

Revision ID: 0015
Revises: 0008
Create Date: 2026-12-01 15:55:00
"""

from collections.abc import Sequence

from alembic import op

from backend import changes

revision: str = "0015"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here (as in 0008): the tables as they are at this revision.
TRACKED: list[tuple[str, str, dict[str, object]]] = [
    ("staff_requests", "request", {}),
    ("delegations", "delegation", {"cancel_column": "cancelled_at"}),
    ("activity_days", "activity", {}),
]


def upgrade() -> None:
    for table, type_, options in TRACKED:
        changes.track(op, table, type_, **options)


def downgrade() -> None:
    for table, type_, _options in reversed(TRACKED):
        changes.untrack(op, table, type_)
