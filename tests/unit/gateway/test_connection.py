"""Tests for gateway.connection: both OCPP-J directions over a real loopback WebSocket."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

from gateway import ocppj
from gateway.connection import InvalidAnswer, LargeFrames, StationConnection, StationUnavailable

QUIET = 0.2  # seconds of silence that show a frame was not sent


class FakeRouter:
    """Answers station CALLs like the gateway's table would; ``gate`` can hold them back."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.seen: list[str] = []
        self.active = 0
        self.max_active = 0

    async def dispatch(self, call: ocppj.Call) -> str:
        self.seen.append(call.message_id)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await self.gate.wait()
            if call.message_id == "crash":
                raise RuntimeError("a bug in the table")
            return ocppj.call_result(call.message_id, {"currentTime": "2024-05-01T12:00:00Z"})
        finally:
            self.active -= 1


class Link:
    """One loopback connection: the gateway's StationConnection and the station's socket."""

    def __init__(self, station: StationConnection, client: ClientConnection) -> None:
        self.conn = station
        self.client = client

    async def recv(self) -> list[Any]:
        return orjson.loads(await asyncio.wait_for(self.client.recv(), 2.0))

    async def silent(self) -> bool:
        try:
            await asyncio.wait_for(self.client.recv(), QUIET)
        except TimeoutError:
            return True
        return False

    async def send(self, *frame: Any) -> None:
        await self.client.send(orjson.dumps(list(frame)).decode())


@pytest.fixture
def router() -> FakeRouter:
    return FakeRouter()


@contextlib.asynccontextmanager
async def linked(router: FakeRouter, **options: Any) -> AsyncIterator[Link]:
    """A StationConnection (made with ``options``) and its station, over loopback."""
    made: asyncio.Future[StationConnection] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        station = StationConnection(ws, "CS1", 7, router.dispatch, **options)
        made.set_result(station)
        await station.serve()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as client:
            yield Link(await made, client)


@pytest.fixture
async def link(router: FakeRouter) -> AsyncIterator[Link]:
    async with linked(router) as made:
        yield made


async def until(condition: Callable[[], object]) -> None:
    """Wait up to 5 s for ``condition`` (polling: the fake has no event to wait on)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError


def heartbeat(message_id: str) -> list[Any]:
    return [2, message_id, "Heartbeat", {}]


async def test_station_call_is_dispatched_and_answered(link: Link) -> None:
    """A station CALL goes to the router and its answer comes back with the same id."""
    await link.send(*heartbeat("h1"))
    assert await link.recv() == [3, "h1", {"currentTime": "2024-05-01T12:00:00Z"}]


async def test_csms_call_returns_the_station_answer(link: Link) -> None:
    """call() sends a CALL with a fresh short id and returns the matching CALLRESULT."""
    task = asyncio.create_task(link.conn.call("Reset", {"type": "Immediate"}))
    frame = await link.recv()
    assert frame[0] == 2 and frame[2:] == ["Reset", {"type": "Immediate"}]
    assert isinstance(frame[1], str) and 0 < len(frame[1]) <= 36
    await link.send(3, frame[1], {"status": "Accepted"})
    assert await task == ocppj.CallResult(frame[1], {"status": "Accepted"})
    second = asyncio.create_task(link.conn.call("Reset", {"type": "Immediate"}))
    assert (await link.recv())[1] != frame[1]
    second.cancel()


async def test_csms_call_returns_the_station_callerror(link: Link) -> None:
    """A CALLERROR answer is returned as data, with its code, description and details."""
    task = asyncio.create_task(link.conn.call("Reset", {"type": "Immediate"}))
    frame = await link.recv()
    await link.send(4, frame[1], "NotSupported", "no resets here", {"why": 1})
    assert await task == ocppj.CallError(frame[1], "NotSupported", "no resets here", {"why": 1})


async def test_csms_calls_go_out_one_at_a_time(link: Link) -> None:
    """Concurrent calls to one station are sent strictly one after the other's answer."""
    tasks = [
        asyncio.create_task(
            link.conn.call("TriggerMessage", {"requestedMessage": "Heartbeat", "n": i})
        )
        for i in range(3)
    ]
    seen = []
    for _ in tasks:
        frame = await link.recv()
        seen.append(frame[3]["n"])
        assert await link.silent(), "a second CALL was sent while one was outstanding"
        await link.send(3, frame[1], {"status": "Accepted"})
    assert sorted(seen) == [0, 1, 2]
    assert all(isinstance(r, ocppj.CallResult) for r in await asyncio.gather(*tasks))


