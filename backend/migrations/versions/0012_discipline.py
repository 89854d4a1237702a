"""discipline: PP 94/2021 levels as data, counted absent days, levels reached

Revision ID: 0012
Revises: 0007
Create Date: 2026-12-01 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The defaults of PP 94/2021 (Pasal 9-11): working days absent without a valid reason in one
# calendar year, and 10 working days in a row.
DEFAULT_LEVELS = [
    ("teguran_lisan", 3, False, 1, "Teguran lisan"),
    ("teguran_tertulis", 4, False, 2, "Teguran tertulis"),
    ("pernyataan_tidak_puas", 7, False, 3, "Pernyataan tidak puas secara tertulis"),
    ("tukin_25_6", 11, False, 4, "Pemotongan tunjangan kinerja 25% selama 6 bulan"),
    ("tukin_25_9", 14, False, 5, "Pemotongan tunjangan kinerja 25% selama 9 bulan"),
    ("tukin_25_12", 17, False, 6, "Pemotongan tunjangan kinerja 25% selama 12 bulan"),
    (
        "penurunan_jabatan",
        21,
        False,
        7,
        "Penurunan jabatan setingkat lebih rendah selama 12 bulan",
    ),
    (
        "pembebasan_jabatan",
        25,
        False,
        8,
        "Pembebasan dari jabatannya menjadi jabatan pelaksana selama 12 bulan",
    ),
    ("pemberhentian", 28, False, 9, "Pemberhentian dengan hormat tidak atas permintaan sendiri"),
    (
        "pemberhentian_berturut",
        10,
        True,
        9,
        "Pemberhentian dengan hormat tidak atas permintaan sendiri (10 hari kerja berturut-turut)",
    ),
]


def upgrade() -> None:
    levels = op.create_table(
        "discipline_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("min_days", sa.Integer(), nullable=False),
        sa.Column("consecutive", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("sanction", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_discipline_levels_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discipline_levels")),
        sa.UniqueConstraint("agency_id", "code", name="uq_discipline_levels_agency_code"),
    )
    op.bulk_insert(
        levels,
        [
            {
                "agency_id": None,
                "code": code,
                "min_days": days,
                "consecutive": consecutive,
                "severity": severity,
                "sanction": sanction,
            }
            for code, days, consecutive, severity, sanction in DEFAULT_LEVELS
        ],
    )
    op.create_table(
        "discipline_days",
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["employees.id"], name=op.f("fk_discipline_days_employee_id_employees")
        ),
        sa.PrimaryKeyConstraint("employee_id", "day", name=op.f("pk_discipline_days")),
    )
    with op.batch_alter_table("discipline_days", schema=None) as batch_op:
        batch_op.create_index("ix_discipline_days_day", ["day"], unique=False)
    op.create_table(
        "discipline_counts",
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("through", sa.Date(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_discipline_counts_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("agency_id", "year", name=op.f("pk_discipline_counts")),
    )
    op.create_table(
        "discipline_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("level_code", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("sanction", sa.String(length=300), nullable=False),
        sa.Column("reached_on", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("supervisor_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["employees.id"],
            name=op.f("fk_discipline_events_employee_id_employees"),
        ),
        sa.ForeignKeyConstraint(
            ["supervisor_id"],
            ["employees.id"],
            name=op.f("fk_discipline_events_supervisor_id_employees"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discipline_events")),
        sa.UniqueConstraint(
            "employee_id", "year", "level_code", name="uq_discipline_events_employee_level"
        ),
    )
    with op.batch_alter_table("discipline_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_discipline_events_supervisor", ["supervisor_id", "year"], unique=False
        )


def downgrade() -> None:
    op.drop_table("discipline_events")
    op.drop_table("discipline_counts")
    op.drop_table("discipline_days")
    op.drop_table("discipline_levels")
