"""message log bodies compressed by lz4 on PostgreSQL

A busy station's batch (over TOAST's 2 KB: a few hundred frames of one half second) is
compressed by PostgreSQL when stored; its zlib'd texts do not compress again, its times (int64,
their high bytes alike) do. For a Heartbeat-busy station's 4.6 KB batch PostgreSQL's default,
pglz, spent about 100 µs of the server's CPU to store 62% of it, lz4 about 20 to store 73%.
Only values stored from now on; a server without lz4 (built without it, or before PostgreSQL
14) keeps pglz. SQLite compresses nothing: nothing to do there.

Revision ID: 0018
Revises: 0017

"""

from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "0018"
down_revision: Union[str, Sequence[str], None] = "0017"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or (bind.dialect.server_version_info or (0,)) < (14,):
        return
    # A server built without lz4 refuses the method (feature_not_supported): pglz stays.
    op.execute(
        "DO $$ BEGIN "
        "ALTER TABLE station_message_batches ALTER COLUMN body "
        f"SET COMPRESSION {method}; "
        "EXCEPTION WHEN feature_not_supported THEN "
        f"RAISE NOTICE 'no {method} here: station_message_batches.body keeps its compression'; "
        "END $$"
    )


def upgrade() -> None:
    """Upgrade schema."""
    _set_compression("lz4")


def downgrade() -> None:
    """Downgrade schema."""
    _set_compression("default")