async def test_station_calls_are_answered_one_at_a_time_in_order(
    link: Link, router: FakeRouter
) -> None:
    """Station CALLs sent back to back are dispatched sequentially and answered in order."""
    router.gate.clear()
    for i in range(3):
        await link.send(*heartbeat(f"h{i}"))
    await until(lambda: router.seen)
    await asyncio.sleep(QUIET)
    assert router.seen == ["h0"]
    router.gate.set()
    assert [(await link.recv())[1] for _ in range(3)] == ["h0", "h1", "h2"]
    assert router.max_active == 1


async def test_station_call_answered_while_a_csms_call_is_outstanding(link: Link) -> None:
    """The station's own CALL is answered although it owes us an answer."""
    task = asyncio.create_task(link.conn.call("Reset", {"type": "Immediate"}))
    ours = await link.recv()
    await link.send(*heartbeat("h1"))
    assert (await link.recv())[:2] == [3, "h1"]
    assert not task.done()
    await link.send(3, ours[1], {"status": "Accepted"})
    assert isinstance(await task, ocppj.CallResult)


async def test_csms_call_answered_while_a_station_call_is_in_flight(
    link: Link, router: FakeRouter
) -> None:
    """A CALLRESULT is taken at once while the station's CALL still waits for its service."""
    router.gate.clear()
    await link.send(*heartbeat("h1"))
    await until(lambda: router.seen)
    task = asyncio.create_task(link.conn.call("Reset", {"type": "Immediate"}))
    ours = await link.recv()
    assert ours[2] == "Reset"
    await link.send(3, ours[1], {"status": "Accepted"})
    assert isinstance(await asyncio.wait_for(task, 2), ocppj.CallResult)
    router.gate.set()
    assert (await link.recv())[:2] == [3, "h1"]


