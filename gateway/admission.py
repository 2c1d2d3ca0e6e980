"""Admission of TCP connections to the stations' WebSocket listener: bounded in count and time.

A client that connects and then sends its HTTP upgrade request slowly, or never (a half-open
handshake), holds a file descriptor and some kilobytes of the gateway's memory. websockets'
``open_timeout`` bounds the whole handshake, which must stay long (a boot storm queues the
handshakes behind device_svc's ConnectStation); this module bounds what comes before it:

- the request must have arrived ``request_timeout`` seconds after the connect, or the
  connection is dropped;
- at most ``max_connections`` connections are open at once (sized below the open-file limit,
  :mod:`common.rlimits`). One more drops the oldest connection still waiting for its request,
  not the newcomer: a flood of half-open connections then churns through its own, while a real
  station, whose request follows its connect at once, gets in. Only when every connection is a
  station's (or a handshake already in process_request) is the newcomer dropped.

Per connection: one timer and one insertion into an insertion-ordered dict (the oldest waiting
one is its first key), undone when the request arrives; nothing per frame.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.asyncio.server import ServerConnection

__all__ = ["Admission", "AdmittedConnection"]

log = logging.getLogger(__name__)


class AdmittedConnection(ServerConnection):
    """A ServerConnection that reports its life to its listener's :class:`Admission`."""

    admission: Admission
    # Dropped by the admission (already uncounted there).
    dropped = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.admission.connected(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.admission.lost(self)
        super().connection_lost(exc)


class Admission:
    """The connections of one listener: how many are open, which still wait for a request."""

    def __init__(self, max_connections: int, request_timeout: float) -> None:
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        # Open connections: accepted, neither lost nor dropped here.
        self.open = 0
        # Connections whose upgrade request has not arrived, oldest first, with their timers.
        self._waiting: dict[AdmittedConnection, asyncio.TimerHandle] = {}
        # Dropped: request too slow; the oldest waiting one, to make room; the newcomer, when
        # no connection was waiting.
        self.timed_out = 0
        self.evicted = 0
        self.refused = 0

    @property
    def waiting(self) -> int:
        """Connections whose upgrade request has not arrived yet."""
        return len(self._waiting)

    def connection_class(self) -> type[AdmittedConnection]:
        """websockets' ``create_connection``: connections reporting to this admission."""
        return type("AdmittedConnection", (AdmittedConnection,), {"admission": self})

    def connected(self, conn: AdmittedConnection) -> None:
        self.open += 1
        if self.open > self.max_connections:
            if not self._waiting:
                self.refused += 1
                self._drop(conn)
                return
            self.evicted += 1
            self._drop(next(iter(self._waiting)))
        loop = asyncio.get_running_loop()
        self._waiting[conn] = loop.call_later(self.request_timeout, self._too_slow, conn)
        conn.request_rcvd.add_done_callback(lambda _: self._unwait(conn))

    def lost(self, conn: AdmittedConnection) -> None:
        self._unwait(conn)
        if not conn.dropped:
            self.open -= 1

    def _unwait(self, conn: AdmittedConnection) -> None:
        timer = self._waiting.pop(conn, None)
        if timer is not None:
            timer.cancel()

    def _too_slow(self, conn: AdmittedConnection) -> None:
        if conn in self._waiting:
            self.timed_out += 1
            self._drop(conn)

    def _drop(self, conn: AdmittedConnection) -> None:
        """Close at once (no HTTP answer: there is no request to answer) and stop counting it
        now: its descriptor is released when the loop runs its connection_lost."""
        self._unwait(conn)
        conn.dropped = True
        self.open -= 1
        conn.transport.abort()
