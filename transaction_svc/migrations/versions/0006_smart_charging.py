"""smart charging (block K)

The charging profiles each station holds as the CSMS knows them (charging_profiles), the
GetChargingProfiles requests whose reports are awaited (charging_profile_reports), the external
limits stations report (charging_limits), and the EVs' last charging needs and schedules per
EVSE (ev_charging_needs, ev_charging_schedules). New tables only: nothing existing changes.

Revision ID: 0006
Revises: 0005

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "charging_profiles",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=True),
        sa.Column("remote_start_id", sa.Integer(), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "id"),
    )
    op.create_table(
        "charging_profile_reports",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "request_id"),
    )
    op.create_table(
        "charging_limits",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("charging_limit", sa.JSON(), nullable=False),
        sa.Column("schedules", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "source", "evse_id"),
    )
    op.create_table(
        "ev_charging_needs",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("charging_needs", sa.JSON(), nullable=False),
        sa.Column("max_schedule_tuples", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "evse_id"),
    )
    op.create_table(
        "ev_charging_schedules",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("evse_id", sa.Integer(), nullable=False),
        sa.Column("time_base", sa.DateTime(timezone=True), nullable=False),
        sa.Column("charging_schedule", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("transaction_id", sa.String(length=36), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "evse_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("ev_charging_schedules")
    op.drop_table("ev_charging_needs")
    op.drop_table("charging_limits")
    op.drop_table("charging_profile_reports")
    op.drop_table("charging_profiles")
