"""Fixtures: a real Jupyter server with the extension, locked down like production."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.postgres_server import PostgresServer, Unavailable, running_postgres

from jupyter_usage.hub.db.storage import UsageDB

pytest_plugins = ("pytest_jupyter.jupyter_server", "jupyter_events.pytest_plugin")


@pytest.fixture
def usage_config() -> dict[str, Any]:
    """Per-test overrides of UsageApp/CostModel config (merged into the server's)."""
    return {}


@pytest.fixture
def jp_server_config(usage_config: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_usage": True, "jupyter_server_terminals": False},
            "terminals_enabled": False,
            "allow_unauthenticated_access": False,
            "reraise_server_extension_failures": True,
        },
        "UsageApp": {"sample_interval": 0.2, "data_dir": str(tmp_path / "usage-data")},
    }
    for section, values in usage_config.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.fixture
def jp_serverapp(jp_serverapp: Any, jp_asyncio_loop: Any) -> Any:
    """The test server, with extensions started as `jupyter server` starts them (the
    plugin initialises the app but never runs its start hooks)."""
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    return jp_serverapp


@pytest.fixture
def usage_app(jp_serverapp: Any) -> Any:
    """The running UsageApp of the test server."""
    return jp_serverapp.extension_manager.extension_points["jupyter_usage"].app


@pytest.fixture
def usage_get(jp_fetch: Any) -> Any:
    """GET an extension endpoint and decode its JSON body."""

    async def get(path: str, **params: Any) -> Any:
        response = await jp_fetch("api", "usage", "v1", path, params=params or None)
        return json.loads(response.body)

    return get


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the run (each test takes a database of its own)."""
    try:
        with running_postgres() as server:
            yield server
    except Unavailable as why:
        pytest.skip(f"PostgreSQL tests skipped: {why}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The hub service's database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'usage.sqlite'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    with server.database() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hub_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UsageDB]:
    """A hub database at the newest schema, one per test module and database."""
    if request.param == "sqlite":
        database = UsageDB(f"sqlite:///{tmp_path_factory.mktemp('hub') / 'usage.sqlite'}")
        database.upgrade()
        yield database
        database.close()
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    with server.database() as url:
        database = UsageDB(url)
        database.upgrade()
        yield database
        database.close()
