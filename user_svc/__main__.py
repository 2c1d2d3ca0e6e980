"""``python -m user_svc``: migrate the database, then serve until SIGTERM."""

from common.process import main
from user_svc.server import run
from user_svc.settings import get_settings

if __name__ == "__main__":
    main("user_svc", get_settings(), run)
