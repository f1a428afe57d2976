"""Every end-to-end module runs on both state engines, SQLite and PostgreSQL, unless it says
`STATE_ENGINES = ("sqlite",)` (what it tests does not touch the state: a broker's TLS, the
telemetry sinks, the embedded demo)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.gateways import STATE
from support.postgres import Postgres

BOTH = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "state_engine" in metafunc.fixturenames:
        engines = getattr(metafunc.module, "STATE_ENGINES", BOTH)
        metafunc.parametrize("state_engine", engines, indirect=True, scope="module")


@pytest.fixture(scope="module", autouse=True)
def state_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """The state database of the module's gateways (support.gateways.STATE)."""
    if request.param == "postgresql":
        server: Postgres = request.getfixturevalue("postgres")
        STATE.name = "postgresql"
        STATE.new_database = lambda: server.url(server.create_database(template=None))
    try:
        yield request.param
    finally:
        STATE.name, STATE.new_database = "sqlite", None
        STATE.urls.clear()
