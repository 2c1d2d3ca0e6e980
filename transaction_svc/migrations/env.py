"""Alembic environment of transaction_svc."""

from common.migrations import run
from transaction_svc.models import Base

run(Base.metadata)
