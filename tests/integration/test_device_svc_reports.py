"""device_svc's NotifyReport parts on real SQLite and PostgreSQL: stored in chunks, each its own
transaction, one part at a time, other writes passing between two chunks; a part cut short is
applied whole again; what a part does not say stays as stored."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common import db
from device_svc import service
from device_svc.domain import Attribute, Characteristics, ReportedVariable, VariableRef
from device_svc.models import Connector, ReportPart
from device_svc.service import Devices

NOW = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.UTC)


@pytest.fixture
async def engine(migrated_db) -> AsyncIterator[AsyncEngine]:  # type: ignore[no-untyped-def]
    url = await asyncio.to_thread(migrated_db, "device_svc")
    engine = db.create_engine(url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def devices(engine: AsyncEngine) -> AsyncIterator[Devices]:
    devices = Devices(async_sessionmaker(bind=engine, expire_on_commit=False), 60)
    await devices.create("CS1", {})
    await devices.create("CS2", {})
    yield devices
    await devices.drain()


@pytest.fixture
def chunk_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two variables per transaction: a part of five is stored in three."""
    monkeypatch.setattr(service, "REPORT_CHUNK", 2)


def _variable(
    name: str, value: str, *, characteristics: bool = True, max_set: str | None = None
) -> ReportedVariable:
    attributes = [Attribute("Actual", value, "ReadWrite", True, False)]
    if max_set is not None:
        attributes.append(Attribute("MaxSet", max_set))
    return ReportedVariable(
        VariableRef("Ctrlr", name, evse_id=1),
        tuple(attributes),
        Characteristics("integer", True, unit="s", max_limit=100.0) if characteristics else None,
    )


async def _report(
    devices: Devices, station_id: str, seq_no: int, variables: Sequence[ReportedVariable]
) -> bool:
    return await devices.record_report(station_id, 7, seq_no, True, NOW, variables)


async def _model(devices: Devices, station_id: str) -> dict[str, Any]:
    """name -> (characteristics, {attribute type: value})."""
    rows, _ = await devices.list_variables(station_id, "", "", 100, "")
    return {
        row.variable_name: (
            (row.data_type, row.unit, row.max_limit),
            {a.type: a.value for a in row.attributes},
        )
        for row in rows
    }


async def _parts(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(ReportPart))).scalar_one()


