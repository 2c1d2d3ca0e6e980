"""``python -m bench.baseline_raw --port P``: the ceiling of the WebSocket layer.

A bare ``websockets`` server on ``/ocpp/{id}`` (subprotocol ``ocpp2.0.1``) that parses each
frame with orjson and answers a minimal CALLRESULT at once: no validation, no conversion, no
storage. Whatever the mesh does on top costs the difference.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bench.baseline import run

__all__ = ["main", "reply"]

_STATIC = {
    "StatusNotification": {},
    "Authorize": {"idTokenInfo": {"status": "Accepted"}},
    "TransactionEvent": {},
    "MeterValues": {},
}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def reply(raw: str | bytes) -> bytes | None:
    """The answer to one frame (None for anything but a CALL)."""
    try:
        message = orjson.loads(raw)
        if message[0] != 2:
            return None
        message_id, action = message[1], message[2]
    except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
        return orjson.dumps([4, "-1", "RpcFrameworkError", "unreadable frame", {}])
    if action == "Heartbeat":
        return orjson.dumps([3, message_id, {"currentTime": _now()}])
    if action == "BootNotification":
        payload = {"currentTime": _now(), "interval": 300, "status": "Accepted"}
        return orjson.dumps([3, message_id, payload])
    if action in _STATIC:
        return orjson.dumps([3, message_id, _STATIC[action]])
    return orjson.dumps([4, message_id, "NotSupported", f"{action} not supported", {}])


async def _handler(conn: ServerConnection) -> None:
    try:
        while True:
            answer = reply(await conn.recv(decode=False))
            if answer is not None:
                await conn.send(answer, text=True)
    except ConnectionClosed:
        pass


def main(argv: Sequence[str] | None = None) -> None:
    run(_handler, "python -m bench.baseline_raw", __doc__, argv)


if __name__ == "__main__":
    main()
