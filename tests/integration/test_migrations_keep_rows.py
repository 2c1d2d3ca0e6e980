"""Every migration keeps the rows it finds (SQLite): none may delete what it does not mean to.

On SQLite, Alembic's batch mode alters a table by copying it and dropping the old one; with
foreign keys on, the drop cascades to every row that references it (a station's connectors,
device model, security events, ...). For each service and each revision, a database at that
revision gets one row in every table (parents first, so references hold), is upgraded to head,
and must still hold every row (those of a table a revision replaced in its successor).
"""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import sqlite3
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from common import db

SERVICES = ("device_svc", "transaction_svc", "user_svc")
# Tables a revision replaced, each by the one that holds its rows since (device_svc 0014: the
# message log's frames, one row each, become batches of one).
REPLACED = {"station_messages": "station_message_batches"}


def _config(package: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"{package}:migrations")
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    return cfg


def _revisions(package: str) -> list[str]:
    script = ScriptDirectory.from_config(_config(package, "sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


CASES = [(p, r) for p in SERVICES for r in _revisions(p)[:-1]]


def _value(declared: str) -> Any:
    kind = declared.upper()
    if "INT" in kind or "BOOL" in kind:
        return 1 if "INT" in kind else 0
    if "DOUBLE" in kind or "FLOAT" in kind or "NUMERIC" in kind or "REAL" in kind:
        return 1.0
    if "DATETIME" in kind or "TIMESTAMP" in kind:
        return datetime.datetime(2026, 1, 1).isoformat(sep=" ")
    if "JSON" in kind:
        return "[]"
    return "1"


def _tables_in_order(conn: sqlite3.Connection) -> list[str]:
    names = [
        n
        for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if n != "alembic_version" and not n.startswith("sqlite_")
    ]
    parents = {
        n: {row[2] for row in conn.execute(f'PRAGMA foreign_key_list("{n}")')} - {n} for n in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and parents[n] <= set(ordered)]
        assert ready, f"foreign keys in a cycle: {parents}"
        ordered.extend(sorted(ready))
    return ordered


def _fill(conn: sqlite3.Connection) -> dict[str, int]:
    """One row in every table; every key (primary and foreign) the same value of its type."""
    counts = {}
    for table in _tables_in_order(conn):
        columns = list(conn.execute(f'PRAGMA table_info("{table}")'))
        names = ", ".join(f'"{c[1]}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        conn.execute(
            f'INSERT INTO "{table}" ({names}) VALUES ({marks})', [_value(c[2]) for c in columns]
        )
        counts[table] = 1
    conn.commit()
    return counts


@pytest.mark.parametrize(("package", "revision"), CASES, ids=lambda v: str(v))
def test_upgrading_keeps_every_row(tmp_path: pathlib.Path, package: str, revision: str) -> None:
    path = tmp_path / "service.db"
    url = f"sqlite+aiosqlite:///{path}"
    asyncio.run(db.ensure_database(url))
    command.upgrade(_config(package, url), revision)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        before = _fill(conn)
        assert list(conn.execute("PRAGMA foreign_key_check")) == []
    command.upgrade(_config(package, url), "head")
    with sqlite3.connect(path) as conn:
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        after = {
            t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
            for t in {*before, *REPLACED.values()}
            if t in tables
        }
        # A table a later revision replaced is gone, its rows in its successor.
        expected = {t: n for t, n in before.items() if t in tables}
        for old, new in REPLACED.items():
            if old in before:
                assert old not in tables, old
                expected[new] = expected.get(new, 0) + before[old]
        assert {t: n for t, n in after.items() if t in expected} == expected
        assert list(conn.execute("PRAGMA foreign_key_check")) == []
