"""The operator console in a real headless Chromium (Debian's, driven by Selenium through
Debian's chromedriver; nothing downloaded), and in Debian's Firefox ESR for its live pages,
served by the real Envoy, against a real mesh and real WebSocket stations.

The browser is driven from a thread (``asyncio.to_thread``) so that the stations, on the event
loop, keep answering while the test waits on the page. Screenshots of the main pages go to
``build/screenshots/`` (the README shows copies of them, docs/console/).
"""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from deploy.mesh import ROOT, Mesh, free_port
from tests.e2e.bidi import FIREFOX, firefox
from tests.e2e.conftest import rest_client, running_mesh
from tests.e2e.station_sim import Station
from tests.e2e.station_sim16 import Station16

pytestmark = pytest.mark.e2e

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMEDRIVER = pathlib.Path("/usr/bin/chromedriver")
SCREENSHOTS = ROOT / "build" / "screenshots"


def _iso(seconds: float = 0) -> str:
    at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@pytest.fixture(scope="module")
def console_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A mesh of its own (SQLite) with the message log on."""
    with running_mesh(
        tmp_path_factory.mktemp("mesh-console"), message_log=True, heartbeat_interval=300
    ) as mesh:
        yield mesh


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium; `make test` installs Debian's chromium and chromium-driver."""
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "Debian's chromium and chromium-driver are needed (make test installs them)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


