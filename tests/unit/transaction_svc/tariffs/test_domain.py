"""transaction_svc.tariffs.domain: exact costs, charging and idle time, the tariff chosen."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from common.errors import InvalidArgument
from transaction_svc.tariffs.domain import Tariff, cost, decimal_of, message_for, phases, pick

T0 = datetime.datetime(2026, 12, 5, 8, 0, tzinfo=datetime.UTC)
MIN = datetime.timedelta(minutes=1)


def tariff(**fields: object) -> Tariff:
    return Tariff(id="t", currency=str(fields.pop("currency", "EUR")), **fields)  # type: ignore[arg-type]


def test_an_energy_tariff_is_exact_and_rounded_once_at_the_end() -> None:
    """12,345 Wh at 0.39/kWh = 4.81455, + 19 % VAT = 5.7293145 -> 5.73; floats would give
    neither the lines nor the VAT exactly."""
    c = cost(
        tariff(price_per_kwh=Decimal("0.39"), vat_percent=Decimal("19")),
        Decimal(12345),
        MIN * 0,
        MIN * 0,
    )
    assert [(x.kind, x.quantity, x.amount) for x in c.lines] == [
        ("energy", Decimal("12.345"), Decimal("4.81455"))
    ]
    assert (c.net, c.vat, c.total) == (Decimal("4.81455"), Decimal("0.9147645"), Decimal("5.73"))


def test_every_component_and_the_idle_grace() -> None:
    t = tariff(
        price_per_kwh=Decimal("0.30"),
        price_per_hour=Decimal("1.20"),
        idle_price_per_hour=Decimal("6"),
        idle_grace=30 * MIN,
        session_fee=Decimal("0.50"),
    )
    c = cost(t, Decimal(10000), 90 * MIN, 45 * MIN)
    assert {x.kind: x.amount for x in c.lines} == {
        "energy": Decimal("3.000"),
        "time": Decimal("1.80"),
        "idle": Decimal("1.50"),  # 15 minutes beyond the grace at 6/h
        "sessionFee": Decimal("0.50"),
    }
    assert c.total == Decimal("6.80")
    assert cost(t, Decimal(10000), 90 * MIN, 29 * MIN).total == Decimal("5.30")


def test_half_up_and_currencies_without_minor_unit() -> None:
    assert cost(tariff(session_fee=Decimal("0.125")), Decimal(0), MIN, MIN).total == Decimal("0.13")
    assert cost(tariff(session_fee=Decimal("0.124")), Decimal(0), MIN, MIN).total == Decimal("0.12")
    yen = cost(tariff(currency="JPY", price_per_kwh=Decimal("45")), Decimal(1500), MIN, MIN)
    assert yen.total == Decimal("68")  # 67.5 half up


@pytest.mark.parametrize(
    ("states", "end", "charging", "idle"),
    [
        ([], 60, 60, 0),  # never said: charging time all along
        ([(0, "Charging"), (40, "SuspendedEV")], 60, 40, 20),
        ([(0, "Charging"), (20, "SuspendedEV"), (30, "Charging"), (50, "EVConnected")], 60, 50, 10),
        # Out of order, repeated: the same.
        ([(50, "EVConnected"), (0, "Charging"), (30, "Charging"), (20, "SuspendedEV")], 60, 50, 10),
        ([(0, "EVConnected"), (10, "Charging")], 60, 60, 0),  # still charging at the end
        ([(0, "EVConnected")], 60, 60, 0),  # never charged: no idle time
    ],
)
def test_phases(states: list[tuple[int, str]], end: int, charging: int, idle: int) -> None:
    got = phases([(T0 + m * MIN, s) for m, s in states], T0, T0 + end * MIN)
    assert got == (charging * MIN, idle * MIN)


def test_pick_group_then_station_then_default() -> None:
    default = Tariff(id="z-default", currency="EUR", is_default=True)
    station = Tariff(id="m-station", currency="EUR", station_ids=("CS1",))
    group = Tariff(id="a-group", currency="EUR", group_id_tokens=("FLEET",))
    every = [default, station, group]
    assert pick(every, "CS1", ["FLEET"]) == group
    assert pick(every, "CS1", []) == station
    assert pick(every, "CS2", ["OTHER"]) == default
    assert pick([station], "CS2", []) is None


def test_pick_knows_a_group_whatever_its_case() -> None:
    """A groupIdToken is an IdTokenType, case-insensitive: the fleet's tariff applies to the
    group however the station or the operator spelled it."""
    group = Tariff(id="g", currency="EUR", group_id_tokens=("Fleet-A",))
    default = Tariff(id="d", currency="EUR", is_default=True)
    assert pick([group, default], "CS1", ["FLEET-a"]) == group


def test_prices_are_decimal_strings() -> None:
    assert decimal_of("0.30", "p") == Decimal("0.30")
    assert decimal_of("", "p") == Decimal(0)
    for bad in ("abc", "-1", "NaN", "Infinity", "1e9"):
        with pytest.raises(InvalidArgument, match="p must be a decimal number"):
            decimal_of(bad, "p")
    with pytest.raises(InvalidArgument, match="currency"):
        Tariff(id="x", currency="euro").check()


def test_the_message_in_the_driver_s_language() -> None:
    en = {"format": "UTF8", "language": "en", "content": "0.39 EUR/kWh"}
    de = {"format": "UTF8", "language": "de", "content": "0,39 EUR/kWh"}
    assert message_for([en, de], "de") == de
    assert message_for([en, de], "fr") == en
    assert message_for([en, de], "") == en
    assert message_for([], "de") is None
