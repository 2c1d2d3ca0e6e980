"""gateway leases: one lease per gateway incarnation, not per station (issue 21)

A station's connection is reachable while the gateway incarnation holding it
(charging_stations.gateway_lease) has a live row in gateway_leases, renewed by one write per
gateway per renewal whatever the number of stations it holds; station_moves holds the old
connections a gateway must close (its station connected elsewhere, or was deleted) until it
acknowledges them. charging_stations.lease_expires_at stays, for connections of gateways from
before this (the per-station RenewLeases of a rolling upgrade). Rows connected before keep their
per-station lease, so nothing connected now is seen offline by the upgrade.

Revision ID: 0016
Revises: 0015

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: Union[str, Sequence[str], None] = "0015"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "gateway_leases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "station_moves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gateway_lease", sa.String(length=64), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_station_moves_gateway_lease", "station_moves", ["gateway_lease", "id"], unique=False
    )
    with op.batch_alter_table("charging_stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gateway_lease", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("charging_stations", schema=None) as batch_op:
        batch_op.drop_column("gateway_lease")
    op.drop_index("ix_station_moves_gateway_lease", table_name="station_moves")
    op.drop_table("station_moves")
    op.drop_table("gateway_leases")
