"""Alembic environment of device_svc."""

from common.migrations import run
from device_svc.display_messages import models as _display_messages  # noqa: F401 - its tables join Base's
from device_svc.files import models as _files  # noqa: F401 - its tables join Base's
from device_svc.firmware import models as _firmware  # noqa: F401 - its tables join Base's
from device_svc.logs import models as _logs  # noqa: F401 - its tables join Base's
from device_svc.message_log import models as _message_log  # noqa: F401 - its tables join Base's
from device_svc.models import Base
from device_svc.monitoring import models as _monitoring  # noqa: F401 - its tables join Base's

run(Base.metadata)
