"""Alerts to the operator's webhook: each new alert is POSTed, as the REST API shows it, to
``CSMS_DEVICE_ALERT_WEBHOOK_URL``, retried with backoff, never on the station's path.

The alert is queued in its own row when it is raised ("pending", with the NotifyEvent that
raised it: the station's answer waits for nothing else); a worker in device_svc delivers what is
due, a few at a time. A 2xx answer delivers it; anything else (another status, a refused or
timed-out connection) tries again after 1, 2, 4, ... seconds (at most ``max_backoff``), and
after ``max_attempts`` it is "failed" (logged; its row says why). Queued alerts survive a
restart. With ``secret`` set, each POST carries ``x-csms-signature: sha256=<HMAC-SHA256 of the
body>`` so the receiver can tell it came from this CSMS.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import logging
from collections.abc import Callable

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import utcnow
from common.rest_json import render
from device_svc.monitoring.convert import alert_to_proto
from device_svc.monitoring.models import AlertRow

__all__ = ["SIGNATURE_HEADER", "Webhook", "backoff"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-csms-signature"


def backoff(attempts: int, max_seconds: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 1, 2, 4, ..., capped."""
    return float(min(2 ** max(attempts - 1, 0), max_seconds))


class Webhook:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        url: str,
        *,
        secret: str = "",
        timeout: float = 5.0,
        max_attempts: int = 12,
        max_backoff: float = 300.0,
        tick: float = 1.0,
        concurrency: int = 4,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.url = url
        self.secret = secret.encode()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_backoff = max_backoff
        self.tick = tick
        self.concurrency = concurrency
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self, *, worker: bool = True) -> None:
        """Open the HTTP client and (``worker``) start delivering every ``tick``; without the
        worker, :meth:`deliver_due` delivers when called (tests)."""
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        if worker:
            self._task = asyncio.create_task(self._run(), name="alert-webhook")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            try:
                while await self.deliver_due():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alert webhook: a round failed (next one in %s s)", self.tick)
            await asyncio.sleep(self.tick)

    async def deliver_due(self) -> int:
        """One round: every alert due now (at most a batch); how many were tried."""
        now = self.clock()
        async with self.sessions() as session:
            rows = list(
                (
                    await session.scalars(
                        select(AlertRow)
                        .where(AlertRow.webhook_state == "pending", AlertRow.webhook_next_at <= now)
                        .order_by(AlertRow.id)
                        .limit(self.concurrency * 8)
                    )
                ).all()
            )
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row: AlertRow) -> None:
            async with gate:
                error = await self._post(row)
            await self._record(row.id, error)

        await asyncio.gather(*(one(r) for r in rows))
        return len(rows)

    async def _post(self, row: AlertRow) -> str:
        """ "" when delivered, else why not."""
        assert self._client is not None, "start() first"
        body = orjson.dumps({"alert": render(alert_to_proto(row))})
        headers = {"content-type": "application/json"}
        if self.secret:
            digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        try:
            resp = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= resp.status_code < 300:
            return ""
        return f"HTTP {resp.status_code}"

    async def _record(self, alert_id: int, error: str) -> None:
        async with self.sessions.begin() as session:
            row = await session.get(AlertRow, alert_id)
            if row is None or row.webhook_state != "pending":
                return
            row.webhook_attempts += 1
            if not error:
                row.webhook_state, row.webhook_error, row.webhook_next_at = "delivered", "", None
                return
            row.webhook_error = error
            if row.webhook_attempts >= self.max_attempts:
                row.webhook_state, row.webhook_next_at = "failed", None
                log.warning(
                    "alert %d not delivered to the webhook after %d attempts: %s",
                    alert_id,
                    row.webhook_attempts,
                    error,
                )
                return
            row.webhook_next_at = self.clock() + datetime.timedelta(
                seconds=backoff(row.webhook_attempts, self.max_backoff)
            )
