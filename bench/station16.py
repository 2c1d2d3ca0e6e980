"""A simulated OCPP 1.6J station: :class:`~bench.station.Station` speaking ``ocpp1.6``.

Its transactions are StartTransaction, MeterValues (with the transactionId) and StopTransaction,
queued and re-sent through the same outbox as the 2.0.1 station's TransactionEvents (same
:class:`~bench.station.Resend` policy, same :class:`~bench.station.TxEventRecord` ledger), so
that ``make chaos`` reconciles them the same way. What a 1.6 station cannot know in advance is
the transactionId: the CSMS assigns it in the StartTransaction's answer. A transaction's records
carry a placeholder id until then, are sent only after their StartTransaction was acknowledged
(the outbox is sent head first, one at a time, as a 1.6 station must), and get the assigned id
when it comes. A StartTransaction re-sent after a lost answer is the same request, so it gets
the same id (and a second id would show as a transaction no station sent).

Each record's ledger key is what transaction_svc stores it under (gateway/ocpp16.py): the
assigned id, and seqNo 0 for the start, 2³¹−1 for the stop, and 1 + whole seconds from
2020-01-01 for a MeterValues: the station's clock gives its messages strictly increasing whole
seconds (ahead of real time when they come faster than one a second, as a simulator compressing
a session does), so that two MeterValues never share one.
"""

from __future__ import annotations

import datetime
import itertools
import random
import time
from typing import Any

from websockets.typing import Subprotocol

from bench.station import MEASURAND, CallFailed, Station, TxEventRecord

__all__ = ["SUBPROTOCOL_16", "Station16"]

SUBPROTOCOL_16 = Subprotocol("ocpp1.6")
_STOP_SEQ_NO = 2**31 - 1
_SEQ_EPOCH = int(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC).timestamp())
_PENDING = "?"  # a placeholder transactionId starts with it (a real one is digits)
_placeholders = itertools.count(1)


class Station16(Station):
    """A 1.6 station: 1.6 BootNotification, and 1.6 transactions in the outbox."""

    subprotocol = SUBPROTOCOL_16

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = 0  # the last timestamp given out, in whole seconds since 1970
        # Placeholder → the transactionId the CSMS assigned (once its start was acknowledged).
        self.assigned: dict[str, int] = {}

    async def boot(self) -> bool:
        reply = await self.call(
            "BootNotification",
            {"chargePointVendor": "csms-bench", "chargePointModel": "BenchStation16"},
        )
        if reply.get("status") != "Accepted":
            self.rec.error(f"boot:{reply.get('status')}")
            return False
        return True

    async def status(self, status: str = "Available") -> None:
        await self.call(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": status}
        )

    async def authorize(self) -> None:
        await self.call("Authorize", {"idTag": self.id_token})

    async def meter_values(self) -> None:
        """A MeterValues outside transactions (connectorId 0: the station's meter)."""
        self.energy_wh += random.randint(10, 500)
        await self.call(
            "MeterValues",
            {
                "connectorId": 0,
                "meterValue": [
                    {
                        "timestamp": self._timestamp(),
                        "sampledValue": [{"value": str(int(self.energy_wh))}],
                    }
                ],
            },
        )

    def _timestamp(self) -> str:
        self._clock = max(int(time.time()), self._clock + 1)
        at = datetime.datetime.fromtimestamp(self._clock, datetime.UTC)
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _next_event(self, event_type: str) -> tuple[str, int, str, dict[str, Any]]:
        """The next 1.6 transaction message as (placeholder id, seqNo, event type, payload):
        Started → StartTransaction, Updated → MeterValues, Ended → StopTransaction."""
        if event_type == "Started" or self.tx_id is None:
            self.tx_id = f"{_PENDING}{next(_placeholders)}"
            event_type = "Started"
        self.energy_wh += random.randint(10, 500)
        wh = int(self.energy_wh)
        now = self._timestamp()
        payload: dict[str, Any]
        if event_type == "Started":
            seq_no = 0
            payload = {"connectorId": 1, "idTag": self.id_token, "meterStart": wh, "timestamp": now}
        elif event_type == "Updated":
            seq_no = self._clock - _SEQ_EPOCH + 1
            payload = {
                "connectorId": 1,
                "meterValue": [
                    {
                        "timestamp": now,
                        "sampledValue": [
                            {"value": str(wh), "measurand": MEASURAND, "unit": "Wh"},
                            {"value": "16", "measurand": "Current.Import", "unit": "A"},
                        ],
                    }
                ],
            }
        else:
            seq_no = _STOP_SEQ_NO
            payload = {"meterStop": wh, "timestamp": now, "idTag": self.id_token}
        tx_id = self.tx_id
        if event_type == "Ended":
            self.tx_id = None
        return tx_id, seq_no, event_type, payload

    async def transaction_event(self, event_type: str) -> bool:
        """Without a Resend policy (the load generator): the next 1.6 transaction message, sent
        once; True when acknowledged (a StartTransaction's id is kept for the others)."""
        if self.resend is not None:
            return await super().transaction_event(event_type)
        tx_id, seq_no, event_type, payload = self._next_event(event_type)
        record = TxEventRecord(self.id, tx_id, seq_no, event_type, self.energy_wh, False, payload)
        prepared = self._prepared(record)
        if prepared is None:
            return False
        action, payload = prepared
        self.rec.tx.sent += 1
        try:
            reply = await self.call(action, payload, kind=f"{action}.{event_type}")
        except CallFailed as exc:
            outcome = "callerror" if exc.kind.startswith("callerror:") else "no_answer"
            self.rec.tx_outcome(self.id, tx_id, seq_no, outcome)
            return False
        self._acknowledged(record, reply)
        self.rec.tx_outcome(self.id, record.tx_id, seq_no, "acknowledged")
        return True

    def enqueue(self, event_type: str, offline: bool | None = None) -> TxEventRecord:
        # 1.6 has no offline flag: a message queued while disconnected is stored as any other.
        return super().enqueue(event_type, offline=False)

    def _prepared(self, record: TxEventRecord) -> tuple[str, dict[str, Any]] | None:
        if record.event_type == "Started":
            return "StartTransaction", record.payload
        transaction_id = self._transaction_id(record.tx_id)
        if transaction_id is None:  # its StartTransaction was refused: it has no id
            return None
        payload = {**record.payload, "transactionId": transaction_id}
        if record.event_type == "Updated":
            return "MeterValues", payload
        return "StopTransaction", payload

    def _transaction_id(self, tx_id: str) -> int | None:
        if not tx_id.startswith(_PENDING):
            return int(tx_id)
        return self.assigned.get(tx_id)

    def _acknowledged(self, record: TxEventRecord, reply: Any) -> None:
        if record.event_type != "Started" or not record.tx_id.startswith(_PENDING):
            return
        placeholder, assigned = record.tx_id, int(reply["transactionId"])
        self.assigned[placeholder] = assigned
        # The ledger's keys become what transaction_svc stores them under, and so do those of
        # the transaction's messages queued from now on.
        for r in self.ledger:
            if r.tx_id == placeholder:
                r.tx_id = str(assigned)
        if self.tx_id == placeholder:
            self.tx_id = str(assigned)
