"""remote starts

The RequestStartTransactions the stations accepted (their idToken, for a transaction whose events
carry the remoteStartId without one), and which event carried a transaction's remoteStartId.

Revision ID: 0004
Revises: 0003

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "remote_starts",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("remote_start_id", sa.Integer(), nullable=False),
        sa.Column("id_token", sa.String(length=36), nullable=False),
        sa.Column("id_token_type", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "remote_start_id"),
    )
    # NULL for the transactions stored before: they never take a remote start's idToken. A plain
    # ALTER TABLE on SQLite too (see 0003).
    op.add_column("transactions", sa.Column("remote_start_seq", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("ALTER TABLE transactions DROP COLUMN remote_start_seq")  # see 0003
    op.drop_table("remote_starts")
