"""The tests' pytest plugin (tests/conftest.py loads it): fixtures that start real servers
(support.servers, support.gateways, support.postgres), and two checks at the end of the
session: no process the tests started is left running (support.processes: the plugin stops
those still alive and says which), and, after a whole run, every status code the API
documents was produced by some test."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.migrations import upgrade
from ingest.statedb import StateDb
from support import processes
from support.gateways import ANSWERED, DOCUMENTED, GatewayProcess, run_gateway
from support.postgres import TEMPLATE, Postgres, run_postgres
from support.servers import (
    SIM_TAGS,
    TEST_TAGS,
    InfluxDB,
    Mosquitto,
    NatsServer,
    WebhookReceiver,
    run_influxdb,
    run_mosquitto,
    run_nats,
    run_webhook_receiver,
)


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    with run_influxdb(tmp_path_factory.mktemp("influxdb")) as influx:
        yield influx


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with run_mosquitto(tmp_path_factory.mktemp("mosquitto"), TEST_TAGS + SIM_TAGS) as broker:
        yield broker


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A NATS server with JetStream of the test's own: no stream, consumer or KV bucket of
    another test's."""
    with run_nats(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="module")
def sqlite_gateway(tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto,
                   state_engine: str) -> Iterator[GatewayProcess]:
    """A gateway on the module's broker with telemetry in SQLite: for API tests."""
    env = {"BOOMERANG_MQTT_URL": mosquitto.gateway_url()}
    with run_gateway(Path(tmp_path_factory.mktemp("gateway")), env) as process:
        yield process


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL for the run, with a migrated template each test's database copies."""
    with run_postgres() as server:
        with server.admin() as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
        template = StateDb.open(server.url(TEMPLATE))
        upgrade(template)
        template.close()
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh state database's URL, migrated, on each engine in turn."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"
        db = StateDb.open(url)
        upgrade(db)
        db.close()
        yield url
        return
    server: Postgres = request.getfixturevalue("postgres")
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def state_db(state_url: str) -> Iterator[StateDb]:
    """A fresh, migrated state database on each engine in turn."""
    db = StateDb.open(state_url)
    yield db
    db.close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with run_webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


# Documented on purpose but never counted (gateway.api.UNINSTRUMENTED), or not produced by
# a healthy test run: a failing state store is the one way /readyz answers 503 that no
# test can cause without breaking the disk under the gateway.
NOT_COUNTED = {("GET", "/metrics", "200"), ("GET", "/healthz", "200")}


LEFTOVERS = pytest.StashKey[list[str]]()
"""What stop_leftover_processes says, for the terminal summary."""


@pytest.hookimpl(trylast=True)  # after pytest's own, which may tear fixtures down
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_leftover_processes(session)
    check_documented_statuses(session, exitstatus)


def stop_leftover_processes(session: pytest.Session) -> None:
    """Every process the tests started and did not stop (support.processes), stopped now;
    which ones, in the terminal summary (pytest_terminal_summary, which comes after). The
    run fails: a helper that leaves a process behind is a defect, as a failing test is."""
    stopped = processes.stop_leftovers()
    if not stopped:
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    lines = [f"Stopped {len(stopped)} process(es) the tests started and left running:"]
    for entry in stopped:
        how = "SIGKILL" if entry.killed else signal.Signals(entry.stop_signal).name
        lines.append(f"  {entry.pid} {entry.what} ({how}"
                     + (", and it is still running" if entry.alive() else "") + ")")
    if session.config.pluginmanager.get_plugin("terminalreporter") is None:
        print("\n".join(lines), file=sys.stderr)
    else:
        session.config.stash[LEFTOVERS] = lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    lines = config.stash.get(LEFTOVERS, [])
    if lines:
        terminalreporter.write_sep("-", "processes left running")
        for line in lines:
            terminalreporter.write_line(line, yellow=True)


def check_documented_statuses(session: pytest.Session, exitstatus: int) -> None:
    """After a whole run (no test chosen by hand, none failed): every status code the API
    documents was produced by some test. A documented code no test produces is either
    untested or a lie in the schema."""
    chosen_by_hand = session.config.args_source is pytest.Config.ArgsSource.ARGS
    if exitstatus != 0 or chosen_by_hand or not DOCUMENTED:
        return
    if session.config.getoption("keyword") or session.config.getoption("markexpr"):
        return
    missing = sorted(DOCUMENTED - ANSWERED - NOT_COUNTED)
    if missing:
        print("\nDocumented status codes no test produced:")
        for method, route, status in missing:
            print(f"  {status} {method} {route}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
