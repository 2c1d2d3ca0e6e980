"""the station's OCPP-J protocol, 1.6 connector statuses (issue 18, OCPP 1.6J)

New defaulted columns only: the subprotocol of each station's last connection, "ocpp2.0.1" or
"ocpp1.6" (stations connected before have "" until they next connect); a 1.6 station's own
StatusNotification fields on its connectors ("" for statuses from 2.0.1 stations).

Revision ID: 0015
Revises: 0014

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: Union[str, Sequence[str], None] = "0014"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


_OCPP16_COLUMNS = (
    ("ocpp16_status", 16),
    ("ocpp16_error_code", 32),
    ("ocpp16_info", 50),
    ("ocpp16_vendor_id", 255),
    ("ocpp16_vendor_error_code", 50),
)


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("charging_stations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("protocol", sa.String(length=16), server_default="", nullable=False)
        )
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        for name, length in _OCPP16_COLUMNS:
            batch_op.add_column(
                sa.Column(name, sa.String(length=length), server_default="", nullable=False)
            )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("connectors", schema=None) as batch_op:
        for name, _ in reversed(_OCPP16_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("charging_stations", schema=None) as batch_op:
        batch_op.drop_column("protocol")
