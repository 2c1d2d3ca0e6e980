"""the station's OCPP-J protocol (issue 18, OCPP 1.6J)

New defaulted column only: the subprotocol of each station's last connection, "ocpp2.0.1" or
"ocpp1.6". Stations connected before have "" until they next connect (REST shows it empty).

0014 and 0015 are reserved for other work under way; when they land, this revision's
down_revision becomes "0015" (it is "0013" here so that this branch has one head).

Revision ID: 0016
Revises: 0013

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("charging_stations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("protocol", sa.String(length=16), server_default="", nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("charging_stations", schema=None) as batch_op:
        batch_op.drop_column("protocol")
