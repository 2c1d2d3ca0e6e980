"""Tests for transaction_svc.smart_charging.allocation: allocate as tables and properties, plan's
ordering, the fallback, and a site of 20 stations simulated with a discrete event loop."""

from __future__ import annotations

import dataclasses
import datetime
import heapq
import random
from collections.abc import Callable

import hypothesis
import pytest
from hypothesis import strategies as st

from transaction_svc.smart_charging.allocation import (
    EQUAL_SHARE,
    PRIORITY,
    Change,
    Session,
    SessionKey,
    Site,
    allocate,
    fallback_default,
    plan,
    reallocate,
    total,
)

T0 = datetime.datetime(2024, 1, 2, 10, 0, tzinfo=datetime.UTC)


def session(n: int, *, ev_max: float | None = None, priority: int = 0) -> Session:
    """Session ``n`` on station CS<n>, started n minutes after T0 (higher n is newer)."""
    return Session(f"CS{n}", 1, f"tx{n}", T0 + datetime.timedelta(minutes=n), ev_max, priority)


def limits(site: Site, sessions: list[Session]) -> list[float]:
    """allocate's limits in the order of ``sessions``."""
    result = allocate(site, sessions)
    return [result[s.key] for s in sessions]


@pytest.mark.parametrize(
    ("site", "sessions", "expected"),
    [
        pytest.param(Site(100), [], [], id="no sessions"),
        pytest.param(Site(100), [session(1)], [100.0], id="one EV takes the site"),
        pytest.param(Site(100, evse_max=32), [session(1)], [32.0], id="under: EVSE max"),
        pytest.param(Site(100), [session(i) for i in range(4)], [25.0] * 4, id="equal share"),
        pytest.param(
            Site(100), [session(i) for i in range(3)], [33.4, 33.3, 33.3], id="oldest gets step"
        ),
        pytest.param(
            Site(48, evse_max=16), [session(i) for i in range(3)], [16.0] * 3, id="at capacity"
        ),
        pytest.param(Site(60), [session(i) for i in range(10)], [6.0] * 10, id="all at minimum"),
        pytest.param(
            Site(60),
            [session(i) for i in range(12)],
            [6.0] * 10 + [0.0] * 2,
            id="over: the newest wait",
        ),
        pytest.param(
            Site(20), [session(i) for i in range(4)], [6.7, 6.7, 6.6, 0.0], id="over: leftover"
        ),
        pytest.param(Site(5), [session(1)], [0.0], id="limit under the minimum"),
        pytest.param(
            Site(100, evse_max=32),
            [session(1, ev_max=10), session(2), session(3)],
            [10.0, 32.0, 32.0],
            id="EV max below share: others capped by EVSE",
        ),
        pytest.param(
            Site(60),
            [session(1, ev_max=10), session(2), session(3)],
            [10.0, 25.0, 25.0],
            id="EV max: redistributed",
        ),
        pytest.param(
            Site(10),
            [session(1), session(2, ev_max=3)],
            [7.0, 3.0],
            id="EV max under minimum: admitted at its max",
        ),
        pytest.param(Site(12), [session(1), session(2, ev_max=0)], [12.0, 0.0], id="EV max 0"),
        pytest.param(
            Site(7, min_limit=2), [session(i) for i in range(3)], [2.4, 2.3, 2.3], id="min 2"
        ),
        pytest.param(
            Site(100, strategy=PRIORITY),
            [session(1), session(2, priority=1), session(3, priority=1)],
            [6.0, 47.0, 47.0],
            id="priority: high group first, low keeps minimum",
        ),
        pytest.param(
            Site(100, strategy=PRIORITY, evse_max=40),
            [session(1), session(2, priority=1), session(3, priority=1)],
            [20.0, 40.0, 40.0],
            id="priority: leftover to the next group",
        ),
        pytest.param(
            Site(12, strategy=PRIORITY),
            [session(1), session(2), session(3, priority=1)],
            [6.0, 0.0, 6.0],
            id="priority: the lowest newest waits",
        ),
        pytest.param(
            Site(22000, unit="W"),
            [session(i) for i in range(6)],
            [4400.0] * 5 + [0.0],
            id="W: default minimum 4140 W, the 6th waits",
        ),
    ],
)
def test_allocate(site: Site, sessions: list[Session], expected: list[float]) -> None:
    """allocate gives each session its expected limit."""
    assert limits(site, sessions) == pytest.approx(expected)


