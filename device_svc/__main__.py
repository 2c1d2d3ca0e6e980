"""``python -m device_svc``: migrate the database, then serve until SIGTERM."""

from common.process import main
from device_svc.server import run
from device_svc.settings import get_settings

if __name__ == "__main__":
    main("device_svc", get_settings(), run)