class Console:
    """The console in ``driver``, each blocking step run in a thread."""

    def __init__(self, driver: WebDriver, base: str) -> None:
        self.driver = driver
        self.base = base

    async def run(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(fn)

    async def open(self, fragment: str = "") -> None:
        def go() -> None:
            self.driver.get(f"{self.base}/console/{fragment}")

        await self.run(go)

    async def sign_in(self, key: str) -> None:
        def step() -> None:
            self.driver.get(f"{self.base}/console/")
            self.driver.execute_script("sessionStorage.clear()")
            self.driver.get(f"{self.base}/console/#/")
            field = self.wait_for(By.ID, "key")
            field.send_keys(key)
            field.send_keys(Keys.ENTER)
            self.wait(lambda d: d.find_element(By.ID, "who").is_displayed())

        await self.run(step)

    def wait(self, condition: Callable[[WebDriver], Any], within: float = 15) -> Any:
        return WebDriverWait(
            self.driver, within, ignored_exceptions=[StaleElementReferenceException]
        ).until(condition)

    def wait_for(self, by: str, value: str, within: float = 15) -> Any:
        return self.wait(ec.visibility_of_element_located((by, value)), within)

    def text_of(self, css: str) -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    async def until_text(self, css: str, expected: str, within: float = 15) -> None:
        def check(d: WebDriver) -> bool:
            found = d.find_elements(By.CSS_SELECTOR, css)
            return bool(found) and found[0].text.strip() == expected

        await self.run(lambda: self.wait(check, within))

    async def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.run(lambda: self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png")))


@pytest.fixture
async def console(console_mesh: Mesh, browser: WebDriver) -> AsyncIterator[Console]:
    yield Console(browser, f"http://127.0.0.1:{console_mesh.settings.envoy_port}")
    await asyncio.to_thread(browser.execute_script, "sessionStorage.clear()")


@pytest.fixture
async def rest(console_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with rest_client(console_mesh, console_mesh.create_api_key("operator", "t")) as client:
        yield client


async def _station(rest: httpx.AsyncClient, prefix: str = "WEB") -> str:
    sid = f"{prefix}-{uuid.uuid4().hex[:8]}"
    resp = await rest.post("/v1/chargingStations", json={"id": sid, "model": "Wallbox X"})
    assert resp.status_code == 200, resp.text
    return sid


def _ws(mesh: Mesh, station_id: str) -> str:
    return f"ws://127.0.0.1:{mesh.settings.gateway_port}/ocpp/{station_id}"


async def test_a_reader_sees_a_station_connect_and_its_status_change_live(
    console: Console, console_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    sid = await _station(rest)
    await console.sign_in(console_mesh.create_api_key("reader", "browser reader"))
    assert await console.run(lambda: console.text_of("#role")) == "reader key (read-only)"
    # The fleet page counts live.
    await console.run(lambda: console.wait(lambda d: d.find_element(By.ID, "live").text == "live"))
    await console.open(f"#/stations?q={sid}")
    row = f'tr[data-station="{sid}"] .badge'
    await console.until_text(row, "offline")
    sim = await Station.connect(_ws(console_mesh, sid), sid)
    try:
        await sim.boot()
        # No reload: the row changes as the fleet stream says.
        await console.until_text(row, "unknown")
        await sim.call(
            "StatusNotification",
            {"timestamp": _iso(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1},
        )
        await console.until_text(row, "available")
        await console.screenshot("stations")
        await console.open(f"#/stations/{sid}")
        await console.until_text("#station-status .badge", "available")
        await sim.call(
            "StatusNotification",
            {"timestamp": _iso(1), "connectorStatus": "Faulted", "evseId": 1, "connectorId": 1},
        )
        await console.until_text("#station-status .badge", "faulted")
        await console.until_text('[data-connector="1/1"]', "Faulted")
        await console.screenshot("station")
        await console.open("#/")
        await console.run(
            lambda: console.wait(lambda d: int(d.find_element(By.ID, "count-connected").text) > 0)
        )
        await console.screenshot("fleet")
        # A reader sends no command: the page says so, and no form is there.
        await console.open(f"#/stations/{sid}?tab=commands")
        await console.run(lambda: console.wait_for(By.CSS_SELECTOR, "#tab-commands .help"))
        assert not await console.run(lambda: console.driver.find_elements(By.ID, "command-form"))
    finally:
        await sim.close()


async def test_an_operator_resets_a_station_and_sees_its_answer(
    console: Console, console_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    sid = await _station(rest)
    sim = await Station.connect(_ws(console_mesh, sid), sid)
    try:
        await sim.boot()
        sim.answer("Reset", {"status": "Scheduled"})
        await console.sign_in(console_mesh.create_api_key("operator", "browser operator"))
        await console.open(f"#/stations/{sid}?tab=commands")

        def send() -> None:
            Select(console.wait_for(By.ID, "command")).select_by_value("reset")
            payload = console.driver.find_element(By.ID, "payload")
            payload.clear()
            payload.send_keys('{"type": "OnIdle"}')
            console.driver.find_element(By.ID, "send").click()

        await console.run(send)
        await console.run(
            lambda: console.wait(
                lambda d: '"status": "Scheduled"' in d.find_element(By.ID, "command-result").text
            )
        )
        reset = await sim.wait_for("Reset")
        assert reset.payload == {"type": "OnIdle"}
        await console.screenshot("commands")
        # The station's CALLERROR comes back as an error, shown as such.
        sim.fail("Reset", "InternalError", "the relay is stuck")
        await console.run(send)
        await console.run(
            lambda: console.wait(lambda d: "Error" in d.find_element(By.ID, "command-result").text)
        )
        shown = await console.run(lambda: console.text_of("#command-result"))
        assert "InternalError" in shown or "relay is stuck" in shown, shown
        # A body that is not JSON is stopped in the browser, nothing sent.
        calls_before = len(sim.calls("Reset"))

        def bad() -> None:
            payload = console.driver.find_element(By.ID, "payload")
            payload.clear()
            payload.send_keys("{type: OnIdle")
            console.driver.find_element(By.ID, "send").click()
            console.wait(lambda d: "not JSON" in d.find_element(By.ID, "command-result").text)

        await console.run(bad)
        assert len(sim.calls("Reset")) == calls_before
        # The message log shows the exchange, the answer under its CALL's action.
        await console.open(f"#/stations/{sid}?tab=messages&action=Reset")

        def logged(d: WebDriver) -> bool:
            rows = d.find_elements(By.CSS_SELECTOR, "#messages tbody tr")
            return len(rows) >= 2

        await console.run(lambda: console.wait(logged, within=20))
        await console.screenshot("messages")
    finally:
        await sim.close()


async def test_a_revoked_key_is_signed_out(
    console: Console, console_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    secret = console_mesh.create_api_key("reader", "to revoke")
    await console.sign_in(secret)
    key_id = secret.split("_")[1]
    resp = await rest.post(f"/v1/apiKeys/{key_id}:revoke", json={})
    assert resp.status_code == 200, resp.text
    # Without touching the page: the console notices within its check interval.
    await console.run(lambda: console.wait_for(By.ID, "signin", within=20))
    notice = await console.run(lambda: console.text_of("#notice"))
    assert "no longer valid" in notice, notice
    assert (
        await console.run(lambda: console.driver.execute_script("return sessionStorage.length"))
        == 0
    )

    # The same key cannot sign in again.
    def again() -> str:
        field = console.wait_for(By.ID, "key")
        field.send_keys(secret)
        field.send_keys(Keys.ENTER)
        return str(console.wait_for(By.CSS_SELECTOR, "#signin-error .error").text)

    assert "not valid" in await console.run(again)


async def test_a_transaction_chart_shows_its_meter_values(
    console: Console, console_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    sid = await _station(rest)
    token = f"WEB{uuid.uuid4().hex[:8]}".upper()
    resp = await rest.post("/v1/idTokens", json={"idToken": token, "type": "ISO14443"})
    assert resp.status_code == 200, resp.text
    tx = f"TX-{uuid.uuid4().hex[:8]}"
    energy = [1000 + 850 * k for k in range(8)]
    sim = await Station.connect(_ws(console_mesh, sid), sid)
    try:
        await sim.boot()
        for k, wh in enumerate(energy):
            event: dict[str, Any] = {
                "eventType": "Started" if k == 0 else "Updated",
                "timestamp": _iso(-3600 + 300 * k),
                "triggerReason": "Authorized" if k == 0 else "MeterValuePeriodic",
                "seqNo": k,
                "transactionInfo": {"transactionId": tx, "chargingState": "Charging"},
                "meterValue": [
                    {
                        "timestamp": _iso(-3600 + 300 * k),
                        "sampledValue": [
                            {"value": wh, "measurand": "Energy.Active.Import.Register"},
                            {"value": 10200, "measurand": "Power.Active.Import"},
                        ],
                    }
                ],
            }
            if k == 0:
                event["idToken"] = {"idToken": token, "type": "ISO14443"}
                event["evse"] = {"id": 1, "connectorId": 1}
            await sim.call("TransactionEvent", event)
    finally:
        await sim.close()
    await console.sign_in(console_mesh.create_api_key("reader", "chart reader"))
    await console.open(f"#/transactions?station={sid}")
    await console.run(lambda: console.wait_for(By.LINK_TEXT, tx).click())
    chart = await console.run(lambda: console.wait_for(By.ID, "chart-energy"))
    assert await console.run(lambda: chart.get_attribute("data-points")) == str(len(energy))
    points = await console.run(
        lambda: len(console.driver.find_elements(By.CSS_SELECTOR, "#chart-energy circle"))
    )
    assert points == len(energy)

    # The numbers behind it, as the chart's table gives them (kWh, in time order).
    def values() -> list[str]:
        console.driver.find_element(By.CSS_SELECTOR, "#chart-energy summary").click()
        cells = console.driver.find_elements(By.CSS_SELECTOR, "#chart-energy tbody td:nth-child(2)")
        return [c.text for c in cells]

    assert await console.run(values) == [f"{wh / 1000:.2f}" for wh in energy]
    await console.screenshot("transaction")


async def test_a_16_transaction_shows_its_protocol(
    console: Console, console_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """An OCPP 1.6J station's transaction: the list and its page say ``ocpp1.6`` (its integer
    id, its idTag without a type, the remote start that began it)."""
    sid = await _station(rest, "WEB16")
    token = f"W16{uuid.uuid4().hex[:8]}".upper()
    resp = await rest.post("/v1/idTokens", json={"idToken": token, "type": "ISO14443"})
    assert resp.status_code == 200, resp.text
    sim = await Station16.connect(_ws(console_mesh, sid), sid)
    try:
        await sim.boot()
        body = {"idToken": {"idToken": token, "type": "ISO14443"}, "remoteStartId": 77}
        resp = await rest.post(f"/v1/chargingStations/{sid}:requestStartTransaction", json=body)
        assert resp.status_code == 200, resp.text
        started = await sim.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": token, "meterStart": 0, "timestamp": _iso(-60)},
        )
    finally:
        await sim.close()
    tx = str(started["transactionId"])
    await console.sign_in(console_mesh.create_api_key("reader", "1.6 reader"))
    await console.open(f"#/transactions?station={sid}")
    await console.run(lambda: console.wait_for(By.LINK_TEXT, tx))
    assert "ocpp1.6" in await console.run(lambda: console.text_of("#transactions"))
    await console.run(lambda: console.wait_for(By.LINK_TEXT, tx).click())
    await console.run(lambda: console.wait_for(By.CSS_SELECTOR, "dl.facts"))
    facts = await console.run(lambda: console.text_of("dl.facts"))
    assert "ocpp1.6" in facts and token in facts and "77" in facts, facts
    assert f"{token} (" not in facts  # no type to show


async def test_id_tokens_and_api_keys_are_managed_by_an_operator(
    console: Console, console_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    await console.sign_in(console_mesh.create_api_key("operator", "admin"))
    token = f"WEB{uuid.uuid4().hex[:8]}".upper()
    await console.open("#/idTokens")

    def create() -> None:
        console.wait_for(By.ID, "new-token").send_keys(token)
        console.driver.find_element(By.CSS_SELECTOR, "#id-token-form button").click()
        console.wait_for(By.CSS_SELECTOR, f'tr[data-token="{token}"]')
        console.driver.find_element(By.CSS_SELECTOR, f'tr[data-token="{token}"] button').click()
        console.wait(
            lambda d: (
                d.find_element(By.CSS_SELECTOR, f'tr[data-token="{token}"] .badge').text
                == "Blocked"
            )
        )

    await console.run(create)
    resp = await rest.get(f"/v1/idTokens/{token}")
    assert resp.json()["status"] == "Blocked", resp.text
    await console.screenshot("id-tokens")
    await console.open("#/apiKeys")

    def new_key() -> str:
        console.wait_for(By.ID, "new-key-name").send_keys("made in the console")
        console.driver.find_element(By.CSS_SELECTOR, "#api-key-form button").click()
        return str(console.wait_for(By.ID, "new-key-secret").text)

    secret = await console.run(new_key)
    async with rest_client(console_mesh, secret) as made:
        assert (await made.get("/v1/fleet")).status_code == 200
        await console.screenshot("api-keys")
        key_id = secret.split("_")[1]

        def revoke() -> None:
            console.driver.execute_script("window.confirm = () => true")
            console.driver.find_element(By.CSS_SELECTOR, f'tr[data-key="{key_id}"] button').click()
            console.wait(
                lambda d: not d.find_elements(By.CSS_SELECTOR, f'tr[data-key="{key_id}"] button')
            )

        await console.run(revoke)
        assert (await made.get("/v1/fleet")).status_code == 401


async def test_every_page_by_keyboard_at_phone_width_with_no_request_elsewhere(
    console: Console, console_mesh: Mesh
) -> None:
    """Tab from the top reaches every page's link (and Enter opens it); at 390 px nothing
    scrolls sideways; every request the browser made went to the mesh."""
    await console.sign_in(console_mesh.create_api_key("operator", "keyboard"))
    pages = [
        "#/",
        "#/stations",
        "#/transactions",
        "#/idTokens",
        "#/sites",
        "#/reservations",
        "#/tariffs",
        "#/records",
        "#/firmware",
        "#/alerts",
        "#/apiKeys",
    ]

    def by_keyboard() -> list[str]:
        reached: list[str] = []
        for target in pages:
            console.driver.get(f"{console.base}/console/#/stations")
            console.wait_for(By.CSS_SELECTOR, "main h1")
            for _ in range(30):
                ActionChains(console.driver).send_keys(Keys.TAB).perform()
                href = console.driver.switch_to.active_element.get_attribute("href") or ""
                if href.endswith(f"/console/{target}"):
                    ActionChains(console.driver).send_keys(Keys.ENTER).perform()
                    console.wait(lambda d, t=target: d.current_url.endswith(t))
                    console.wait_for(By.CSS_SELECTOR, "main h1")
                    reached.append(target)
                    break
        return reached

    assert await console.run(by_keyboard) == pages

    def phone() -> list[tuple[str, int, int]]:
        console.driver.set_window_size(390, 844)
        widths = []
        try:
            for target in pages:
                console.driver.get(f"{console.base}/console/{target}")
                console.wait_for(By.CSS_SELECTOR, "main h1")
                # The page as loaded (no list still coming), laid out (two frames later).
                console.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "main .pending"))
                scroll, client = console.driver.execute_async_script(
                    "const done = arguments[0];"
                    "requestAnimationFrame(() => requestAnimationFrame(() => done(["
                    "document.documentElement.scrollWidth,"
                    "document.documentElement.clientWidth])));"
                )
                widths.append((target, scroll, client))
                if target == "#/":
                    console.driver.save_screenshot(str(SCREENSHOTS / "fleet-phone.png"))
        finally:
            console.driver.set_window_size(1280, 900)
        return widths

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for target, scroll, client in await console.run(phone):
        assert scroll <= client, f"{target} scrolls sideways at phone width ({scroll} > {client})"

    def requests() -> list[str]:
        import json

        urls = []
        for entry in console.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    urls = await console.run(requests)
    assert urls, "no request seen"
    elsewhere = [u for u in urls if not u.startswith(console.base) and not u.startswith("data:")]
    assert elsewhere == [], elsewhere


async def test_the_other_blocks_pages_list_what_the_api_keeps(
    console: Console, console_mesh: Mesh, rest: httpx.AsyncClient
) -> None:
    """Sites, reservations, tariffs, records (and their CSV), firmware, alerts: each page lists
    what the API holds, without an error."""
    tag = uuid.uuid4().hex[:6]
    sid = await _station(rest)
    tariff = {"id": f"t-{tag}", "name": f"Tariff {tag}", "currency": "EUR", "pricePerKwh": "0.39"}
    resp = await rest.post("/v1/tariffs", json=tariff)
    assert resp.status_code == 200, resp.text
    site = {
        "id": f"s-{tag}",
        "name": f"Depot {tag}",
        "limit": 100,
        "chargingRateUnit": "A",
        "evses": [{"stationId": sid, "evseId": 1}],
    }
    resp = await rest.post("/v1/sites", json=site)
    assert resp.status_code == 200, resp.text
    await console.sign_in(console_mesh.create_api_key("operator", "blocks"))
    for fragment, list_id, expected in [
        ("#/sites", "sites", f"Depot {tag}"),
        ("#/tariffs", "tariffs", f"Tariff {tag}"),
        ("#/reservations", "reservations", None),
        ("#/records", "records", None),
        ("#/firmware", "images", None),
        ("#/alerts", "alerts", None),
    ]:
        await console.open(fragment)

        def listed(d: WebDriver, list_id: str = list_id) -> str | None:
            found = d.find_elements(By.CSS_SELECTOR, f"#{list_id} table, #{list_id} .empty")
            return str(d.find_element(By.ID, list_id).text) if found else None

        text = await console.run(lambda: console.wait(listed))
        assert not await console.run(
            lambda: console.driver.find_elements(By.CSS_SELECTOR, "main .error")
        ), fragment
        if expected is not None:
            assert expected in text, (fragment, text)
        if fragment == "#/sites":
            await console.screenshot("sites")
    await console.open("#/records")

    def csv() -> str:
        console.wait_for(By.ID, "csv").click()
        return str(console.wait_for(By.CSS_SELECTOR, "main p.ok").text)

    assert "Ready" in await console.run(csv)


async def test_in_firefox_too(
    console_mesh: Mesh, rest: httpx.AsyncClient, tmp_path: pathlib.Path
) -> None:
    """Debian's Firefox ESR over WebDriver BiDi (tests/e2e/bidi.py): a reader signs in, the
    fleet goes live, and a station's row changes as it connects and its connector faults:
    the ES modules, fetch's streamed body and TextDecoderStream work there as in Chromium."""
    assert FIREFOX.exists(), "Debian's firefox-esr is needed (make test installs it)"
    sid = await _station(rest)
    base = f"http://127.0.0.1:{console_mesh.settings.envoy_port}/console/"
    async with firefox(tmp_path / "profile", free_port()) as browser:
        await browser.open(base)
        key = console_mesh.create_api_key("reader", "firefox")
        await browser.until("document.getElementById('key') !== null", True)
        await browser.evaluate(
            f"document.getElementById('key').value = {key!r};"
            "document.querySelector('#signin button').click(); true"
        )
        await browser.until("document.getElementById('who').hidden", False)
        await browser.until("document.getElementById('live')?.textContent", "live")
        await browser.open(f"{base}#/stations?q={sid}")
        badge = f"document.querySelector('tr[data-station=\"{sid}\"] .badge')?.textContent"
        await browser.until(badge, "offline")
        sim = await Station.connect(_ws(console_mesh, sid), sid)
        try:
            await sim.boot()
            await browser.until(badge, "unknown")
            await sim.call(
                "StatusNotification",
                {"timestamp": _iso(), "connectorStatus": "Faulted", "evseId": 1, "connectorId": 1},
            )
            await browser.until(badge, "faulted")
        finally:
            await sim.close()
        await browser.until(badge, "offline")
