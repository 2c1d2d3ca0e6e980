"""bench.station's resend behaviour against a scripted fake CSMS on a loopback port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from bench.station import Resend, Station
from bench.stats import Recorder


class FakeCsms:
    """Answers BootNotification; TransactionEvents per ``script`` (then CALLRESULT):
    "error" (CALLERROR InternalError), "close" (drop the connection), "ok", "mute" (no answer)."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.events: list[tuple[str, int, bool]] = []  # (transactionId, seqNo, offline)
        self.connections = 0

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        async for raw in ws:
            msg: list[Any] = orjson.loads(raw)
            if msg[2] != "TransactionEvent":
                await ws.send(orjson.dumps([3, msg[1], {"status": "Accepted"}]).decode())
                continue
            p = msg[3]
            self.events.append(
                (p["transactionInfo"]["transactionId"], p["seqNo"], p.get("offline", False))
            )
            step = self.script.pop(0) if self.script else "ok"
            if step == "error":
                await ws.send(orjson.dumps([4, msg[1], "InternalError", "down", {}]).decode())
            elif step == "close":
                ws.transport.abort()
                return
            elif step == "ok":
                await ws.send(orjson.dumps([3, msg[1], {}]).decode())


@pytest.fixture
async def csms() -> AsyncIterator[tuple[FakeCsms, str]]:
    fake = FakeCsms([])
    async with serve(fake.handler, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        yield fake, f"ws://127.0.0.1:{port}/ocpp"


def _station(url: str, resend: Resend | None, timeout: float = 5.0) -> Station:
    return Station("S1", url, Recorder(), timeout, "TOKEN", resend=resend)


async def test_resends_same_event_until_acknowledged(csms: tuple[FakeCsms, str]) -> None:
    """InternalError, then a dropped connection: the same (transactionId, seqNo) is sent again
    after a reconnect, then the next events follow in seqNo order."""
    fake, url = csms
    fake.script = ["ok", "error", "close"]
    st = _station(url, Resend(backoff=0.01, backoff_max=0.05))
    assert await st.connect()
    for event_type in ("Started", "Updated", "Updated", "Ended"):
        st.enqueue(event_type)
    assert await st.deliver(time.perf_counter() + 10)
    await st.close()
    tx = st.ledger[0].tx_id
    assert fake.events == [(tx, 0, False), (tx, 1, False), (tx, 1, False), (tx, 1, False)] + [
        (tx, 2, False),
        (tx, 3, False),
    ]
    assert [r.sent for r in st.ledger] == [1, 3, 1, 1]
    assert all(r.acknowledged for r in st.ledger)
    assert st.ledger[1].outcomes == {"callerror:InternalError": 1, "closed": 1, "acknowledged": 1}
    assert st.reconnects == 1 and fake.connections == 2


async def test_no_answer_reconnects_and_resends(csms: tuple[FakeCsms, str]) -> None:
    """A call without an answer within the timeout: dropped connection, same event again."""
    fake, url = csms
    fake.script = ["mute"]
    st = _station(url, Resend(backoff=0.01), timeout=0.3)
    assert await st.connect()
    assert await st.transaction_event("Started")
    await st.close()
    assert st.ledger[0].outcomes == {"timeout": 1, "acknowledged": 1}
    assert fake.connections == 2 and len(fake.events) == 2


async def test_queued_while_disconnected_is_offline(csms: tuple[FakeCsms, str]) -> None:
    """Events queued before the station connects carry offline: true and go in queue order."""
    fake, url = csms
    st = _station(url, Resend(backoff=0.01))
    for event_type in ("Started", "Updated", "Ended"):
        st.enqueue(event_type)
    assert await st.deliver(time.perf_counter() + 10)
    await st.close()
    assert [(s, off) for _, s, off in fake.events] == [(0, True), (1, True), (2, True)]


async def test_refused_event_is_dropped() -> None:
    """A CALLERROR other than InternalError would not change on resend: the event is dropped."""

    async def refuse(ws: ServerConnection) -> None:
        async for raw in ws:
            msg = orjson.loads(raw)
            await ws.send(orjson.dumps([4, msg[1], "FormatViolation", "no", {}]).decode())

    async with serve(refuse, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"]) as server:  # type: ignore[list-item]
        port = next(iter(server.sockets)).getsockname()[1]
        st = _station(f"ws://127.0.0.1:{port}/ocpp", Resend(backoff=0.01))
        assert await st.connect()
        assert not await st.transaction_event("Started")
        await st.close()
    assert st.ledger[0].dropped and st.ledger[0].sent == 1


async def test_default_station_does_not_resend(csms: tuple[FakeCsms, str]) -> None:
    """Without a Resend policy a failed TransactionEvent is counted once and not retried."""
    fake, url = csms
    fake.script = ["error"]
    st = _station(url, None)
    assert await st.connect()
    assert not await st.transaction_event("Started")
    await st.close()
    assert len(fake.events) == 1 and st.ledger == [] and st.rec.tx.callerror == 1


async def test_reconnect_gives_up_at_deadline() -> None:
    """Nobody listening: reconnect returns False once the deadline is near, bounded in time."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    st = _station(f"ws://127.0.0.1:{port}/ocpp", Resend(backoff=0.05, backoff_max=0.1))
    t0 = time.perf_counter()
    assert not await st.reconnect(t0 + 0.5)
    assert time.perf_counter() - t0 < 2
    assert st.rec.errors["connect:refused"] >= 2
    await asyncio.sleep(0)
