"""The load manager at work: one worker per site, woken by what changes the site's needs.

**When it works.** A site is recomputed when a transaction event or EV charging needs arrive
from one of its stations (:meth:`LoadManager.touched`), when the operator creates or changes it,
at start (restart included), and every ``retry_after`` seconds for what did not answer. One
worker per site runs at a time; a wake-up while it works makes it run once more.

**What a run does** (:meth:`LoadManager._run`): read the site, its active transactions, the EVs'
needs and what each station is known to hold (``site_limits``); decide
(:func:`~transaction_svc.load_manager.domain.decide`); send the first step (every lowering)
and, only when all of it was Accepted, the next (the raises). Before a raise is sent it is
written as ``pending`` and counted from then on, so that a crash between sending and the answer
cannot make the manager forget a limit the station may hold. A change Rejected or not answered
leaves its session fixed at what it is known to hold for ``retry_after`` seconds (its station's
every session when it is not connected), and the run decides again without it: the raises that
depended on it are never sent.

**One place.** The manager lives in transaction_svc, which is one process in the mesh (its
transactions' group commit already assumes it): however many gateways hold the stations, one
worker per site decides. It reaches the stations through device_svc (which owns the routes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import utcnow
from common.errors import AlreadyExists, InvalidArgument, NotFound
from common.pagination import decode_token, encode_token
from transaction_svc.load_manager.domain import (
    ACCEPTED,
    NO_ANSWER,
    OFFLINE,
    Decision,
    Held,
    SiteSpec,
    Tx,
    decide,
    ev_max_of,
    external_caps,
    profile_for,
    spec_from,
)
from transaction_svc.load_manager.models import SiteRow
from transaction_svc.load_manager.repository import SitesRepository
from transaction_svc.smart_charging.allocation import Change, SessionKey

__all__ = ["LoadManager", "SiteView"]

log = logging.getLogger(__name__)

_MAX_ROUNDS = 20  # Decisions per run: each Rejected or unanswered change fixes one more session.


class Sender(Protocol):
    async def set(self, station_id: str, evse_id: int, profile: dict[str, Any]) -> str: ...

    async def clear(self, station_id: str, profile_id: int) -> str: ...


class Groups(Protocol):
    async def group_of(self, id_token: str) -> str: ...


@dataclasses.dataclass(frozen=True)
class SiteView:
    """A site with the manager's view of it (the ``Site`` resource)."""

    spec: SiteSpec
    decision: Decision
    held: Mapping[SessionKey, Held]
    created_at: datetime.datetime
    updated_at: datetime.datetime


def _spec_of(row: SiteRow) -> SiteSpec:
    return spec_from(
        {
            "id": row.id,
            "name": row.name,
            "limit": row.limit,
            "unit": row.unit,
            "min_limit": row.min_limit,
            "evse_max": row.evse_max,
            "strategy": row.strategy,
            "priorities": row.priorities,
        },
        [(str(s), int(e)) for s, e in row.evses],
    )


