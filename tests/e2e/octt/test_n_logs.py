"""Part 6, functional block N (Diagnostics), the log cases: CSMS test cases.

The steps and tool validations are those of the public reimplementation tzi-OCTT
(``2.0.1/N/test_tc_n_NN_csms.py``: TC_N_25, TC_N_34, TC_N_35, TC_N_36; the official Part 6 text
was not found). "The CSMS sends GetLogRequest" is the operator's ``POST
/v1/chargingStations/{id}/logs``, which has the station upload to the CSMS. Beyond the cases,
the station does what a real one does with an accepted request: it uploads a real log file to
the remoteLocation it was given (HTTP through Envoy, multipart/form-data as stations send it),
and the verdicts check what the CSMS then lists and serves: every status, the file's size and
SHA-256, and the file itself.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import httpx
import pytest

from tests.e2e.octt.states import booted
from tests.e2e.octt.station import OcttStation

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]


class LogStation:
    """The OCTT station's logging: what it was asked, what it answers."""

    def __init__(self, cs: OcttStation) -> None:
        self.cs = cs
        self.requests: list[JSON] = []
        self.answers = ["Accepted"]
        cs.sim.answer("GetLog", self._answer)

    def _answer(self, request: JSON) -> JSON:
        self.requests.append(request)
        status = self.answers[min(len(self.requests), len(self.answers)) - 1]
        answer: JSON = {"status": status}
        if status != "Rejected":
            answer["filename"] = f"{self.cs.sim.station_id}-{request['requestId']}.log"
        return answer

    async def request(self, step: str, count: int = 1) -> JSON:
        try:
            received = await self.cs.sim.wait_for("GetLog", count)
        except TimeoutError:
            self.cs.verdicts.expect(step, "the CSMS sends a GetLogRequest", False)
            return {}
        self.cs.verdicts.expect(step, "the CSMS sends a GetLogRequest", True)
        return dict(received.payload)

    async def status(self, step: str, request_id: int, *statuses: str) -> None:
        for status in statuses:
            await self.cs.send(
                f"{step} {status}",
                "LogStatusNotification",
                {"status": status, "requestId": request_id},
            )

    async def upload(self, step: str, request: JSON, content: bytes) -> httpx.Response:
        """POST multipart/form-data to log.remoteLocation, as stations do."""
        url = request.get("log", {}).get("remoteLocation", "http://invalid./")
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.post(
                url, files={"file": (f"diagnostics-{request.get('requestId')}.log", content)}
            )
        self.cs.verdicts.expect(
            step, "the upload to the CSMS's URL succeeds", resp.status_code == 200, resp.text
        )
        return resp


async def operator(cs: OcttStation, rest: httpx.AsyncClient, log_type: str) -> JSON:
    """The manual action: the operator asks the station for its log, uploaded to the CSMS."""
    resp = await rest.post(
        f"/v1/chargingStations/{cs.sim.station_id}/logs", json={"logType": log_type}
    )
    cs.verdicts.expect(
        "Manual action", "REST /logs answers 200", resp.status_code == 200, resp.text
    )
    return dict(resp.json()) if resp.status_code == 200 else {}


async def listed(cs: OcttStation, rest: httpx.AsyncClient, request_id: int) -> JSON:
    body = await cs.verdicts.rest_get(
        rest, "REST logs", f"/v1/chargingStations/{cs.sim.station_id}/logs"
    )
    return next((log for log in body.get("logs", []) if log.get("requestId") == request_id), {})


async def _accepted_case(cs: OcttStation, rest: httpx.AsyncClient, log_type: str) -> None:
    """N_25 / N_35: GetLog of ``log_type``, Accepted; Uploading, the upload, Uploaded."""
    await booted(cs)
    logs = LogStation(cs)
    answer = await operator(cs, rest, log_type)
    request = await logs.request("Main step 1")
    cs.verdicts.equal("Main step 1 tool validation", "logType", request.get("logType"), log_type)
    cs.verdicts.equal(
        "Main step 2", "the station's answer", answer.get("response", {}).get("status"), "Accepted"
    )
    rid = request.get("requestId", 0)
    cs.verdicts.equal(
        "Main step 1", "the answer names the request", answer.get("log", {}).get("requestId"), rid
    )
    content = os.urandom(1024) + b"\n2026-12-05T10:00:00Z boot ok\n" * 200
    await logs.status("Main steps 3-4", rid, "Uploading")
    await logs.upload("Main step 4 upload", request, content)
    await logs.status("Main steps 5-6", rid, "Uploaded")
    kept = await listed(cs, rest, rid)
    cs.verdicts.equal("REST logs", "status", kept.get("status"), "Uploaded")
    cs.verdicts.equal("REST logs", "logType", kept.get("logType"), log_type)
    cs.verdicts.equal(
        "REST logs",
        "history",
        [h.get("status") for h in kept.get("history", [])],
        ["Accepted", "Uploading", "Uploaded"],
    )
    cs.verdicts.equal(
        "REST logs", "sha256", kept.get("sha256"), hashlib.sha256(content).hexdigest()
    )
    cs.verdicts.equal("REST logs", "size", kept.get("size"), str(len(content)))
    resp = await rest.get(f"/v1/chargingStations/{cs.sim.station_id}/logs/{rid}:download")
    cs.verdicts.expect("REST download", "answers 200", resp.status_code == 200, resp.text[:200])
    cs.verdicts.expect("REST download", "the file as uploaded", resp.content == content)
    cs.assert_passed()


