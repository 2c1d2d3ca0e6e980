"""Tariffs and what a transaction costs: pure code, no I/O, no protobuf, no floats for money.

**A tariff** has a currency and net prices (:class:`decimal.Decimal`, from decimal strings):
per kWh, per hour of charging time, per hour of idle time after a grace period, and a session
fee; VAT in percent on top. It applies to a transaction by the first that matches of: a tariff
of the transaction's idToken group, a tariff of its station, the default tariff
(:func:`pick`). **The tariff in force when the transaction's first cost is computed applies to
the whole transaction** (its snapshot is kept with the transaction): a tariff changed or
deleted meanwhile changes no transaction already under way.

**Time.** A transaction's *charging time* runs from its start until *idle* begins; idle begins
at the first event (by timestamp) after the last event in the ``Charging`` state whose charging
state is not ``Charging`` (the EV is full or stopped drawing while still plugged), and runs
until the transaction ends (or now). A transaction that never charged is charging time all
along (:func:`phases`). Idle time is billed only beyond ``idle_grace``.

**The cost** (:func:`cost`): one line per priced component, each ``quantity × unit price``
exactly; the net is their sum, VAT ``net × vat / 100``, the total ``net + VAT``, **rounded once,
at the end, half up to the currency's minor unit** (2 decimals; 0 for the currencies ISO 4217
gives none, such as JPY). Lines and net are kept unrounded in the record, so that a sum of
records never differs from the records' own rounding by more than a cent per record. Energy is
counted in Wh (the transaction's plausible Energy.Active.Import.Register readings, last minus
first: an offline first event and a register starting above zero are what that already takes
care of), priced per kWh.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from common.errors import InvalidArgument

__all__ = [
    "Cost",
    "Line",
    "Tariff",
    "cost",
    "decimal_of",
    "message_for",
    "minor_units",
    "phases",
    "pick",
]

_ZERO = Decimal(0)
_HOUR = Decimal(3600)
_KWH = Decimal(1000)
_CURRENCY = re.compile(r"[A-Z]{3}")
_TARIFF_ID = re.compile(r"[A-Za-z0-9._-]{1,48}")
# ISO 4217 currencies without a minor unit; every other one has 2 (those with 3, such as BHD,
# are rounded to 2 here: a documented limit).
_NO_MINOR_UNIT = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "XAF", "XOF", "XPF", "UGX"})
_MAX_PRICE = Decimal("1000000")


def minor_units(currency: str) -> int:
    return 0 if currency in _NO_MINOR_UNIT else 2


def decimal_of(value: str | int | Decimal | None, field: str) -> Decimal:
    """A price from its decimal string ("0.30"); InvalidArgument naming ``field``. Empty: 0."""
    if value is None or value == "":
        return _ZERO
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        raise InvalidArgument(f"{field} must be a decimal number such as 0.30") from None
    if not found.is_finite() or found < 0 or found > _MAX_PRICE:
        raise InvalidArgument(f"{field} must be a decimal number from 0 to {_MAX_PRICE}")
    return found


@dataclasses.dataclass(frozen=True)
class Tariff:
    id: str
    currency: str
    price_per_kwh: Decimal = _ZERO
    price_per_hour: Decimal = _ZERO
    idle_price_per_hour: Decimal = _ZERO
    idle_grace: datetime.timedelta = datetime.timedelta(0)
    session_fee: Decimal = _ZERO
    vat_percent: Decimal = _ZERO
    name: str = ""
    is_default: bool = False
    station_ids: tuple[str, ...] = ()
    group_id_tokens: tuple[str, ...] = ()
    # Seconds between CostUpdated calls while a transaction runs; None: never.
    cost_update_interval: int | None = None
    # MessageContentType JSON, one per language: what the driver is shown of the tariff.
    personal_messages: tuple[Mapping[str, Any], ...] = ()

    def check(self) -> None:
        if not _TARIFF_ID.fullmatch(self.id):
            raise InvalidArgument("id must be 1 to 48 of A-Z a-z 0-9 . _ -")
        if not _CURRENCY.fullmatch(self.currency):
            raise InvalidArgument("currency must be an ISO 4217 code such as EUR")
        if self.vat_percent > 100:
            raise InvalidArgument("vatPercent must be from 0 to 100")
        if self.idle_grace < datetime.timedelta(0):
            raise InvalidArgument("idleGraceMinutes must not be negative")
        if self.cost_update_interval is not None and self.cost_update_interval < 0:
            raise InvalidArgument("costUpdateInterval must not be negative")
        if len(self.name) > 200:
            raise InvalidArgument("name must be at most 200 characters")
        for station_id in self.station_ids:
            if not station_id or len(station_id) > 48:
                raise InvalidArgument("stationIds: each 1 to 48 characters")
        for group in self.group_id_tokens:
            if not group or len(group) > 36:
                raise InvalidArgument("groupIdTokens: each 1 to 36 characters")

    def as_json(self) -> dict[str, Any]:
        """The snapshot kept with a transaction (decimal strings, exact)."""
        return {
            "id": self.id,
            "currency": self.currency,
            "pricePerKwh": str(self.price_per_kwh),
            "pricePerHour": str(self.price_per_hour),
            "idlePricePerHour": str(self.idle_price_per_hour),
            "idleGraceSeconds": int(self.idle_grace.total_seconds()),
            "sessionFee": str(self.session_fee),
            "vatPercent": str(self.vat_percent),
            "costUpdateInterval": self.cost_update_interval,
            "personalMessages": [dict(m) for m in self.personal_messages],
        }

    @classmethod
    def of_json(cls, data: Mapping[str, Any]) -> Tariff:
        return cls(
            id=str(data["id"]),
            currency=str(data["currency"]),
            price_per_kwh=Decimal(data["pricePerKwh"]),
            price_per_hour=Decimal(data["pricePerHour"]),
            idle_price_per_hour=Decimal(data["idlePricePerHour"]),
            idle_grace=datetime.timedelta(seconds=int(data["idleGraceSeconds"])),
            session_fee=Decimal(data["sessionFee"]),
            vat_percent=Decimal(data["vatPercent"]),
            cost_update_interval=data.get("costUpdateInterval"),
            personal_messages=tuple(data.get("personalMessages") or ()),
        )


def pick(tariffs: Iterable[Tariff], station_id: str, groups: Iterable[str]) -> Tariff | None:
    """The tariff of a transaction: its idToken group's, else its station's, else the default;
    among several of one kind, the one of the lowest id (a deterministic choice). Groups are
    compared in any case: a groupIdToken is an IdTokenType, case-insensitive."""
    ordered = sorted(tariffs, key=lambda t: t.id)
    wanted = {group.lower() for group in groups}
    for matches in (
        lambda t: any(group.lower() in wanted for group in t.group_id_tokens),
        lambda t: station_id in t.station_ids,
        lambda t: t.is_default,
    ):
        for tariff in ordered:
            if matches(tariff):
                return tariff
    return None


def phases(
    states: Sequence[tuple[datetime.datetime, str | None]],
    start: datetime.datetime,
    end: datetime.datetime,
) -> tuple[datetime.timedelta, datetime.timedelta]:
    """(charging time, idle time) of a transaction from its events' (timestamp, chargingState)
    and its start and end (see the module's docstring)."""
    ordered = sorted((t, s) for t, s in states if s is not None)
    last_charging = max((t for t, s in ordered if s == "Charging"), default=None)
    idle_from = None
    if last_charging is not None:
        idle_from = next((t for t, s in ordered if t > last_charging and s != "Charging"), None)
    if idle_from is None or idle_from >= end:
        return max(end - start, datetime.timedelta(0)), datetime.timedelta(0)
    idle_from = max(idle_from, start)
    return idle_from - start, end - idle_from


@dataclasses.dataclass(frozen=True)
class Line:
    """One priced component: ``quantity`` (kWh, hours, or 1) × ``unit_price`` = ``amount``."""

    kind: str  # "energy", "time", "idle", "sessionFee"
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class Cost:
    lines: tuple[Line, ...]
    net: Decimal
    vat: Decimal
    total: Decimal  # Rounded to the currency's minor unit.
    currency: str

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "lines": [
                {
                    "kind": line.kind,
                    "quantity": str(line.quantity),
                    "unitPrice": str(line.unit_price),
                    "amount": str(line.amount),
                }
                for line in self.lines
            ],
            "net": str(self.net),
            "vat": str(self.vat),
            "total": str(self.total),
        }