def test_allocate_fixed_and_reserved() -> None:
    """Fixed sessions keep their limit and, with the reserve, come off the budget first."""
    site = Site(100)
    sessions = [session(i) for i in range(4)]
    result = allocate(site, sessions, fixed={sessions[0].key: 40.0}, reserved=12)
    assert [result[s.key] for s in sessions] == [40.0, 16.0, 16.0, 16.0]


def test_allocate_fixed_over_budget() -> None:
    """Fixed sessions over the limit (it was lowered) leave the others waiting, not negative."""
    sessions = [session(i) for i in range(3)]
    result = allocate(Site(30), sessions, fixed={sessions[0].key: 32.0})
    assert [result[s.key] for s in sessions] == [32.0, 0.0, 0.0]


def test_reallocate() -> None:
    """reallocate fixes the stuck sessions at their known limit (0 when unknown)."""
    sessions = [session(i) for i in range(3)]
    known = {sessions[0].key: 50.0}
    result = reallocate(Site(100), sessions, known, [sessions[0].key, sessions[2].key])
    assert [result[s.key] for s in sessions] == [50.0, 50.0, 0.0]


@pytest.mark.parametrize(
    "kwargs",
    [{"unit": "V"}, {"strategy": "fifo"}, {"limit": -1}, {"min_limit": 0}, {"evse_max": -1}],
)
def test_site_invalid(kwargs: dict[str, object]) -> None:
    """Site refuses an invalid unit, strategy, limit, minimum or EVSE maximum."""
    arguments: dict[str, object] = {"limit": 100} | kwargs
    with pytest.raises(ValueError):
        Site(**arguments)  # type: ignore[arg-type]


sites = st.builds(
    Site,
    limit=st.integers(0, 5000).map(lambda n: n / 10),
    min_limit=st.sampled_from([None, 6.0, 1.5]),
    evse_max=st.one_of(st.none(), st.integers(0, 800).map(lambda n: n / 10)),
    strategy=st.sampled_from([EQUAL_SHARE, PRIORITY]),
)
session_lists = st.lists(
    st.tuples(
        st.integers(0, 10_000),
        st.one_of(st.none(), st.integers(0, 800).map(lambda n: n / 10)),
        st.integers(0, 3),
    ),
    max_size=40,
    unique_by=lambda t: t[0],
).map(lambda rows: [session(n, ev_max=m, priority=p) for n, m, p in rows])


def cap(site: Site, s: Session) -> float:
    """The session's own maximum (the site's limit when none)."""
    maxima = [m for m in (site.evse_max, s.ev_max) if m is not None]
    return min(maxima) if maxima else site.limit


def floor_of(site: Site, s: Session) -> float:
    """The session's floor: the minimum, or its own maximum when lower."""
    maxima = [m for m in (site.evse_max, s.ev_max) if m is not None]
    return min([site.minimum, *maxima])


@hypothesis.given(sites, session_lists)
@hypothesis.settings(max_examples=300, deadline=None)
def test_allocate_properties(site: Site, sessions: list[Session]) -> None:
    """Sum ≤ limit, each ≤ its max and ≥ its floor or 0, nobody waits when all floors fit, and
    the limits sum to min(limit, Σ maxima of the admitted)."""
    result = allocate(site, sessions)
    assert set(result) == {s.key for s in sessions}
    assert total(result) <= site.limit + 1e-9
    admitted_caps = 0.0
    for s in sessions:
        value, floor = result[s.key], floor_of(site, s)
        assert value <= cap(site, s) + 1e-9
        assert value == 0 or value >= floor - 1e-9
        if value > 0:
            admitted_caps += round(cap(site, s), 1)
    floors = sum(floor_of(site, s) for s in sessions)
    if floors <= site.limit:
        assert all(result[s.key] > 0 for s in sessions if cap(site, s) >= 0.1)
    assert total(result) == pytest.approx(min(round(site.limit, 1), admitted_caps))


