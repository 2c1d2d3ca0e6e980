"""firmware images' MD5 (block L, PublishFirmware's checksum)

New defaulted column only: images uploaded before have none (publish them again after a new
upload).

Revision ID: 0012
Revises: 0011

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("firmware_images", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("md5", sa.String(length=32), server_default="", nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("firmware_images", schema=None) as batch_op:
        batch_op.drop_column("md5")
