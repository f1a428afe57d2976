"""The gateway as a `boomerang serve` process (run_gateway), the `boomerang` command
(boomerang), the state database the gateways of a test module get (STATE), and a scenario
played through a broker and a gateway (play_scenario). Each process is recorded in
support.processes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support import processes
from support.common import ROOT, free_port, settled, wait_until
from support.servers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    TAG_PASSWORD,
    InfluxDB,
    Mosquitto,
    run_mosquitto,
)

ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789"
"""BOOMERANG_ADMIN_KEY of every test gateway."""
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def unique(prefix: str) -> str:
    """An id no other test uses, on a gateway tests share."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def metric(api: str, name: str) -> float:
    """A sample of the gateway's /metrics, summed over its labels; 0 if it has none yet."""
    total = 0.0
    # Generous: under a burst the gateway answers behind the state work it queues.
    for line in httpx.get(f"{api}/metrics", headers=ADMIN, timeout=30).text.splitlines():
        if line.startswith((f"{name} ", f"{name}{{")):
            total += float(line.rsplit(maxsplit=1)[1])
    return total


@dataclass
class StateEngine:
    """The state database the gateways of the running test module get (tests/e2e's
    conftest sets it per module): SQLite in each gateway's data dir, or a PostgreSQL
    database of its own, the same one again for a gateway restarted in the same workdir."""

    name: str = "sqlite"
    new_database: Callable[[], str] | None = None
    urls: dict[Path, str] = field(default_factory=dict)

    def url_for(self, workdir: Path) -> str:
        if self.name == "sqlite" or self.new_database is None:
            return f"sqlite:///{workdir / 'data' / 'state.db'}"
        if workdir not in self.urls:
            self.urls[workdir] = self.new_database()
        return self.urls[workdir]


STATE = StateEngine()


@dataclass
class GatewayProcess:
    api: str
    admin_key: str
    process: subprocess.Popen[bytes]
    log: Path
    state_url: str = ""
    """Its state database, for a test that reads it directly."""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what was committed is all that survives."""
        self.process.kill()
        self.process.wait(10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=10,
                            headers={"Authorization": f"Bearer {self.admin_key}"})

    def output(self) -> str:
        return self.log.read_text(errors="replace")


# (method, route, status) of every response the gateways of this test session gave, read
# from their /metrics before they stop, and the statuses their OpenAPI schema documents:
# the plugin (support/plugin.py) checks after a whole run that each documented one was
# produced.
ANSWERED: set[tuple[str, str, str]] = set()
DOCUMENTED: set[tuple[str, str, str]] = set()
REQUESTS_LINE = re.compile(r'^boomerang_http_requests_total\{handler="([^"]+)",method="([^"]+)",'
                       r'status="(\d+)"\}')


def _record_responses(api: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        for line in httpx.get(f"{api}/metrics", headers=ADMIN, timeout=5).text.splitlines():
            found = REQUESTS_LINE.match(line)
            if found:
                route, method, status = found.groups()
                ANSWERED.add((method.upper(), route, status))
        if not DOCUMENTED:
            schema = httpx.get(f"{api}/openapi.json", timeout=5).json()
            DOCUMENTED.update((method.upper(), path, status)
                              for path, operations in schema["paths"].items()
                              for method, operation in operations.items()
                              for status in operation.get("responses", {}))


@contextlib.contextmanager
def run_gateway(workdir: Path, env: dict[str, str], record_responses: bool = True,
                telemetry_down: bool = False,
                broker_down: bool = False) -> Iterator[GatewayProcess]:
    """`python -m gateway serve` with the given BOOMERANG_* settings; stopped with SIGTERM.
    `record_responses` False leaves its answers out of the status-code check (for generated
    requests, whose coverage varies with the generator rather than with the tests).
    `telemetry_down`: InfluxDB is meant to be unreachable, so /readyz rightly stays 503 once
    the first write (its own gateway_stats) fails; wait for every other check instead.
    `broker_down`: the gateway is meant not to connect to the broker; wait only until /readyz
    answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = int(env.get("BOOMERANG_API_PORT", 0)) or free_port()
    admin_key = ADMIN_KEY
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BOOMERANG_")},
        "BOOMERANG_DATA_DIR": str(workdir / "data"),
        "BOOMERANG_API_PORT": str(port),
        "BOOMERANG_ADMIN_KEY": admin_key,
        "BOOMERANG_WEBHOOK_ALLOW_PRIVATE": "true",
        "BOOMERANG_BATCH_MAX_DELAY_S": "0.1",
        "BOOMERANG_STATE_URL": STATE.url_for(workdir),
        **env,
    }
    log = workdir / "gateway.log"
    process = processes.popen([sys.executable, "-m", "gateway", "serve"],
                              what=f"gateway serve on port {port} ({workdir})", env=full_env,
                              stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT)
    gateway = GatewayProcess(f"http://127.0.0.1:{port}", admin_key, process, log,
                             full_env["BOOMERANG_STATE_URL"])
    try:
        def ready() -> bool:
            checks = httpx.get(f"{gateway.api}/readyz").json()
            if broker_down:
                return True
            if not telemetry_down:
                return bool(checks["ready"])
            del checks["ready"], checks["telemetry_sink_writable"]
            return all(checks.values())

        wait_until(lambda: (process.poll() is None and ready()) or _exited(process, log), 30,
                   f"gateway ready ({log})")
        yield gateway
    finally:
        if process.poll() is None:
            if record_responses:
                _record_responses(gateway.api)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        print(f"--- gateway log ({log}), last lines ---")
        print("\n".join(log.read_text(errors="replace").splitlines()[-60:]))