@hypothesis.given(sites, session_lists)
@hypothesis.settings(max_examples=100, deadline=None)
def test_allocate_newest_waits(site: Site, sessions: list[Session]) -> None:
    """Under equalShare with no EV maxima under the minimum, a waiting session is newer than
    every charging one."""
    site = dataclasses.replace(site, strategy=EQUAL_SHARE, evse_max=None)
    sessions = [dataclasses.replace(s, ev_max=None) for s in sessions]
    result = allocate(site, sessions)
    waiting = [s.started for s in sessions if result[s.key] == 0]
    charging = [s.started for s in sessions if result[s.key] > 0]
    if waiting and charging:
        assert min(waiting) > max(charging)


def key(n: int) -> SessionKey:
    """The key of :func:`session` ``n``."""
    return session(n).key


def test_plan_lowers_then_raises() -> None:
    """plan puts every lowering in a step before the raises; unchanged sessions are left out."""
    current = {key(1): 50.0, key(2): 50.0, key(3): 10.0}
    target = {key(1): 30.0, key(2): 50.0, key(3): 20.0, key(4): 0.0, key(5): 10.0}
    assert plan(current, target) == [
        [Change(key(1), 50.0, 30.0)],
        [Change(key(3), 10.0, 20.0), Change(key(5), 0.0, 10.0)],
    ]


def test_plan_only_raises_or_nothing() -> None:
    """A plan without lowerings is one step of raises; one with no change is empty."""
    assert plan({}, {key(1): 6.0}) == [[Change(key(1), 0.0, 6.0)]]
    assert plan({key(1): 6.0}, {key(1): 6.0}) == []


@hypothesis.given(
    st.dictionaries(st.integers(0, 20), st.integers(0, 1000), max_size=20),
    st.dictionaries(st.integers(0, 20), st.integers(0, 1000), max_size=20),
    st.randoms(use_true_random=False),
)
def test_plan_never_over_any_instant(
    before: dict[int, int], after: dict[int, int], rng: random.Random
) -> None:
    """Applying a plan's changes one by one in any order within a step never sums above the
    higher of the current and target sums."""
    current = {key(n): v / 10 for n, v in before.items()}
    target = {key(n): v / 10 for n, v in after.items()}
    ended = total({k: v for k, v in current.items() if k not in target})  # plan leaves them.
    bound = max(total(current), total(target) + ended) + 1e-9
    held = dict(current)
    for step in plan(current, target):
        for change in rng.sample(step, len(step)):
            assert held.get(change.key, 0.0) == change.before
            held[change.key] = change.after
            assert total(held) <= bound
    assert {k: held.get(k, 0.0) for k in target} == target


@pytest.mark.parametrize(
    ("site", "evses", "expected"),
    [
        (Site(100), 4, 25.0),
        (Site(100), 3, 33.3),
        (Site(100), 20, 0.0),  # 5 A is under the 6 A minimum: new EVs wait for their TxProfile.
        (Site(100, evse_max=16), 4, 16.0),
        (Site(100, min_limit=5), 20, 5.0),
    ],
)
def test_fallback_default(site: Site, evses: int, expected: float) -> None:
    """fallback_default is the limit's share per EVSE, floored, 0 under the minimum."""
    assert fallback_default(site, evses) == expected
    assert fallback_default(site, evses) * evses <= site.limit


def test_fallback_default_no_evse() -> None:
    """fallback_default refuses a site without EVSEs."""
    with pytest.raises(ValueError):
        fallback_default(Site(100), 0)


# --- The simulation -------------------------------------------------------------------------


