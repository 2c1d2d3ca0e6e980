"""OCPP 1.6J stations end to end: real WebSocket clients offering ``ocpp1.6`` against the whole
mesh (Envoy, gateway, services), on SQLite and PostgreSQL.

The subprotocol negotiated (2.0.1 preferred) and recorded on the station (REST ``protocol``),
BootNotification, Heartbeat and Authorize answered in 1.6 shapes, broken 1.6 frames refused with
OCPP-J 1.6's CALLERROR codes on a connection that stays usable, and what is not served yet
refused as NotSupported. The OCTT 1.6 CSMS-side cases reproduced are named in each docstring.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
# What the CSMS sends a station: UTC, at most 3 fractional digits.
SENT_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")
BOOT = {"chargePointVendor": "Acme", "chargePointModel": "W16", "chargePointSerialNumber": "SN16"}


class Station16:
    """A 1.6J station: one raw WebSocket, one CALL at a time, every answer read back."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._next = 0

    @classmethod
    async def connect(cls, url: str, *offered: str) -> Station16:
        ws = await connect(url, subprotocols=[Subprotocol(p) for p in offered or ("ocpp1.6",)])
        return cls(ws)

    async def send(self, frame: str | bytes) -> list[Any]:
        """Send a raw frame; the CSMS's next frame, parsed."""
        await self.ws.send(frame)
        answer: list[Any] = orjson.loads(await self.ws.recv())
        return answer

    async def call(self, action: str, payload: JSON) -> list[Any]:
        self._next += 1
        message_id = f"m{self._next}"
        answer = await self.send(orjson.dumps([2, message_id, action, payload]))
        assert answer[1] == message_id
        return answer

    async def result(self, action: str, payload: JSON) -> JSON:
        """The CALLRESULT payload; fails on a CALLERROR."""
        answer = await self.call(action, payload)
        assert answer[0] == 3, answer
        return dict(answer[2])


@pytest.fixture
async def station16(ws_url: Callable[[str], str], station_id: str) -> AsyncIterator[Station16]:
    st = await Station16.connect(ws_url(station_id))
    try:
        yield st
    finally:
        await st.ws.close()


async def _station(rest: httpx.AsyncClient, station_id: str) -> JSON:
    resp = await rest.get(f"/v1/chargingStations/{station_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_1_6_is_negotiated_and_recorded(
    ws_url: Callable[[str], str], station_id: str, rest: httpx.AsyncClient
) -> None:
    """A station offering only ocpp1.6 gets it, and REST shows it; offering both gets 2.0.1."""
    st = await Station16.connect(ws_url(station_id), "ocpp1.6")
    try:
        assert st.ws.subprotocol == "ocpp1.6"
        assert (await _station(rest, station_id))["protocol"] == "ocpp1.6"
    finally:
        await st.ws.close()
    st = await Station16.connect(ws_url(station_id), "ocpp1.6", "ocpp2.0.1")
    try:
        assert st.ws.subprotocol == "ocpp2.0.1"
        assert (await _station(rest, station_id))["protocol"] == "ocpp2.0.1"
    finally:
        await st.ws.close()