def _exited(process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"gateway exited with {process.returncode}:\n{log.read_text()}")
    return False


def boomerang(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The `boomerang` command, as a user runs it, with the test gateway's admin key."""
    return processes.run([sys.executable, "-m", "gateway", *args],
                         what="boomerang " + " ".join(args), capture_output=True, text=True,
                         timeout=timeout, cwd=ROOT,
                         env={"PATH": "", "BOOMERANG_API_KEY": ADMIN_KEY,
                              "BOOMERANG_SIM_TAG_PASSWORD": TAG_PASSWORD,
                              "COLUMNS": "200"})


@dataclass
class PlayedScenario:
    broker: Mosquitto
    gateway: GatewayProcess
    timeline: Any  # device_sim.timeline.Timeline
    truth: Path
    figures: dict[str, Any]
    database: str
    gateway_env: dict[str, str]


@contextlib.contextmanager
def play_scenario(workdir: Path, influxdb: InfluxDB, scenario: Path, database: str,
                  env: dict[str, str] | None = None, time_scale: str = "20000",
                  webhook_url: str | None = None) -> Iterator[PlayedScenario]:
    """A broker and a gateway on event time writing into `database`; the scenario played
    through them by `boomerang sim play`, until the gateway has handled and written all of
    it. With `webhook_url`, a subscription to every event is made before the play. The
    gateway runs until the block ends."""
    from datetime import UTC, datetime

    from device_sim.scenario import load_scenario
    from device_sim.timeline import compile_scenario

    timeline = compile_scenario(load_scenario(scenario), now=datetime.now(UTC))
    # A login that is no tag id is a The Things Stack application's, {app}@{tenant}.
    tags = tuple(sorted(user for user, tag_id in timeline.logins.items() if tag_id))
    applications = {user: TAG_PASSWORD for user, tag_id in timeline.logins.items() if not tag_id}
    influxdb.create_database(database)
    with run_mosquitto(workdir / "mosquitto", tags, extra_users=applications) as broker:
        gateway_env = {
            "BOOMERANG_MQTT_URL":
                f"mqtt://{GATEWAY_USER}:{GATEWAY_PASSWORD}@127.0.0.1:{broker.port}",
            "BOOMERANG_INFLUX_URL": influxdb.url, "BOOMERANG_INFLUX_DB": database,
            "BOOMERANG_CLOCK": "event", "BOOMERANG_TIMER_INTERVAL_S": "0.1",
            **(env or {}),
        }
        with run_gateway(workdir / "gw", gateway_env) as gateway:
            if webhook_url:
                with gateway.client() as api:
                    api.post("/api/v1/subscriptions",
                             json={"url": webhook_url}).raise_for_status()
            truth = workdir / "truth.json"
            played = boomerang("sim", "play", str(scenario), "--broker",
                               f"mqtt://127.0.0.1:{broker.port}", "--register-api",
                               gateway.api, "--time-scale", time_scale, "--no-progress",
                               "--truth", str(truth))
            assert played.returncode == 0, played.stderr
            figures = json.loads(played.stdout.strip().splitlines()[-1])
            # Handled all that the broker let through (it refuses impersonations), the
            # buffers written, and a timer tick after the last reading.
            settled(lambda: metric(gateway.api, "boomerang_ingest_messages_total"))
            wait_until(lambda: metric(gateway.api, "boomerang_sink_points_buffered") == 0,
                       30, "buffers flushed")
            time.sleep(0.5)
            yield PlayedScenario(broker, gateway, timeline, truth, figures, database,
                                 gateway_env)


def every_item(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list endpoint (`items`, `next_cursor`), page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(path, params={**params, "limit": 500,
                                        **({"cursor": cursor} if cursor else {})})
        page.raise_for_status()
        body = page.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items
