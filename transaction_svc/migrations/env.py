"""Alembic environment of transaction_svc."""

from common.migrations import run
from transaction_svc.load_manager import models as _load_manager  # noqa: F401 - its tables join Base's
from transaction_svc.models import Base
from transaction_svc.reservations import models as _reservations  # noqa: F401 - its tables join Base's
from transaction_svc.smart_charging import models as _smart_charging  # noqa: F401 - its tables join Base's
from transaction_svc.tariffs import models as _tariffs  # noqa: F401 - its tables join Base's

run(Base.metadata)