async def test_tc_n_25_diagnostics_log(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_25_CSMS Retrieve Log Information - Diagnostics Log - Success (N01)."""
    await _accepted_case(cs, rest, "DiagnosticsLog")


async def test_tc_n_35_security_log(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_35_CSMS Retrieve Log Information - Security Log - Success (N01)."""
    await _accepted_case(cs, rest, "SecurityLog")


async def test_tc_n_34_rejected(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_34_CSMS Retrieve Log Information - Rejected: the station's answer reaches the
    operator, and the CSMS lists the request as Rejected, nothing received."""
    await booted(cs)
    logs = LogStation(cs)
    logs.answers = ["Rejected"]
    answer = await operator(cs, rest, "DiagnosticsLog")
    request = await logs.request("Main step 1")
    cs.verdicts.equal(
        "Main step 2", "the station's answer", answer.get("response", {}).get("status"), "Rejected"
    )
    kept = await listed(cs, rest, request.get("requestId", 0))
    cs.verdicts.equal("REST logs", "status", kept.get("status"), "Rejected")
    cs.verdicts.equal("REST logs", "received", kept.get("received"), False)
    cs.assert_passed()


async def test_tc_n_36_second_request(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """TC_N_36_CSMS Retrieve Log Information - Second Request: a second GetLog while the first
    uploads; the station cancels the first (AcceptedCanceled, and its status for the first)
    and uploads the second."""
    await booted(cs)
    logs = LogStation(cs)
    await operator(cs, rest, "DiagnosticsLog")
    first = await logs.request("Main step 1")
    await logs.status("Main steps 3-4", first.get("requestId", 0), "Uploading")
    logs.answers = ["Accepted", "AcceptedCanceled"]
    answer = await operator(cs, rest, "DiagnosticsLog")
    second = await logs.request("Main step 5", count=2)
    cs.verdicts.expect(
        "Main step 5",
        "the second request has a requestId of its own",
        second.get("requestId") != first.get("requestId"),
        second,
    )
    cs.verdicts.equal(
        "Main step 6",
        "the station's answer",
        answer.get("response", {}).get("status"),
        "AcceptedCanceled",
    )
    await logs.status("Main steps 7-8", first.get("requestId", 0), "AcceptedCanceled")
    content = b"second log\n" * 500
    await logs.status("Main steps 9-10", second.get("requestId", 0), "Uploading")
    await logs.upload("Main step 10 upload", second, content)
    await logs.status("Main steps 11-12", second.get("requestId", 0), "Uploaded")
    one = await listed(cs, rest, first.get("requestId", 0))
    two = await listed(cs, rest, second.get("requestId", 0))
    cs.verdicts.equal("REST logs", "the first's status", one.get("status"), "AcceptedCanceled")
    cs.verdicts.equal("REST logs", "the second's status", two.get("status"), "Uploaded")
    cs.verdicts.equal(
        "REST logs", "the second's sha256", two.get("sha256"), hashlib.sha256(content).hexdigest()
    )
    cs.assert_passed()


async def test_an_upload_url_takes_one_upload(cs: OcttStation, rest: httpx.AsyncClient) -> None:
    """Beyond the cases: a raw PUT works as well; the URL is good for that one upload (a
    second is refused, the first file stays); a made-up token is refused; no API key asked."""
    await booted(cs)
    logs = LogStation(cs)
    await operator(cs, rest, "DiagnosticsLog")
    request = await logs.request("Main step 1")
    url = request.get("log", {}).get("remoteLocation", "http://invalid./")
    async with httpx.AsyncClient(timeout=10) as http:
        first = await http.put(url, content=b"first")
        again = await http.put(url, content=b"second")
        made_up = await http.put(url.rsplit("/", 1)[0] + "/" + "A" * 43, content=b"x")
    cs.verdicts.equal("upload", "the first upload", first.status_code, 200)
    cs.verdicts.equal("upload", "the same URL again", again.status_code, 404)
    cs.verdicts.equal("upload", "a made-up token", made_up.status_code, 404)
    kept = await listed(cs, rest, request.get("requestId", 0))
    cs.verdicts.equal(
        "REST logs",
        "the first file stays",
        kept.get("sha256"),
        hashlib.sha256(b"first").hexdigest(),
    )
    cs.assert_passed()
