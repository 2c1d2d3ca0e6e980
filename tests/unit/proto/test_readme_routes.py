"""The README's REST routes are the ones the OpenAPI document (hence Envoy) serves.

tests/e2e/test_openapi.py holds the document to what the running Envoy serves; this holds the
README to the document: every `METHOD /v1/...` the README names, every command verb it lists and
every query parameter it shows must be documented there.
"""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCUMENT: dict[str, Any] = json.loads((ROOT / "gen" / "openapi.json").read_text(encoding="utf-8"))

_ROUTE = re.compile(r"`(GET|POST|PATCH|DELETE) (/v1/[^`?\s]*)(?:\?([^`]*))?`")
_VERB = re.compile(r"`:([a-z][A-Za-z]+)`")


def _shape(path: str) -> str:
    """A path with its parameters blanked: /v1/chargingStations/{id}:reset -> .../{}:reset."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _documented() -> dict[tuple[str, str], dict[str, Any]]:
    ops = {}
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "patch", "delete"}:
                ops[(method.upper(), _shape(path))] = op
    return ops


DOCUMENTED = _documented()
ROUTES = sorted(set(_ROUTE.findall(README)))


def _readme_shape(path: str) -> str:
    """README examples name real stations (CS1): those segments are parameters too."""
    return _shape(re.sub(r"/chargingStations/CS\d+", "/chargingStations/{id}", path))


@pytest.mark.parametrize(("method", "path", "query"), ROUTES, ids=lambda v: str(v))
def test_every_route_of_the_readme_is_documented(method: str, path: str, query: str) -> None:
    op = DOCUMENTED.get((method, _readme_shape(path)))
    assert op is not None, f"README names {method} {path}, which the OpenAPI document lacks"
    names = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    for pair in filter(None, query.split("&")):
        name = pair.split("=", 1)[0]
        assert name in names, f"{method} {path}: README shows ?{name}=, not documented ({names})"


def test_the_readme_lists_every_command_verb_and_only_those() -> None:
    """The commands row names exactly the verbs served: one per operation of device_svc."""
    from device_svc.operations import ACTIONS

    listed = set(_VERB.findall(README)) | {
        path.rsplit(":", 1)[1] for _, path, _ in ROUTES if "chargingStations/{id}:" in path
    }
    # Custom methods that are not OCPP actions (their body is no OCPP payload).
    listed -= {"revoke", "accept", "sync", "updateBasicAuthPassword", "set", "clear", "csv"}
    assert listed == {action[0].lower() + action[1:] for action in ACTIONS}
    for verb in listed:
        assert ("POST", f"/v1/chargingStations/{{}}:{verb}") in DOCUMENTED, verb


def test_the_readme_names_routes() -> None:
    """The patterns above still find the README's table (a reworded README must not pass
    vacuously)."""
    assert len(ROUTES) >= 15
