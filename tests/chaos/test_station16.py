"""bench.station16's 1.6 station against a real mesh (SQLite): its transaction messages go
through the resending outbox, wait for the StartTransaction's id, and land where the ledger
says (the keys chaos.reconcile compares)."""

from __future__ import annotations

import asyncio
import pathlib
import time
import uuid

import pytest

from bench.station import Resend
from bench.station16 import Station16
from bench.stats import Recorder
from chaos.reconcile import read_database, reconcile
from deploy.mesh import Mesh
from tests.e2e.conftest import running_mesh

pytestmark = pytest.mark.e2e


def test_a_1_6_transaction_reconciles(tmp_path: pathlib.Path) -> None:
    """Start, three MeterValues, Stop queued before any answer, then delivered: each stored
    once under the assigned id and its seqNo, the ledger and the database agree."""
    with running_mesh(tmp_path, auto_register=True, allow_unsecured_stations=True) as mesh:
        asyncio.run(_drive(mesh))


async def _drive(mesh: Mesh) -> None:
    url = f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp"
    prefix = f"S16-{uuid.uuid4().hex[:6]}-"
    st = Station16(f"{prefix}1", url, Recorder(), 10.0, "NOBODY", resend=Resend())
    try:
        assert await st.reconnect(time.perf_counter() + 20)
        assert await st.boot()
        for event_type in ("Started", "Updated", "Updated", "Updated", "Ended"):
            st.enqueue(event_type)
        assert all(r.tx_id.startswith("?") for r in st.ledger)
        assert await st.deliver(time.perf_counter() + 30)
    finally:
        await st.close()
    (assigned,) = st.assigned.values()
    assert {r.tx_id for r in st.ledger} == {str(assigned)}
    assert [r.seq_no for r in st.ledger][0] == 0 and st.ledger[-1].seq_no == 2**31 - 1
    events, transactions = await read_database(
        mesh.settings.service_database_url("transaction"), prefix
    )
    verdict = reconcile(st.ledger, events, transactions)
    assert verdict.ok, verdict.lines()
    assert (verdict.acknowledged, verdict.stored) == (5, 5)
    assert [t.tx_id for t in transactions] == [str(assigned)]
