"""Fixtures of the OCTT scenarios: the OCTT's configuration on the CSMS, and its station.

The OCTT is configured with a valid idToken the CSMS knows (<Configured valid_idtoken_idtoken>,
type ISO14443): each test gets its own, created through REST, and its own registered station
(``station_id`` of tests/e2e/conftest.py), connected as an :class:`OcttStation`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from tests.e2e.octt.rest_checks import ID_TOKEN_TYPE, register_id_token
from tests.e2e.octt.station import OcttStation, Verdicts
from tests.e2e.station_sim import Station


@pytest.fixture
async def valid_id_token(rest: httpx.AsyncClient) -> dict[str, str]:
    """<Configured valid_idtoken_idtoken> and <Configured valid_idtoken_type>, Accepted."""
    token = f"OCTT-{uuid.uuid4().hex[:12].upper()}"
    resp = await register_id_token(rest, token)
    assert resp.status_code == 200, resp.text
    return {"idToken": token, "type": ID_TOKEN_TYPE}


@pytest.fixture
async def cs(
    request: pytest.FixtureRequest,
    ws_url: Callable[[str], str],
    station_id: str,
    valid_id_token: dict[str, str],
) -> AsyncIterator[OcttStation]:
    """The OCTT's simulated station, connected (not booted yet); its verdicts are asserted at
    the end if the test did not assert them itself."""
    sim = await Station.connect(ws_url(station_id), station_id)
    station = OcttStation(sim, Verdicts(request.node.name), dict(valid_id_token))
    try:
        yield station
    finally:
        await sim.close()
    if not station.verdicts.reported:
        station.assert_passed()
