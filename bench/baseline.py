"""What both baselines share: serving a connection handler on ``/ocpp/{id}`` until SIGTERM.

Each baseline is only its handler; this keeps their servers identical (subprotocol
``ocpp2.0.1``, no compression, uvloop, the gateway's listen backlog), so the comparison measures
the handlers alone.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence

from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from gateway.settings import Settings as GatewaySettings

__all__ = ["run"]

Handler = Callable[[ServerConnection], Awaitable[None]]

# As the gateway listens. asyncio's default of 100 made the baselines' boot storms measure the
# kernel: one raw-baseline storm of 5,000 overflowed the listen queue 1,812 times, and each
# dropped station waited for its SYN to be retransmitted (1 s, 3 s, 7 s...).
BACKLOG: int = GatewaySettings.model_fields["listen_backlog"].default


async def _serve_forever(handler: Handler, host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        handler,
        host,
        port,
        subprotocols=[Subprotocol("ocpp2.0.1")],
        compression=None,
        server_header=None,
        backlog=BACKLOG,
    ):
        await stop


def run(handler: Handler, prog: str, description: str | None, argv: Sequence[str] | None) -> None:
    """Parse ``--host``/``--port`` and serve ``handler`` until SIGTERM or SIGINT."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args(argv)
    import uvloop

    uvloop.run(_serve_forever(handler, a.host, a.port))