def cost(
    tariff: Tariff,
    energy_wh: Decimal,
    charging: datetime.timedelta,
    idle: datetime.timedelta,
) -> Cost:
    """What a transaction costs under ``tariff`` (see the module's docstring)."""
    energy_kwh = max(energy_wh, _ZERO) / _KWH
    charging_h = Decimal(int(charging.total_seconds())) / _HOUR
    billed_idle = max(idle - tariff.idle_grace, datetime.timedelta(0))
    idle_h = Decimal(int(billed_idle.total_seconds())) / _HOUR
    lines = [
        Line(kind, quantity, price, quantity * price)
        for kind, quantity, price in (
            ("energy", energy_kwh, tariff.price_per_kwh),
            ("time", charging_h, tariff.price_per_hour),
            ("idle", idle_h, tariff.idle_price_per_hour),
            ("sessionFee", Decimal(1), tariff.session_fee),
        )
        if price
    ]
    net = sum((line.amount for line in lines), _ZERO)
    vat = net * tariff.vat_percent / Decimal(100)
    quantum = Decimal(1).scaleb(-minor_units(tariff.currency))
    total = (net + vat).quantize(quantum, rounding=ROUND_HALF_UP)
    return Cost(tuple(lines), net, vat, total, tariff.currency)


def message_for(messages: Sequence[Mapping[str, Any]], language: str) -> Mapping[str, Any] | None:
    """The tariff's message in ``language`` (its first, when none is), None without any."""
    for m in messages:
        if language and m.get("language") == language:
            return m
    return messages[0] if messages else None
