"""certificate names: the serial numbers OCPP 1.6 stations' certificates name them by (issue 18)

The 1.6 security whitepaper's Charge Point certificate has the station's serial number as CN
(A00.FR.511). Such a name is bound to its station from the first certificate signed for it, or
the first connection with one, so that it never admits another station that reports the same
serial number later. No row exists before: nothing to fill.

Revision ID: 0017
Revises: 0016

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0017"
down_revision: Union[str, Sequence[str], None] = "0016"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "certificate_names",
        sa.Column("name", sa.String(length=25), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["station_id"], ["charging_stations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index(
        op.f("ix_certificate_names_station_id"),
        "certificate_names",
        ["station_id"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f("ix_certificate_names_station_id"), table_name="certificate_names")
    op.drop_table("certificate_names")
