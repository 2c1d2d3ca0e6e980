"""``python -m bench.baseline_raw --port P``: the ceiling of the WebSocket layer.

A bare ``websockets`` server on ``/ocpp/{id}`` (subprotocol ``ocpp2.0.1``) that parses each
frame with orjson and answers a minimal CALLRESULT at once: no validation, no conversion, no
storage. Whatever the mesh does on top costs the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import signal
from collections.abc import Sequence

import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

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


async def serve_forever(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        _handler,
        host,
        port,
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        compression=None,
        server_header=None,
    ):
        await stop


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.baseline_raw", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args(argv)
    import uvloop

    uvloop.run(serve_forever(a.host, a.port))


if __name__ == "__main__":
    main()
