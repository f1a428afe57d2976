"""Every end-to-end module runs on both state engines, SQLite and PostgreSQL, unless it says
`STATE_ENGINES = ("sqlite",)` (what it tests does not touch the state: a broker's TLS, the
telemetry sinks, the embedded demo)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from support.gateways import STATE
from support.inprocess import InProcessApi, in_process_api
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


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def in_process(tmp_path_factory: pytest.TempPathFactory, state_engine: str
                     ) -> AsyncIterator[InProcessApi]:
    """The module's gateway in this process (support/inprocess.py), on its state engine; its
    tests run in the module's event loop (`pytest.mark.asyncio(loop_scope="module")`)."""
    workdir = Path(tmp_path_factory.mktemp("gateway"))
    async with in_process_api(workdir, STATE.url_for(workdir)) as running:
        yield running


@pytest.fixture
def api(in_process: InProcessApi) -> httpx.AsyncClient:
    """The admin's client of the module's in-process gateway."""
    return in_process.client