class Loop:
    """A discrete event loop: callbacks at simulated times, run in time order."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0

    def at(self, when: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` at ``when``."""
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, callback))

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` after ``delay``."""
        self.at(self.now + delay, callback)

    def run(self, until: float, after_each: Callable[[], None]) -> None:
        """Run the callbacks up to ``until``, calling ``after_each`` after each one."""
        while self._queue and self._queue[0][0] <= until:
            self.now, _, callback = heapq.heappop(self._queue)
            callback()
            after_each()


@dataclasses.dataclass
class Station:
    """A station of one EVSE: the limit it applies, its EV's maximum, whether it is online."""

    name: str
    held: float = 0.0
    ev_max: float | None = None
    charging: bool = False
    online: bool = True
    session: Session | None = None


class Manager:
    """A load manager driving :mod:`allocation` as the CSMS would: rounds of lowerings, then
    raises once every lowering was Accepted; a station that Rejects or does not answer keeps its
    known limit (the higher of old and new for an unanswered raise) and is retried later."""

    TIMEOUT = 10.0
    RETRY = 5.0

    def __init__(self, loop: Loop, site: Site, stations: dict[str, Station], rng: random.Random):
        self.loop, self.site, self.stations, self.rng = loop, site, stations, rng
        self.sessions: dict[SessionKey, Session] = {}
        self.known: dict[SessionKey, float] = {}  # An upper bound of what each station holds.
        self.offline: set[str] = set()
        self.in_flight = 0
        self.busy = False
        self.dirty = False
        self.retry_pending = False
        self.default = fallback_default(site, len(stations))

    def idle(self) -> bool:
        """No round running, none due, no retry waiting."""
        return not (self.busy or self.dirty or self.retry_pending)

    def started(self, s: Session) -> None:
        """A TransactionEvent Started: the EV charges at the default until its TxProfile."""
        self.sessions[s.key] = s
        self.known[s.key] = self.default
        self.round()

    def ended(self, key: SessionKey) -> None:
        """A TransactionEvent Ended: the station stopped drawing."""
        self.sessions.pop(key, None)
        self.known.pop(key, None)
        self.round()

    def disconnected(self, station: str) -> None:
        """The station's WebSocket closed: its sessions keep their known limit."""
        self.offline.add(station)
        self.round()

    def round(self) -> None:
        """Recompute and send the lowerings (or the raises when there are none)."""
        if self.busy:
            self.dirty = True
            return
        self.dirty = False
        stuck = [k for k in self.sessions if k[0] in self.offline]
        idle_evses = len(self.stations) - len(self.sessions)
        target = reallocate(
            self.site,
            self.sessions.values(),
            self.known,
            stuck,
            reserved=self.default * idle_evses,
        )
        steps = plan(self.known, target)
        if steps:
            self.send(steps[0], raises=steps[0][0].after > steps[0][0].before)

    def send(self, step: list[Change], *, raises: bool) -> None:
        """Send one step's TxProfiles; when all are answered, go on."""
        self.busy = True
        answers: dict[SessionKey, str] = {}

        def done() -> None:
            self.busy = False
            failed = any(a != "Accepted" for a in answers.values())
            if failed:
                self.retry_pending = True

                def retry() -> None:
                    self.retry_pending = False
                    self.round()

                self.loop.later(self.RETRY, retry)
            if self.dirty or (not raises and not failed):
                self.round()  # A lowering step accepted: now the raises (recomputed).

        for change in step:
            if raises:
                self.known[change.key] = change.after  # It may apply before we hear.
            self.in_flight += 1
            self.request(change, answers, len(step), done)

    def request(
        self,
        change: Change,
        answers: dict[SessionKey, str],
        count: int,
        done: Callable[[], None],
    ) -> None:
        """One SetChargingProfile: answered after a random delay, or timed out."""
        station = self.stations[change.key[0]]
        answered = False

        def answer(status: str) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            self.in_flight -= 1
            if change.key in self.known:
                if status == "Accepted" or (status == "Timeout" and change.after > change.before):
                    self.known[change.key] = change.after
                else:
                    self.known[change.key] = max(change.before, self.known[change.key])
                    if status == "Rejected":
                        self.known[change.key] = change.before
            answers[change.key] = status
            if len(answers) == count:
                done()

        def at_station() -> None:
            if not station.online:
                return  # Never answers: the manager's timeout does.
            same = station.session is not None and station.session.key == change.key
            if self.rng.random() < 0.1 or not same:
                answer("Rejected")
            else:
                station.held = change.after
                answer("Accepted")

        self.loop.later(self.rng.uniform(0.05, 4.0), at_station)
        self.loop.later(self.TIMEOUT, lambda: answer("Timeout"))


def test_simulation_site_of_20_stations() -> None:
    """20 stations, 100 A, 40 random transactions, random delays, Rejections, one disconnect:
    the summed held limit never exceeds 100 A, each EV gets 6 A whenever it fits, and ≥ 90% of
    the limit is used while demand exceeds it."""
    rng = random.Random(15)
    site = Site(100, evse_max=32)
    loop = Loop()
    stations = {f"CS{i}": Station(f"CS{i}") for i in range(20)}
    manager = Manager(loop, site, stations, rng)
    history: list[tuple[float, float, float, int, bool]] = []  # t, held, demand, charging, ok.
    settled_checks = 0
    over_capacity_checks = 0

    def check() -> None:
        """After every event: record what the stations hold; when settled, the minimum."""
        nonlocal settled_checks, over_capacity_checks
        held = total([s.held for s in stations.values()])
        assert held <= site.limit + 1e-9, f"{held} A at t={loop.now}"
        charging = [s for s in stations.values() if s.charging]
        demand = sum(min(32.0, s.ev_max or 32.0) for s in charging)
        history.append((loop.now, held, demand, len(charging), manager.idle()))
        notified = {s.session.key for s in charging if s.session} == set(manager.sessions)
        if manager.idle() and manager.in_flight == 0 and notified:
            settled_checks += 1
            pinned = [s for s in charging if not s.online]
            free = [s for s in charging if s.online]
            room = site.limit - sum(
                max(s.held, manager.known.get(s.session.key, 0.0)) for s in pinned if s.session
            )
            if site.minimum * len(free) <= room:
                for s in free:
                    assert s.held >= min(site.minimum, s.ev_max or 32.0), (loop.now, s)
            else:
                over_capacity_checks += 1

    def start(at: float, duration: float) -> None:
        free = [s for s in stations.values() if not s.charging and s.online]
        if not free:  # The driver queues for a station.
            loop.later(rng.uniform(30, 120), lambda: start(loop.now, duration))
            return
        station = rng.choice(free)
        n = len(started)
        ev_max = rng.choice([None, None, 16.0, 10.0])
        s = Session(station.name, 1, f"tx{n}", T0 + datetime.timedelta(seconds=at), ev_max)
        station.charging, station.session, station.ev_max = True, s, ev_max
        station.held = manager.default
        started.append(s)
        loop.later(rng.uniform(0.05, 2.0), lambda: manager.started(s))
        loop.later(duration, lambda: end(station, s))

    def end(station: Station, s: Session) -> None:
        if not station.online or station.session != s:
            return  # The disconnected station's EV charges on at its known limit.
        station.charging, station.session, station.held = False, None, 0.0
        loop.later(rng.uniform(0.05, 2.0), lambda: manager.ended(s.key))

    def disconnect() -> None:
        victim = next(s for s in stations.values() if s.charging and s.held > 0)
        victim.online = False
        loop.later(rng.uniform(0.05, 2.0), lambda: manager.disconnected(victim.name))

    started: list[Session] = []
    for _ in range(40):
        when, duration = rng.uniform(0, 3000), rng.uniform(900, 3600)
        loop.at(when, lambda w=when, d=duration: start(w, d))
    loop.at(1500, disconnect)
    loop.run(7200, check)

    assert len(started) == 40
    assert settled_checks > 50 and over_capacity_checks > 5
    # Utilisation, weighted by time, over the stretches where demand exceeded the limit.
    used = span = 0.0
    for (t, held, demand, _, _), (t_next, *_) in zip(history, history[1:], strict=False):
        if demand > site.limit:
            used += held * (t_next - t)
            span += t_next - t
    assert span > 600
    assert used / (span * site.limit) >= 0.9