class _Sessions:
    """The service's session factory, counting its transactions; ``between`` runs before each
    one after the first, with no transaction of the service open."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], between: Any = None) -> None:
        self.sessions = sessions
        self.between = between
        self.begun = 0
        self.kw = sessions.kw

    def __call__(self) -> AsyncSession:
        return self.sessions()

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        self.begun += 1
        if self.begun > 1 and self.between is not None:
            await self.between(self.begun)
        async with self.sessions.begin() as session:
            yield session


@pytest.mark.usefixtures("chunk_of_two")
async def test_a_long_part_is_stored_whole_in_chunks_with_writes_between(
    devices: Devices, engine: AsyncEngine
) -> None:
    """Five variables in three transactions; a StatusNotification written between two chunks
    (on SQLite's one connection it could not, were the part one transaction); the part is
    recorded with its last chunk, all five stored."""
    statuses: list[int] = []

    async def a_status_between(n: int) -> None:
        await devices.status("CS2", 1, n, "Occupied", NOW)
        statuses.append(n)

    sessions = _Sessions(devices.sessions, a_status_between)
    devices.sessions = sessions  # type: ignore[assignment]
    part = [_variable(f"V{i}", str(i)) for i in range(5)]
    assert await _report(devices, "CS1", 0, part) is False
    assert sessions.begun == 3
    assert statuses == [2, 3]
    model = await _model(devices, "CS1")
    assert sorted(model) == ["V0", "V1", "V2", "V3", "V4"]
    assert model["V4"] == (("integer", "s", 100.0), {"Actual": "4"})
    assert await _parts(engine) == 1
    async with engine.connect() as conn:
        stored = (await conn.execute(select(Connector.connector_id))).scalars().all()
    assert sorted(stored) == [2, 3]


@pytest.mark.usefixtures("chunk_of_two")
async def test_parts_are_stored_one_at_a_time(devices: Devices) -> None:
    """Two stations' parts arriving together: every chunk of one before any of the other
    (their chunks interleaved, each would wait behind the other's as well as other writes)."""
    order: list[str] = []
    apply = devices._apply_report

    async def recorded(model: Any, station_id: str, entries: Any) -> None:
        order.append(station_id)
        await apply(model, station_id, entries)

    devices._apply_report = recorded  # type: ignore[method-assign]
    part = [_variable(f"V{i}", str(i)) for i in range(4)]
    await asyncio.gather(_report(devices, "CS1", 0, part), _report(devices, "CS2", 0, part))
    assert order in (["CS1", "CS1", "CS2", "CS2"], ["CS2", "CS2", "CS1", "CS1"])
    assert len(await _model(devices, "CS1")) == len(await _model(devices, "CS2")) == 4


@pytest.mark.usefixtures("chunk_of_two")
async def test_a_part_cut_short_is_applied_whole_again(
    devices: Devices, engine: AsyncEngine
) -> None:
    """A failure in the second chunk leaves the part unrecorded: the station's retry (with
    newer values here) stores it whole; a replay after that changes nothing."""
    apply = devices._apply_report
    calls = 0

    async def failing_once(model: Any, station_id: str, entries: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the service died here")
        await apply(model, station_id, entries)

    devices._apply_report = failing_once  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await _report(devices, "CS1", 0, [_variable(f"V{i}", "old") for i in range(4)])
    assert await _parts(engine) == 0
    await _report(devices, "CS1", 0, [_variable(f"V{i}", "new") for i in range(4)])
    await _report(devices, "CS1", 0, [_variable(f"V{i}", "replay") for i in range(4)])
    model = await _model(devices, "CS1")
    assert {name: attributes["Actual"] for name, (_, attributes) in model.items()} == {
        "V0": "new",
        "V1": "new",
        "V2": "new",
        "V3": "new",
    }
    assert await _parts(engine) == 1


async def test_what_a_part_does_not_say_stays_as_stored(devices: Devices) -> None:
    """A later part replaces the attributes it reports and the characteristics when it carries
    them; other attributes and absent characteristics stay. Within a part, the last entry of a
    variable wins whole."""
    await _report(devices, "CS1", 0, [_variable("Kept", "1", max_set="9"), _variable("X", "1")])
    await _report(
        devices,
        "CS1",
        1,
        [
            _variable("Kept", "2", characteristics=False),
            _variable("X", "first", max_set="8"),
            ReportedVariable(
                VariableRef("Ctrlr", "X", evse_id=1),
                (Attribute("Actual", "last"),),
                Characteristics("string", False),
            ),
        ],
    )
    model = await _model(devices, "CS1")
    assert model["Kept"] == (("integer", "s", 100.0), {"Actual": "2", "MaxSet": "9"})
    assert model["X"] == (("string", None, None), {"Actual": "last"})


@pytest.mark.parametrize("variable", ["BasicAuthPassword", "basicauthpassword"])
async def test_a_reported_basic_auth_password_is_not_stored(
    devices: Devices, variable: str
) -> None:
    """The Basic auth password is write-only (SecurityCtrlr): a station that reports its value
    anyway, in any case of its name, has the variable stored without it."""
    reported = ReportedVariable(
        VariableRef("SecurityCtrlr", variable),
        (Attribute("Actual", "reported-secret-pw", "WriteOnly", True, False),),
        None,
    )
    await _report(devices, "CS1", 0, [reported, _variable("Other", "5")])
    rows, _ = await devices.list_variables("CS1", "", "", 100, "")
    assert "reported-secret-pw" not in str([(r.variable_name, r.attributes) for r in rows])
    stored = {r.variable_name: {a.type: a.value for a in r.attributes} for r in rows}
    assert stored[variable] == {"Actual": None} and stored["Other"] == {"Actual": "5"}


async def test_variables_are_listed_by_names_in_any_case(devices: Devices) -> None:
    """Component and variable names are case-insensitive (OCPP 2.0.1 Part 2, ComponentType and
    VariableType): an operator's filter finds them however the station spelled them."""
    await _report(devices, "CS1", 0, [_variable("HeartbeatInterval", "300")])
    rows, _ = await devices.list_variables("CS1", "ctrlr", "heartbeatinterval", 100, "")
    assert [(r.component_name, r.variable_name) for r in rows] == [("Ctrlr", "HeartbeatInterval")]
    rows, _ = await devices.list_variables("CS1", "CTRLR", "", 100, "")
    assert len(rows) == 1
