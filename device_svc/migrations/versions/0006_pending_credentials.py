"""pending password (OCPP A01) and security profile (A05); stations of profile 1 or 2 without a
password named

Revision ID: 0006
Revises: 0005

"""

import logging
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

log = logging.getLogger("device_svc.migrations")

# How many of the stations without a password the log line names (the rest are counted).
_NAMED = 50


def upgrade() -> None:
    """Upgrade schema."""
    # Nullable columns without a default: SQLite adds them in place (no table copy), PostgreSQL
    # without rewriting the table; every row keeps its values and has nothing pending.
    with op.batch_alter_table("charging_stations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pending_password_hash", sa.String(length=255), nullable=True)
        )
        batch_op.add_column(sa.Column("pending_security_profile", sa.Integer(), nullable=True))
    _name_stations_without_password()


def _name_stations_without_password() -> None:
    """A station of profile 1 or 2 without a password (set before a password was required)
    can never connect; no migration can invent its password, so its operator is told here, and
    the station is refused at every connect with a log line saying why."""
    stations = op.get_bind().execute(
        sa.text(
            "SELECT id FROM charging_stations "
            "WHERE security_profile IN (1, 2) AND password_hash IS NULL ORDER BY id"
        )
    )
    ids = [row[0] for row in stations]
    if ids:
        log.warning(
            "%d station(s) of security profile 1 or 2 have no Basic auth password and are "
            "refused at every connect until an operator sets one "
            "(PATCH /v1/chargingStations/{id}?updateMask=basicAuthPassword): %s%s",
            len(ids),
            ", ".join(ids[:_NAMED]),
            f" and {len(ids) - _NAMED} more" if len(ids) > _NAMED else "",
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("charging_stations", schema=None) as batch_op:
        batch_op.drop_column("pending_security_profile")
        batch_op.drop_column("pending_password_hash")
