"""The alerts' webhook (device_svc/monitoring/webhook.py) against a real HTTP receiver on
loopback, on SQLite and PostgreSQL: delivered once on a 2xx, retried with backoff otherwise,
given up after the last attempt, signed."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from common.db import create_engine, session_factory
from device_svc.monitoring.models import AlertRow
from device_svc.monitoring.webhook import SIGNATURE_HEADER, Webhook, backoff

T0 = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=datetime.UTC)


class Receiver:
    """An operator's endpoint: answers each POST with the next status of ``statuses``."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:] if x)
        }
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.received.append((headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    server = await asyncio.start_server(r.handle, "127.0.0.1", 0)
    r.port = server.sockets[0].getsockname()[1]
    yield r
    server.close()
    await server.wait_closed()


@pytest.fixture
async def sessions(migrated_db: Callable[[str], str]) -> AsyncIterator[Any]:
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


async def _alert(sessions: Any, **fields: Any) -> int:
    async with sessions.begin() as session:
        row = AlertRow(
            station_id="CS1",
            generated_at=T0,
            seq_no=0,
            event_id=fields.pop("event_id", 1),
            timestamp=T0,
            severity=1,
            monitor_id=7,
            trigger="Alerting",
            actual_value="81",
            component_name="ChargingStation",
            evse_id=None,
            variable_name="Temperature",
            acknowledged=False,
            acknowledged_at=None,
            created_at=T0,
            webhook_state="pending",
            webhook_attempts=0,
            webhook_next_at=T0,
            webhook_error="",
            **fields,
        )
        session.add(row)
    return int(row.id)


async def _row(sessions: Any, alert_id: int) -> AlertRow:
    async with sessions() as session:
        row = await session.get(AlertRow, alert_id)
    assert row is not None
    return row


async def test_retried_with_backoff_until_delivered_once_and_signed(sessions, receiver) -> None:  # type: ignore[no-untyped-def]
    clock = [T0]
    hook = Webhook(
        sessions,
        f"http://127.0.0.1:{receiver.port}/alerts",
        secret="s3cret",
        clock=lambda: clock[0],
    )
    hook.start(worker=False)  # rounds by hand, at the clock's times
    try:
        alert_id = await _alert(sessions)
        receiver.statuses = [500, 503]
        assert await hook.deliver_due() == 1
        assert (await _row(sessions, alert_id)).webhook_error == "HTTP 500"
        assert await hook.deliver_due() == 0  # not due before its backoff
        clock[0] += datetime.timedelta(seconds=1)
        assert await hook.deliver_due() == 1
        clock[0] += datetime.timedelta(seconds=1.5)
        assert await hook.deliver_due() == 0  # 2 s after the second failure
        clock[0] += datetime.timedelta(seconds=1)
        assert await hook.deliver_due() == 1
        row = await _row(sessions, alert_id)
        assert (row.webhook_state, row.webhook_attempts) == ("delivered", 3)
        clock[0] += datetime.timedelta(hours=1)
        assert await hook.deliver_due() == 0  # delivered: never again
    finally:
        await hook.stop()
    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    alert = orjson.loads(body)["alert"]
    assert (alert["id"], alert["stationId"], alert["severity"], alert["actualValue"]) == (
        str(alert_id),
        "CS1",
        1,
        "81",
    )


async def test_given_up_after_the_last_attempt(sessions, receiver) -> None:  # type: ignore[no-untyped-def]
    clock = [T0]
    hook = Webhook(
        sessions, f"http://127.0.0.1:{receiver.port}/", max_attempts=3, clock=lambda: clock[0]
    )
    hook.start(worker=False)  # rounds by hand, at the clock's times
    try:
        alert_id = await _alert(sessions)
        receiver.statuses = [500] * 10
        for _ in range(3):
            await hook.deliver_due()
            clock[0] += datetime.timedelta(minutes=10)
        row = await _row(sessions, alert_id)
        assert (row.webhook_state, row.webhook_attempts) == ("failed", 3)
        assert await hook.deliver_due() == 0
    finally:
        await hook.stop()
    assert len(receiver.received) == 3


async def test_an_unreachable_receiver_is_an_attempt_that_failed(sessions) -> None:  # type: ignore[no-untyped-def]
    from deploy.mesh import free_port

    hook = Webhook(sessions, f"http://127.0.0.1:{free_port()}/", clock=lambda: T0)
    hook.start(worker=False)  # rounds by hand, at the clock's times
    try:
        alert_id = await _alert(sessions)
        assert await hook.deliver_due() == 1
        row = await _row(sessions, alert_id)
        assert (row.webhook_state, row.webhook_attempts) == ("pending", 1)
        assert "ConnectError" in row.webhook_error
    finally:
        await hook.stop()


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n, 300) for n in range(1, 12)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
