"""A Firefox driven over WebDriver BiDi, the W3C protocol Firefox speaks itself
(``--remote-debugging-port``): no geckodriver (Debian packages none), no download. Just what the
console's tests need: open a page, run a script in it, wait for what it returns."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import pathlib
import subprocess
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

__all__ = ["FIREFOX", "Firefox", "firefox"]

FIREFOX = pathlib.Path("/usr/bin/firefox-esr")

# Nothing of Firefox's own calls home (updates, telemetry, remote settings, captive portal):
# the machine's network is closed, and the test counts the requests the pages make.
_PREFS = """\
user_pref("app.update.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("services.settings.server", "http://127.0.0.1:9/");
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("remote.prefs.recommended", true);
"""


class Firefox:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.context = ""

    async def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a command; its result (events that arrive meanwhile are skipped)."""
        number = next(self._ids)
        await self.ws.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if message.get("id") != number:
                continue
            if message.get("type") == "error":
                raise RuntimeError(f"{method}: {message.get('error')}: {message.get('message')}")
            return dict(message["result"])

    async def open(self, url: str) -> None:
        await self.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = await self.command(
            "script.evaluate",
            {
                "expression": expression,
                "target": {"context": self.context},
                "awaitPromise": True,
            },
        )
        if result.get("type") == "exception":
            raise RuntimeError(result["exceptionDetails"].get("text", "exception"))
        return _value(result["result"])

    async def until(self, expression: str, expected: Any, within: float = 15) -> Any:
        """Evaluate ``expression`` until it returns ``expected``."""
        last: Any = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            last = await self.evaluate(expression)
            if last == expected:
                return last
            await asyncio.sleep(0.2)
        raise AssertionError(f"{expression!r} is {last!r}, not {expected!r}, after {within} s")


def _value(remote: dict[str, Any]) -> Any:
    kind = remote.get("type")
    if kind in ("string", "number", "boolean"):
        return remote["value"]
    if kind in ("null", "undefined"):
        return None
    if kind == "array":
        return [_value(v) for v in remote.get("value", [])]
    return remote


def _start(profile: pathlib.Path, port: int) -> subprocess.Popen[bytes]:
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "user.js").write_text(_PREFS)
    return subprocess.Popen(
        [
            str(FIREFOX),
            "--headless",
            "--no-remote",
            "--profile",
            str(profile),
            "--remote-debugging-port",
            str(port),
            "--remote-allow-hosts",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.asynccontextmanager
async def firefox(profile: pathlib.Path, port: int) -> AsyncIterator[Firefox]:
    """Headless Firefox with a fresh profile, listening for BiDi on 127.0.0.1:``port``."""
    proc = await asyncio.to_thread(_start, profile, port)
    try:
        ws = None
        for _ in range(100):
            try:
                ws = await connect(f"ws://127.0.0.1:{port}/session", max_size=None)
                break
            except OSError:
                await asyncio.sleep(0.2)
        assert ws is not None, "Firefox did not open its BiDi port"
        browser = Firefox(ws)
        await browser.command("session.new", {"capabilities": {}})
        tree = await browser.command("browsingContext.getTree", {})
        browser.context = tree["contexts"][0]["context"]
        try:
            yield browser
        finally:
            with contextlib.suppress(Exception):
                await browser.command("session.end", {})
            await ws.close()
    finally:
        await asyncio.to_thread(_stop, proc)
