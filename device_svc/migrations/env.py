"""Alembic environment of device_svc."""

from common.migrations import run
from device_svc.models import Base

run(Base.metadata)