class LoadManager:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        stations: Sender,
        groups: Groups | None = None,
        *,
        id_base: int = 1_900_000_000,
        stack_level: int = 8,
        retry_after: float = 30.0,
        clock: Callable[[], datetime.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.stations = stations
        self.groups = groups
        self.id_base = id_base
        self.stack_level = stack_level
        self.retry_after = retry_after
        self.clock = clock
        # station id → the sites with one of its EVSEs.
        self._sites_of: dict[str, set[str]] = {}
        self._dirty: set[str] = set()
        self._workers: dict[str, asyncio.Task[None]] = {}
        # What cannot be changed now, until a monotonic deadline, with why.
        self._offline: dict[str, tuple[float, str]] = {}
        self._refused: dict[SessionKey, tuple[float, str]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        # (station, EVSE) whose TxProfile is sent again at the next run (a renegotiation).
        self._resend: set[tuple[str, int]] = set()

    # -- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Learn the sites and recompute each (what a previous process left is read back)."""
        async with self.sessions() as session:
            rows = await SitesRepository(session).sites()
        for row in rows:
            self._learn(_spec_of(row))
            self.kick(row.id)
        self._ticker = asyncio.create_task(self._tick(), name="load-manager-tick")

    async def close(self) -> None:
        self._closed = True
        tasks = [t for t in (self._ticker, *self._workers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def settled(self) -> None:
        """Return once no worker runs (tests)."""
        while self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    def _learn(self, spec: SiteSpec, *, forget: bool = False) -> None:
        for sites in self._sites_of.values():
            sites.discard(spec.id)
        if not forget:
            for station_id in spec.stations:
                self._sites_of.setdefault(station_id, set()).add(spec.id)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.retry_after)
            for site_id in {s for sites in self._sites_of.values() for s in sites}:
                self.kick(site_id)

    # -- wake-ups --------------------------------------------------------------------------------

    def touched(self, station_id: str) -> None:
        """Something of the station's changed (it sent a transaction event or EV needs; it is
        connected): recompute its sites."""
        sites = self._sites_of.get(station_id)
        if not sites:
            return
        self._offline.pop(station_id, None)
        for site_id in sites:
            self.kick(site_id)

    def renegotiate(self, station_id: str, evse_id: int) -> None:
        """Recompute the EVSE's site and send its transaction its TxProfile even if it holds it
        already: the EV told its needs (K15.FR.03/07) or its schedule went above the limit
        (K15.FR.13 starts a new negotiation, K16); nothing when the EVSE is on no site."""
        sites = self._sites_of.get(station_id)
        if not sites:
            return
        self._offline.pop(station_id, None)  # It just spoke to us.
        self._resend.add((station_id, evse_id))
        for site_id in sites:
            self.kick(site_id)

    def kick(self, site_id: str) -> None:
        if self._closed:
            return
        self._dirty.add(site_id)
        if site_id not in self._workers:
            task = asyncio.create_task(self._work(site_id), name=f"load-manager-{site_id}")
            self._workers[site_id] = task

    async def _work(self, site_id: str) -> None:
        try:
            while site_id in self._dirty:
                self._dirty.discard(site_id)
                try:
                    await self._run(site_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("load manager: site %s: run failed; retried later", site_id)
        finally:
            self._workers.pop(site_id, None)

    # -- a run -----------------------------------------------------------------------------------

    def _stuck(
        self, spec: SiteSpec, held: Mapping[SessionKey, Held], txs: list[Tx]
    ) -> dict[SessionKey, str]:
        now = time.monotonic()
        stuck: dict[SessionKey, str] = {}
        for key, (until, why) in list(self._refused.items()):
            if until <= now:
                del self._refused[key]
            else:
                stuck[key] = why
        for station_id, (until, why) in list(self._offline.items()):
            if until <= now:
                del self._offline[station_id]
                continue
            for tx in txs:
                if tx.station_id == station_id:
                    stuck[tx.key] = why
            for s, e in spec.evses:
                if s == station_id:
                    stuck[(s, e, "")] = why
        return stuck

    async def _snapshot(
        self, site_id: str
    ) -> tuple[SiteSpec, list[Tx], dict[SessionKey, Held]] | None:
        async with self.sessions() as session:
            repo = SitesRepository(session)
            row = await repo.site(site_id)
            if row is None:
                return None
            spec = _spec_of(row)
            active = await repo.active(spec.evses)
            needs = await repo.needs({(s, e, t) for s, e, t, _, _ in active})
            held = await repo.held(site_id)
            limits = await repo.limits(spec.stations)
        groups: dict[str, str] = {}
        if spec.strategy == "priority" and self.groups is not None:
            for token in sorted({tok for *_, tok in active if tok}):
                groups[token] = await self.groups.group_of(token)
        txs = [
            Tx(s, e, t, since, ev_max_of(needs.get((s, e, t)), spec.unit), groups.get(tok, ""))
            for s, e, t, since, tok in active
        ]
        return spec, external_caps(spec, txs, limits, self.clock()), held

    async def _run(self, site_id: str) -> None:
        for _ in range(_MAX_ROUNDS):
            snapshot = await self._snapshot(site_id)
            if snapshot is None:
                return
            spec, txs, held = snapshot
            ended = {k for k in held if k[2] and k not in {t.key for t in txs}} | {
                k for k in held if (k[0], k[1]) not in set(spec.evses)
            }
            if ended:
                async with self.sessions.begin() as session:
                    await SitesRepository(session).forget(site_id, ended)
                held = {k: v for k, v in held.items() if k not in ended}
            decision = decide(spec, txs, held, self._stuck(spec, held, txs))
            self._add_resends(decision, txs)
            if not decision.steps:
                return
            for step in decision.steps:
                if not await self._send(spec, step, held):
                    break  # Decide again with what failed fixed; no raise goes out.
            else:
                return
        log.warning("load manager: site %s not settled after %d rounds", site_id, _MAX_ROUNDS)

    def _add_resends(self, decision: Decision, txs: list[Tx]) -> None:
        """The renegotiated EVSEs' TxProfiles, at their target, with the first step (a resend
        never raises: the target is at most what is counted, or it is in the plan already)."""
        changing = {c.key for step in decision.steps for c in step}
        again = [
            Change(t.key, decision.current[t.key], decision.target[t.key])
            for t in txs
            if (t.station_id, t.evse_id) in self._resend and t.key not in changing
        ]
        self._resend.difference_update((t.station_id, t.evse_id) for t in txs)
        if not again:
            return
        if decision.steps and all(c.after <= c.before for c in decision.steps[0]):
            decision.steps[0].extend(again)
        else:
            decision.steps.insert(0, again)

    async def _send(
        self, spec: SiteSpec, step: list[Change], held: Mapping[SessionKey, Held]
    ) -> bool:
        """Send one step's changes at once; True when every one was Accepted."""
        raises = [c for c in step if c.after > c.before]
        if raises:  # Counted from before it leaves: the station may apply it and not answer.
            async with self.sessions.begin() as session:
                repo = SitesRepository(session)
                for c in raises:
                    old = held.get(c.key, Held())
                    await repo.put_held(
                        spec.id, c.key, Held(old.held, c.after, old.answer), self.clock()
                    )
        answers = await asyncio.gather(
            *(
                self.stations.set(
                    c.key[0],
                    c.key[1],
                    profile_for(
                        c.key,
                        c.after,
                        spec.unit,
                        id_base=self.id_base,
                        stack_level=self.stack_level,
                    ),
                )
                for c in step
            )
        )
        deadline = time.monotonic() + self.retry_after
        async with self.sessions.begin() as session:
            repo = SitesRepository(session)
            for c, answer in zip(step, answers, strict=True):
                old = held.get(c.key, Held())
                if answer == ACCEPTED:
                    new = Held(c.after, None, answer)
                elif answer == NO_ANSWER:  # It may have been applied: the higher one counts.
                    new = Held(max(old.known(c.before), c.after), None, answer)
                else:  # Rejected, or not sent (Offline): it holds what it held.
                    new = Held(old.held, None, answer)
                await repo.put_held(spec.id, c.key, new, self.clock())
                if answer == OFFLINE:
                    self._offline[c.key[0]] = (deadline, "the station is not connected")
                elif answer != ACCEPTED:
                    why = "the station did not answer" if answer == NO_ANSWER else "Rejected"
                    self._refused[c.key] = (deadline, f"{why} ({c.after:g} {spec.unit})")
        for c, answer in zip(step, answers, strict=True):
            log.info(
                "load manager: site %s: %s EVSE %d %s: %g -> %g %s: %s",
                spec.id,
                c.key[0],
                c.key[1],
                c.key[2] or "(default)",
                c.before,
                c.after,
                spec.unit,
                answer,
            )
        return all(a == ACCEPTED for a in answers)

    # -- the resource ----------------------------------------------------------------------------

    async def _view(self, row: SiteRow) -> SiteView:
        spec = _spec_of(row)
        snapshot = await self._snapshot(spec.id)
        txs, held = (snapshot[1], snapshot[2]) if snapshot is not None else ([], {})
        decision = decide(spec, txs, held, self._stuck(spec, held, txs))
        return SiteView(spec, decision, held, row.created_at, row.updated_at)

    async def _check_members(self, repo: SitesRepository, spec: SiteSpec) -> None:
        spec.check()
        mine = set(spec.evses)
        for other in await repo.sites():
            if other.id == spec.id:
                continue
            for s, e in other.evses:
                if (s, e) in mine:
                    raise InvalidArgument(f"evses: {s} EVSE {e} is on site {other.id} already")

    async def create(self, spec: SiteSpec) -> SiteView:
        now = self.clock()
        async with self.sessions.begin() as session:
            repo = SitesRepository(session)
            if await repo.site(spec.id) is not None:
                raise AlreadyExists(f"site {spec.id} exists")
            await self._check_members(repo, spec)
            # A run of a deleted site of the same id may have written after the delete.
            await repo.delete_site(spec.id)
            await repo.put_site(self._values(spec, now, now))
        log.info(
            "load manager: site %s created: %g %s, %d EVSEs",
            spec.id,
            spec.limit,
            spec.unit,
            len(spec.evses),
        )
        self._learn(spec)
        self.kick(spec.id)
        return await self.get(spec.id)

    async def update(self, site_id: str, fields: Mapping[str, Any]) -> SiteView:
        async with self.sessions.begin() as session:
            repo = SitesRepository(session)
            row = await repo.site(site_id, for_update=True)
            if row is None:
                raise NotFound(f"site {site_id} not found")
            old = _spec_of(row)
            spec = dataclasses.replace(old, **fields)
            await self._check_members(repo, spec)
            await repo.put_site(self._values(spec, row.created_at, self.clock()))
        log.info("load manager: site %s changed: %s", site_id, ", ".join(sorted(fields)))
        self._learn(spec)
        self.kick(site_id)
        return await self.get(site_id)

    async def delete(self, site_id: str) -> None:
        async with self.sessions.begin() as session:
            repo = SitesRepository(session)
            row = await repo.site(site_id)
            if row is None:
                raise NotFound(f"site {site_id} not found")
            spec = _spec_of(row)
            await repo.delete_site(site_id)
        self._learn(spec, forget=True)
        log.info("load manager: site %s deleted", site_id)
        # The EVSEs' TxDefaultProfiles were the site's: the stations that can be reached lose
        # them (a TxProfile ends with its transaction by itself).
        answers = await asyncio.gather(
            *(self.stations.clear(s, self.id_base + 2 * e + 1) for s, e in spec.evses)
        )
        log.info(
            "load manager: site %s: TxDefaultProfiles cleared on %d of %d EVSEs",
            site_id,
            sum(a == ACCEPTED for a in answers),
            len(answers),
        )

    async def get(self, site_id: str) -> SiteView:
        async with self.sessions() as session:
            row = await SitesRepository(session).site(site_id)
        if row is None:
            raise NotFound(f"site {site_id} not found")
        return await self._view(row)

    async def list(self, page_size: int, page_token: str) -> tuple[list[SiteView], str]:
        size = min(page_size or 50, 1000)
        after = decode_token(page_token)[0] if page_token else ""
        async with self.sessions() as session:
            rows = await SitesRepository(session).sites(after, size + 1)
        views = [await self._view(r) for r in rows[:size]]
        return views, encode_token(rows[size - 1].id) if len(rows) > size else ""

    @staticmethod
    def _values(
        spec: SiteSpec, created: datetime.datetime, updated: datetime.datetime
    ) -> dict[str, Any]:
        return {
            "id": spec.id,
            "name": spec.name,
            "limit": spec.limit,
            "unit": spec.unit,
            "min_limit": spec.min_limit,
            "evse_max": spec.evse_max,
            "strategy": spec.strategy,
            "evses": [[s, e] for s, e in spec.evses],
            "priorities": dict(spec.priorities),
            "created_at": created,
            "updated_at": updated,
        }