async def test_tc_001_cold_boot(
    station16: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """OCTT TC_001_CSMS (cold boot charge point): BootNotification Accepted with the CSMS's time
    and heartbeat interval, a StatusNotification per connector (0 = the station) answered,
    Heartbeat answered with the current time. The boot's fields and the statuses reach REST."""
    boot = await station16.result("BootNotification", BOOT)
    assert boot["status"] == "Accepted"
    assert boot["interval"] == 42  # the mesh's heartbeat interval
    assert SENT_DATE_TIME.match(boot["currentTime"]), boot
    sent = datetime.datetime.fromisoformat(boot["currentTime"])
    assert abs(sent - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(seconds=30)
    assert set(boot) == {"status", "interval", "currentTime"}
    for connector in (0, 1):
        answer = await station16.result(
            "StatusNotification",
            {"connectorId": connector, "errorCode": "NoError", "status": "Available"},
        )
        assert answer == {}
    beat = await station16.result("Heartbeat", {})
    assert SENT_DATE_TIME.match(beat["currentTime"]), beat
    station = await _station(rest, station_id)
    assert _connectors(station) == {
        (0, 0): ("Available", {"status": "Available", "errorCode": "NoError"}),
        (1, 1): ("Available", {"status": "Available", "errorCode": "NoError"}),
    }
    assert station["vendorName"] == "Acme"
    assert station["model"] == "W16"
    assert station["serialNumber"] == "SN16"
    assert station["protocol"] == "ocpp1.6"
    assert "lastBootAt" in station


def _connectors(station: JSON) -> dict[tuple[int, int], tuple[str, JSON | None]]:
    """(EVSE, connector) → (2.0.1 status, the 1.6 fields) as REST shows them."""
    return {
        (evse.get("id", 0), c.get("id", 0)): (c["status"], c.get("ocpp16"))
        for evse in station.get("evses", [])
        for c in evse["connectors"]
    }


async def test_status_notifications_keep_1_6_status_and_error_code(
    station16: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """OCTT TC_010/TC_011-style status reporting (CSMS side): a 1.6 status maps to 2.0.1's
    (Charging → Occupied) and is kept as sent with its errorCode and vendor fields; a station
    fault on connectorId 0 lands on EVSE 0; an older timestamp does not overwrite a newer one."""
    await station16.result("BootNotification", BOOT)
    sent = [
        {"connectorId": 1, "errorCode": "NoError", "status": "Preparing",
         "timestamp": "2026-12-05T10:00:00Z"},
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging",
         "timestamp": "2026-12-05T10:01:00Z"},
        # Older than the one stored: answered, not stored over it.
        {"connectorId": 1, "errorCode": "NoError", "status": "Finishing",
         "timestamp": "2026-12-05T09:00:00Z"},
        {"connectorId": 0, "errorCode": "OtherError", "status": "Faulted", "info": "door open",
         "vendorId": "com.acme", "vendorErrorCode": "E42", "timestamp": "2026-12-05T10:02:00Z"},
    ]  # fmt: skip
    for payload in sent:
        assert await station16.result("StatusNotification", payload) == {}
    station = await _station(rest, station_id)
    assert _connectors(station) == {
        (1, 1): ("Occupied", {"status": "Charging", "errorCode": "NoError"}),
        (0, 0): (
            "Faulted",
            {
                "status": "Faulted",
                "errorCode": "OtherError",
                "info": "door open",
                "vendorId": "com.acme",
                "vendorErrorCode": "E42",
            },
        ),
    }


async def test_tc_authorize(station16: Station16, rest: httpx.AsyncClient) -> None:
    """OCTT TC_003/TC_023-style Authorize (CSMS side): a stored idTag of any type is Accepted (1.6
    idTags have no type), a blocked one Blocked, an unknown one Invalid (1.6 has no Unknown)."""
    await station16.result("BootNotification", BOOT)
    good, blocked = (f"T{uuid.uuid4().hex[:12]}" for _ in range(2))
    for token, status, kind in ((good, "Accepted", "eMAID"), (blocked, "Blocked", "ISO14443")):
        resp = await rest.post(
            "/v1/idTokens", json={"idToken": token, "type": kind, "status": status}
        )
        assert resp.status_code == 200, resp.text
    answer = await station16.result("Authorize", {"idTag": good})
    assert answer == {"idTagInfo": {"status": "Accepted"}}
    answer = await station16.result("Authorize", {"idTag": good.lower()})  # case-insensitive
    assert answer["idTagInfo"]["status"] == "Accepted"
    answer = await station16.result("Authorize", {"idTag": blocked})
    assert answer == {"idTagInfo": {"status": "Blocked"}}
    answer = await station16.result("Authorize", {"idTag": f"U{uuid.uuid4().hex[:12]}"})
    assert answer == {"idTagInfo": {"status": "Invalid"}}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(b"not json", "FormationViolation", id="not-json"),
        pytest.param(b'[2,"b1","Heartbeat"]', "FormationViolation", id="call-too-short"),
        pytest.param(b'[9,"b1","Heartbeat",{}]', "ProtocolError", id="unknown-message-type"),
        pytest.param(b'[2,"b1","FlyToTheMoon",{}]', "NotImplemented", id="unknown-action"),
        pytest.param(
            b'[2,"b1","BootNotification",{"chargePointVendor":"A"}]',
            "OccurenceConstraintViolation",
            id="missing-model",
        ),
        pytest.param(
            b'[2,"b1","BootNotification",{"chargePointVendor":1,"chargePointModel":"M"}]',
            "TypeConstraintViolation",
            id="vendor-not-string",
        ),
        pytest.param(
            b'[2,"b1","Authorize",{"idTag":"123456789012345678901"}]',
            "PropertyConstraintViolation",
            id="idtag-over-20",
        ),
        pytest.param(
            b'[2,"b1","Authorize",{"idTag":"A","x":1}]', "FormationViolation", id="extra-property"
        ),
        pytest.param(
            # A 1.6 action only the CSMS sends: a station's is not served.
            b'[2,"b1","Reset",{"type":"Hard"}]',
            "NotSupported",
            id="not-served-yet",
        ),
    ],
)
async def test_bad_frames_get_1_6_callerrors(station16: Station16, frame: bytes, code: str) -> None:
    """A broken 1.6 frame is answered with OCPP-J 1.6's code, and the connection stays usable:
    the next CALL is answered as usual."""
    answer = await station16.send(frame)
    assert answer[0] == 4, answer
    assert answer[2] == code, answer
    assert answer[1] in ("b1", "-1")
    assert isinstance(answer[3], str) and isinstance(answer[4], dict)
    assert (await station16.result("BootNotification", BOOT))["status"] == "Accepted"


async def test_2_0_1_station_unchanged_beside_1_6(
    ws_url: Callable[[str], str], station_id: str
) -> None:
    """A 2.0.1 station still gets 2.0.1's spellings (FormatViolation, RpcFrameworkError) while
    1.6 stations are served."""
    st = await Station16.connect(ws_url(station_id), "ocpp2.0.1")
    try:
        assert (await st.send(b"not json"))[2] == "RpcFrameworkError"
        answer = await st.send(b'[2,"b1","BootNotification",{"chargePointVendor":"A"}]')
        assert answer[2] == "OccurrenceConstraintViolation"
        result = await st.result(
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
        )
        assert result["status"] == "Accepted"
        assert SENT_DATE_TIME.match((await st.result("Heartbeat", {}))["currentTime"])
    finally:
        await st.ws.close()


async def test_commands_to_a_1_6_station_are_refused_not_sent(
    station16: Station16, station_id: str, rest: httpx.AsyncClient
) -> None:
    """A 2.0.1 command over REST that a 1.6 station cannot be sent (here: a Reset of one EVSE,
    1.6 resets whole stations) is refused (400, FAILED_PRECONDITION); the station receives
    nothing. The commands 1.6 can say: tests/e2e/test_ocpp16_commands.py."""
    await station16.result("BootNotification", BOOT)
    resp = await rest.post(
        f"/v1/chargingStations/{station_id}:reset", json={"type": "Immediate", "evseId": 1}
    )
    assert resp.status_code == 400, resp.text
    assert "ocpp1.6" in resp.text
    # Nothing arrived: the next thing the station reads is the answer to its own CALL.
    assert (await station16.result("Heartbeat", {}))["currentTime"]
