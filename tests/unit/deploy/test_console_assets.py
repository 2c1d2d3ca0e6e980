"""The console's files as Envoy serves them (deploy/mesh.py): each one a route, and every file
a page or module asks for is one of them (a missing one would be a 404 only a browser sees)."""

from __future__ import annotations

import re

from deploy import mesh


def test_every_file_the_pages_ask_for_is_served() -> None:
    served = set(mesh.console_assets())
    assert {"index.html", "app.js", "style.css"} <= served
    asked: set[str] = set()
    for name in served:
        text = (mesh.CONSOLE_DIR / name).read_text()
        if name.endswith(".js"):
            asked.update(re.findall(r'from\s+"\./([^"]+)"', text))
        if name.endswith(".html"):
            asked.update(re.findall(r'(?:src|href)="([^"#:]+)"', text))
    assert asked, "no reference found: the patterns no longer match the files"
    assert asked - served == set()


def test_each_asset_is_a_route_without_a_key() -> None:
    routes = mesh._console_routes("/srv/console")
    for name in mesh.console_assets():
        assert f'path: "/console/{name}"' in routes
        assert f'filename: "/srv/console/{name}"' in routes
    assert 'path: "/console/"' in routes and 'filename: "/srv/console/index.html"' in routes
    # Every route turns the key check off (the assets hold no data) and nothing else.
    assert routes.count("ExtAuthzPerRoute") == len(mesh.console_assets()) + 2
