"""``python -m user_svc``: migrate the database, then serve until SIGTERM.

Also the management API's key administration, straight on user_svc's database (the same
``CSMS_USER_*`` settings as the service; it needs no running service nor any key):

    python -m user_svc create-api-key --role operator --name NAME   # prints the secret, once
    python -m user_svc list-api-keys
    python -m user_svc revoke-api-key ID
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError

from common.db import create_engine, session_factory
from common.errors import CsmsError
from common.process import main
from user_svc import access
from user_svc.server import run
from user_svc.service import ApiKeys
from user_svc.settings import Settings, get_settings

__all__ = ["COMMANDS", "api_keys_cli"]

COMMANDS = ("create-api-key", "list-api-keys", "revoke-api-key")


async def _api_keys(settings: Settings, args: argparse.Namespace) -> str:
    engine = create_engine(settings.database_url)
    try:
        keys = ApiKeys(session_factory(engine), cache_ttl=0)
        if args.command == "create-api-key":
            key, secret = await keys.create(args.name, args.role)
            return f"API key {key.id} ({key.role}, {key.name!r}); its secret, shown once:\n{secret}"
        if args.command == "revoke-api-key":
            key = await keys.revoke(args.id)
            return f"API key {key.id} revoked at {key.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
        lines, token = [], ""
        while True:
            rows, token = await keys.list(0, token)
            lines += [
                f"{k.id}  {k.role:8}  {k.created_at:%Y-%m-%dT%H:%M:%SZ}  "
                f"{'revoked' if k.revoked_at else 'active ':7}  {k.name}"
                for k in rows
            ]
            if not token:
                return "\n".join(lines) or "no API keys"
    finally:
        await engine.dispose()


def api_keys_cli(argv: Sequence[str], settings: Settings) -> int:
    """Run one key administration command; its exit status."""
    parser = argparse.ArgumentParser(prog="python -m user_svc")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-api-key", help="create a key and print its secret (once)")
    create.add_argument("--role", choices=access.ROLES, required=True)
    create.add_argument("--name", default="")
    sub.add_parser("list-api-keys", help="the keys, never their secrets")
    revoke = sub.add_parser("revoke-api-key", help="revoke a key by its id")
    revoke.add_argument("id")
    args = parser.parse_args(argv)
    try:
        print(asyncio.run(_api_keys(settings, args)))
    except CsmsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        print(
            f"error: user_svc's database ({settings.database_url}) cannot be used: "
            f"{exc.orig}. Is it migrated (make migrate, or start the service once)?",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        sys.exit(api_keys_cli(sys.argv[1:], get_settings()))
    main("user_svc", get_settings(), run)