async def test_mismatched_answer_is_logged_and_dropped(
    link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    """A CALLRESULT with another id leaves the outstanding call waiting for its own."""
    task = asyncio.create_task(link.conn.call("Reset", {"type": "Immediate"}))
    ours = await link.recv()
    with caplog.at_level(logging.WARNING, logger="gateway.connection"):
        await link.send(3, "not-" + ours[1][:30], {"status": "Rejected"})
        await asyncio.sleep(QUIET)
    assert not task.done()
    assert "matches no outstanding call" in caplog.text
    await link.send(3, ours[1], {"status": "Accepted"})
    assert (await task).payload == {"status": "Accepted"}


async def test_timeout_frees_the_turn_and_the_late_answer_is_dropped(link: Link) -> None:
    """A call bounded by asyncio.timeout raises TimeoutError; the next call then goes out."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(QUIET):
            await link.conn.call("Reset", {"type": "Immediate"})
    late = await link.recv()
    task = asyncio.create_task(link.conn.call("Reset", {"type": "OnIdle"}))
    ours = await link.recv()
    assert ours[3] == {"type": "OnIdle"}
    await link.send(3, late[1], {"status": "Rejected"})  # too late: nothing waits for it
    await link.send(3, ours[1], {"status": "Accepted"})
    assert (await task).payload == {"status": "Accepted"}


async def test_close_fails_the_outstanding_and_queued_calls(link: Link) -> None:
    """When the station goes away, the outstanding call and those behind it are unavailable."""
    tasks = [asyncio.create_task(link.conn.call("Reset", {"type": "Immediate"})) for _ in range(2)]
    await link.recv()
    await link.client.close()
    for task in tasks:
        with pytest.raises(StationUnavailable):
            await asyncio.wait_for(task, 2)
    assert link.conn.closed
    with pytest.raises(StationUnavailable):
        await link.conn.call("Reset", {"type": "Immediate"})


async def test_broken_answer_fails_the_outstanding_call(link: Link) -> None:
    """A CALLRESULT for our id whose payload is no object fails the call instead of hanging."""
    task = asyncio.create_task(link.conn.call("Reset", {"type": "Immediate"}))
    ours = await link.recv()
    await link.send(3, ours[1], "Accepted")
    with pytest.raises(InvalidAnswer):
        await asyncio.wait_for(task, 2)


async def test_bad_frames_and_failures_are_answered_and_the_connection_stays(
    link: Link,
) -> None:
    """A bad frame gets its CALLERROR, a dispatch bug an InternalError, and the link lives."""
    await link.client.send("not json")
    assert (await link.recv())[:3] == [4, "-1", "RpcFrameworkError"]
    await link.send(2, "c1", "NoSuchAction", {})
    assert (await link.recv())[:3] == [4, "c1", "NotImplemented"]
    await link.send(*heartbeat("crash"))
    assert (await link.recv())[:3] == [4, "crash", "InternalError"]
    await link.send(*heartbeat("h1"))
    assert (await link.recv())[:2] == [3, "h1"]


async def test_an_idle_connection_holds_no_worker_task(link: Link, router: FakeRouter) -> None:
    """The worker that answers station CALLs runs only while CALLs wait: an idle station (most
    of a fleet) costs no task; the next CALL starts one, in order behind those queued."""
    assert link.conn._worker is None
    router.gate.clear()
    for n in range(3):
        await link.send(2, f"m{n}", "Heartbeat", {})
    await asyncio.sleep(QUIET)
    assert link.conn._worker is not None and len(link.conn._inbox) == 2
    router.gate.set()
    assert [(await link.recv())[1] for _ in range(3)] == ["m0", "m1", "m2"]
    await asyncio.sleep(0)
    assert link.conn._worker is None and not link.conn._inbox
    await link.send(2, "m3", "Heartbeat", {})
    assert (await link.recv())[1] == "m3"


# -- answers made at once (a Heartbeat's) -------------------------------------------------------


def answer_now(station_id: str, call: ocppj.Call) -> str | None:
    """Like the gateway's: Heartbeats answered at once, every other CALL through the worker."""
    assert station_id == "CS1"
    if call.action != "Heartbeat":
        return None
    if call.message_id == "boom":
        raise RuntimeError("a bug in the answer")
    return ocppj.call_result(call.message_id, {"currentTime": "2024-05-01T12:00:00.000Z"})


@pytest.fixture
async def now_link(router: FakeRouter) -> AsyncIterator[Link]:
    async with linked(router, answer_now=answer_now) as made:
        yield made


async def test_a_heartbeat_is_answered_at_once_without_a_worker(
    now_link: Link, router: FakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle station's Heartbeat is answered by the reader itself: no dispatch, no task."""
    tasks: list[object] = []
    real = asyncio.create_task

    def counted(*args: Any, **kwargs: Any) -> Any:
        tasks.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(asyncio, "create_task", counted)
    await now_link.send(*heartbeat("h1"))
    answer = await now_link.recv()
    assert answer == [3, "h1", {"currentTime": "2024-05-01T12:00:00.000Z"}]
    assert router.seen == [] and tasks == [] and now_link.conn._worker is None


async def test_a_heartbeat_never_overtakes_a_call_still_being_answered(
    now_link: Link, router: FakeRouter
) -> None:
    """While a CALL of the station is being answered, its Heartbeat waits its turn behind it
    (OCPP-J answers in order) and is answered by the worker."""
    router.gate.clear()
    await now_link.send(2, "s1", "StatusNotification", {})
    await until(lambda: router.seen)
    await now_link.send(*heartbeat("h1"))
    assert await now_link.silent()  # nothing overtook s1
    router.gate.set()
    assert [(await now_link.recv())[1] for _ in range(2)] == ["s1", "h1"]
    assert router.seen == ["s1", "h1"]


async def test_a_failing_answer_made_at_once_is_an_internal_error(
    now_link: Link, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in an answer made at once answers InternalError; the connection stays usable."""
    with caplog.at_level(logging.ERROR):
        await now_link.send(*heartbeat("boom"))
        assert (await now_link.recv())[:3] == [4, "boom", "InternalError"]
    assert "Heartbeat failed" in caplog.text
    await now_link.send(*heartbeat("h2"))
    assert (await now_link.recv())[1] == "h2"


# -- large frames ------------------------------------------------------------------------------

# Frames above this many characters are large in these tests (the gateway's is 64 KiB).
LARGE = 200


class TurnRouter:
    """Records each CALL as it is dispatched, with whether it came large; a CALL whose id is
    in ``held`` waits until its ``release`` event is set."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []
        self.entered: collections.defaultdict[str, asyncio.Event] = collections.defaultdict(
            asyncio.Event
        )
        self.release: collections.defaultdict[str, asyncio.Event] = collections.defaultdict(
            asyncio.Event
        )
        self.held: set[str] = set()

    async def dispatch(self, call: ocppj.Call, *, large: bool = False) -> str:
        self.seen.append((call.message_id, large))
        self.entered[call.message_id].set()
        if call.message_id in self.held:
            await self.release[call.message_id].wait()
        return ocppj.call_result(call.message_id, {"currentTime": "2024-05-01T12:00:00Z"})

    async def until_entered(self, message_id: str) -> None:
        await asyncio.wait_for(self.entered[message_id].wait(), 2.0)


def large(message_id: str) -> list[Any]:
    return [2, message_id, "Heartbeat", {"padding": "x" * LARGE}]


@pytest.fixture
def turns() -> TurnRouter:
    return TurnRouter()


@pytest.fixture
async def fleet(turns: TurnRouter) -> AsyncIterator[Callable[[str], Awaitable[Link]]]:
    """Connects stations (by id) to one server whose connections share one LargeFrames."""
    shared = LargeFrames(threshold=LARGE)
    made: dict[str, asyncio.Future[StationConnection]] = {}

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        station_id = ws.request.path.strip("/")
        station = StationConnection(ws, station_id, 1, turns.dispatch, large_frames=shared)
        made[station_id].set_result(station)
        await station.serve()

    async with serve(handler, "127.0.0.1", 0) as server, contextlib.AsyncExitStack() as stack:
        port = next(iter(server.sockets)).getsockname()[1]

        async def station(station_id: str) -> Link:
            made[station_id] = asyncio.get_running_loop().create_future()
            client = await stack.enter_async_context(
                connect(f"ws://127.0.0.1:{port}/{station_id}", max_size=None)
            )
            return Link(await made[station_id], client)

        yield station
        for held in turns.held:  # a failed test must not leave the server's handlers waiting
            turns.release[held].set()


async def test_large_frames_take_turns_and_small_ones_pass(
    fleet: Callable[[str], Awaitable[Link]], turns: TurnRouter
) -> None:
    """While one station's large CALL has the turn, another's waits undispatched and a third
    station's small CALL is answered at once; the waiting one goes next, marked large."""
    a, b, c = await fleet("A"), await fleet("B"), await fleet("C")
    turns.held.add("L1")
    await a.send(*large("L1"))
    await turns.until_entered("L1")
    await b.send(*large("L2"))
    await until(lambda: b.conn._large is not None)
    await c.send(*heartbeat("s1"))
    assert (await c.recv())[:2] == [3, "s1"]
    assert turns.seen == [("L1", True), ("s1", False)]
    turns.release["L1"].set()
    assert (await a.recv())[:2] == [3, "L1"]
    assert (await b.recv())[:2] == [3, "L2"]
    assert turns.seen[2:] == [("L2", True)]


async def test_a_station_s_next_large_frame_waits_unread(
    fleet: Callable[[str], Awaitable[Link]], turns: TurnRouter
) -> None:
    """A station that sends large CALLs back to back (OCPP-J allows one outstanding) gets the
    next read only once the previous is answered: nothing of it is parsed or queued meanwhile,
    however much it sends; then all are answered, in order."""
    a, other = await fleet("A"), await fleet("OTHER")
    turns.held.add("L1")
    await a.send(*large("L1"))
    await turns.until_entered("L1")
    for frame in (large("L2"), large("L3"), heartbeat("h4")):
        await a.send(*frame)
    await other.send(*heartbeat("o1"))  # the server has run well past A's frames' arrival
    assert (await other.recv())[:2] == [3, "o1"]
    assert not a.conn._inbox and a.conn._worker is not None
    assert [mid for mid, _ in turns.seen] == ["L1", "o1"]
    turns.release["L1"].set()
    assert [(await a.recv())[1] for _ in range(4)] == ["L1", "L2", "L3", "h4"]


async def test_a_station_closing_while_its_next_large_frame_waits(
    fleet: Callable[[str], Awaitable[Link]], turns: TurnRouter
) -> None:
    """The reader waiting for a station's large CALL to be answered notices the connection
    closing: the connection ends at once, its CALL in flight abandoned."""
    a = await fleet("A")
    turns.held.add("L1")
    await a.send(*large("L1"))
    await turns.until_entered("L1")
    await a.send(*large("L2"))
    await a.client.close()
    await until(lambda: a.conn.closed)
    assert [mid for mid, _ in turns.seen] == ["L1"]
