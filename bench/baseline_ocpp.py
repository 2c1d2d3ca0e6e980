"""``python -m bench.baseline_ocpp --port P``: the smallest central system on the ocpp library.

One ``ocpp.v201.ChargePoint`` per connection on a ``websockets`` server (``/ocpp/{id}``,
subprotocol ``ocpp2.0.1``), an ``@on`` handler per message a station sends in the benchmark,
nothing stored, no gRPC. The library validates every request and response against the OCPP
JSON schemas and converts between camelCase JSON and its dataclasses: that is what it costs.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from bench.baseline import run

__all__ = ["CentralSystem", "main"]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class CentralSystem(ChargePoint):
    """Answers every station message the benchmark sends; stores nothing."""

    @on(Action.boot_notification)
    def on_boot(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    def on_status(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(id_token_info={"status": "Accepted"})

    @on(Action.transaction_event)
    def on_transaction_event(self, **_: Any) -> call_result.TransactionEvent:
        return call_result.TransactionEvent()

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()


async def _handler(conn: ServerConnection) -> None:
    assert conn.request is not None
    station_id = conn.request.path.rstrip("/").rsplit("/", 1)[-1]
    try:
        await CentralSystem(station_id, conn).start()
    except ConnectionClosed:
        pass


def main(argv: Sequence[str] | None = None) -> None:
    # The library logs every frame at INFO; a central system under load would not.
    logging.basicConfig(level=logging.WARNING)
    run(_handler, "python -m bench.baseline_ocpp", __doc__, argv)


if __name__ == "__main__":
    main()
