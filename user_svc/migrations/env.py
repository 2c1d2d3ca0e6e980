"""Alembic environment of user_svc."""

from common.migrations import run
from user_svc.models import Base

run(Base.metadata)
