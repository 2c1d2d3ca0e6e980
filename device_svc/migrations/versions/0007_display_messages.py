"""display messages (block O)

The messages each station shows as the CSMS knows them (display_messages) and the
GetDisplayMessages requests whose reports are awaited (display_message_reports). New tables
only: nothing existing changes.

Revision ID: 0007
Revises: 0006

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "display_messages",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("reported_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "id"),
    )
    op.create_table(
        "display_message_reports",
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "request_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("display_message_reports")
    op.drop_table("display_messages")
