"""Fixtures shared by every tier: databases on both backends.

``backend`` is parametrized over the embedded default (SQLite) and PostgreSQL, so each test that
uses a database runs on both. PostgreSQL is the server at ``CSMS_TEST_POSTGRES_URL`` (default the
local one); when it is missing those tests fail, they never skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from common import db

POSTGRES_URL = os.environ.get(
    "CSMS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432"
)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server the tests use (no database part)."""
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def migrated_db(backend: str, tmp_path) -> Iterator[Callable[[str], str]]:  # type: ignore[no-untyped-def]
    """A factory: ``migrated_db("device_svc")`` gives a fresh, migrated database URL."""
    import asyncio

    made: list[str] = []

    def make(package: str) -> str:
        name = f"csms_test_{package}_{uuid.uuid4().hex[:10]}"
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / name}.sqlite"
        else:
            url = f"{POSTGRES_URL}/{name}"
        db.migrate(package, url)
        made.append(url)
        return url

    yield make
    for url in made:
        asyncio.run(db.drop_database(url))
