"""``python -m transaction_svc``: migrate the database, then serve until SIGTERM."""

from common.process import main
from transaction_svc.server import run
from transaction_svc.settings import get_settings

if __name__ == "__main__":
    main("transaction_svc", get_settings(), run)
