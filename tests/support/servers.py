"""Real servers for tests, each on a free port: mosquitto from the project's config, InfluxDB
1.x, a NATS server with JetStream, HTTP servers that record what they are sent (webhook
receivers) or never answer, and an MQTT client logged in as a tag. Each process is recorded in
support.processes."""

from __future__ import annotations

import contextlib
import getpass
import json
import re
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from support import processes
from support.common import ROOT, free_port, require_binary, wait_until

GATEWAY_USER, GATEWAY_PASSWORD = "boomerang-gateway", "gateway-secret"
SECOND_GATEWAY_USER = "boomerang-gateway-2"
"""mosquitto/acl's two gateway accounts; every test broker has both, with GATEWAY_PASSWORD.
A client's id is its user name there, so a gateway that needs a session of its own takes a
spare account instead: Mosquitto.gateway_url()."""
TAG_PASSWORD = "tag-secret"
TEST_TAGS = tuple(f"tag-{name}" for name in ("a", "b", "c", "d", "e", "f", "g", "h"))
"""The tags the test broker (the `mosquitto` fixture) has accounts for."""
SIM_TAGS = tuple(f"tag-{n:04d}" for n in range(1, 13))  # the simulator's, for 12-tag fleets


@dataclass
class Mosquitto:
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    command: list[str]
    tls_port: int | None = None
    """mosquitto/tls.conf's listener, when run_mosquitto was given its files."""
    spare_gateways: list[str] = field(default_factory=list)

    def gateway_account(self) -> str:
        """A gateway account no one on this broker has used yet (password GATEWAY_PASSWORD).
        The broker keys sessions by user name, so it is a session of the caller's own: it
        inherits no other test's queued messages, and no other test's gateway disconnects it."""
        if not self.spare_gateways:
            raise RuntimeError("every spare gateway account of this broker is taken: "
                               "ask run_mosquitto for more (gateway_accounts)")
        return self.spare_gateways.pop(0)

    def gateway_url(self) -> str:
        """BOOMERANG_MQTT_URL for a gateway with an account of its own (gateway_account)."""
        return f"mqtt://{self.gateway_account()}:{GATEWAY_PASSWORD}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def start(self) -> None:
        """Start again on the same port, with the same persistence."""
        self.process = processes.popen(self.command, what=f"mosquitto on port {self.port}",
                                       stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_until(lambda: _can_connect(self.port), 10, f"mosquitto on {self.port}")


@dataclass(frozen=True)
class BrokerTls:
    """The files of mosquitto/tls.conf's listener (PEM): the CA that client certificates must
    chain to, and the broker's certificate and key."""

    cafile: Path
    certfile: Path
    keyfile: Path


@contextlib.contextmanager
def run_mosquitto(
    workdir: Path,
    tags: tuple[str, ...],
    extra_users: dict[str, str] | None = None,
    extra_acl: str = "",
    *,
    gateway_accounts: int = 32,
    tls: BrokerTls | None = None,
) -> Iterator[Mosquitto]:
    """Mosquitto from mosquitto/mosquitto.conf and mosquitto/acl, with the port and the
    paths rewritten for a temp dir, and a password file for the ACL's two gateway accounts,
    `tags` and `extra_users`; `extra_acl` is appended to a copy of the project's ACL.
    `gateway_accounts` spare gateway accounts are added as mosquitto/README.md says (an
    account and a copy of the gateway's ACL block), for Mosquitto.gateway_url. With `tls`,
    mosquitto/tls.conf's listener is added on a second free port (Mosquitto.tls_port)."""
    binary = require_binary("mosquitto")
    workdir.mkdir(parents=True, exist_ok=True)
    project_acl = (ROOT / "mosquitto" / "acl").read_text()
    spares = [f"gateway-{n:02d}" for n in range(1, gateway_accounts + 1)]
    gateway_block = _acl_block(project_acl, GATEWAY_USER)
    passwd = workdir / "passwd"
    users = {**{g: GATEWAY_PASSWORD for g in (GATEWAY_USER, SECOND_GATEWAY_USER, *spares)},
             **{t: TAG_PASSWORD for t in tags}, **(extra_users or {})}
    passwd.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    # -U hashes a plain-text file in place: one call, however many users.
    processes.run([require_binary("mosquitto_passwd"), "-U", str(passwd)], check=True)
    acl = workdir / "acl"
    acl.write_text(project_acl + "".join(f"\nuser {spare}\n{gateway_block}\n" for spare in spares)
                   + extra_acl)
    port = free_port()
    (workdir / "data").mkdir(exist_ok=True)
    config = _rewritten("mosquitto.conf", {
        r"^listener 1883$": f"listener {port} 127.0.0.1",
        r"^password_file .*$": f"password_file {passwd}",
        r"^acl_file .*$": f"acl_file {acl}",
        r"^persistence_location .*$": f"persistence_location {workdir / 'data'}/",
    })
    tls_port = None
    if tls is not None:
        tls_port = free_port()
        # Appended, as mosquitto/README.md says to do with it.
        config += "\n" + _rewritten("tls.conf", {
            r"^listener 8883$": f"listener {tls_port} 127.0.0.1",
            r"^cafile .*$": f"cafile {tls.cafile}",
            r"^certfile .*$": f"certfile {tls.certfile}",
            r"^keyfile .*$": f"keyfile {tls.keyfile}",
        })
    # Run as whoever runs the tests (root would drop to the `mosquitto` user otherwise).
    config += f"\nuser {getpass.getuser()}\n"
    conf = workdir / "mosquitto.conf"
    conf.write_text(config)
    log = workdir / "mosquitto.log"
    command = [binary, "-c", str(conf)]
    process = processes.popen(command, what=f"mosquitto on port {port}",
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    broker = Mosquitto(port, process, log, command, tls_port, spares)
    try:
        ports = [p for p in (port, tls_port) if p is not None]
        wait_until(lambda: all(_can_connect(p) for p in ports), 10,
                   f"mosquitto on {', '.join(map(str, ports))} ({log})")
        yield broker
    finally:
        if broker.process.poll() is None:
            broker.stop()


def _rewritten(name: str, replacements: dict[str, str]) -> str:
    """mosquitto/`name` with each line matching a pattern replaced; each must match once."""
    config = (ROOT / "mosquitto" / name).read_text()
    for pattern, value in replacements.items():
        config, count = re.subn(pattern, value, config, flags=re.MULTILINE)
        assert count == 1, f"mosquitto/{name} has no line matching {pattern}"
    return config


def _acl_block(acl: str, user: str) -> str:
    """The `topic` lines of `user`'s block in a mosquitto ACL file."""
    lines, inside = [], False
    for line in acl.splitlines():
        if line.startswith(("user ", "pattern ")):
            inside = line == f"user {user}"
        elif inside and line.startswith("topic "):
            lines.append(line)
    assert lines, f"no block for user {user} in the ACL"
    return "\n".join(lines)


def _can_connect(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


@dataclass
class InfluxDB:
    url: str
    process: subprocess.Popen[bytes]
    command: list[str] = field(default_factory=list)
    log: Path | None = None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)

    def start(self) -> None:
        """Start again on the same port with the same data."""
        assert self.log is not None
        self.process = processes.popen(self.command, what=f"influxd on {self.url}",
                                       stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        wait_until(lambda: httpx.get(f"{self.url}/ping").status_code == 204, 30, "influxd")

    def query(self, db: str, q: str) -> list[dict[str, Any]]:
        """InfluxQL; returns the first statement's series."""
        response = httpx.get(f"{self.url}/query", params={"db": db, "q": q}, timeout=10)
        response.raise_for_status()
        result = response.json()["results"][0]
        if "error" in result:
            raise RuntimeError(result["error"])
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def count(self, db: str, q: str) -> int:
        series = self.query(db, q)
        return int(series[0]["values"][0][1]) if series else 0

    def create_database(self, db: str) -> None:
        httpx.post(f"{self.url}/query", params={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()


@contextlib.contextmanager
def run_influxdb(workdir: Path) -> Iterator[InfluxDB]:
    binary = require_binary("influxd")
    workdir.mkdir(parents=True, exist_ok=True)
    http_port, rpc_port = free_port(), free_port()
    conf = workdir / "influxdb.conf"
    conf.write_text(
        f"""
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{workdir}/meta"
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
  # The 1.x default of 100,000 values per tag would refuse the 100,001st asset_id; a
  # fleet that size needs this setting (docs/operations.md), and so does the benchmark.
  max-values-per-tag = 0
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
[logging]
  level = "warn"
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
"""
    )
    log = workdir / "influxd.log"
    command = [binary, "-config", str(conf)]
    process = processes.popen(command, what=f"influxd on port {http_port}",
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    influx = InfluxDB(f"http://127.0.0.1:{http_port}", process, command, log)
    try:
        wait_until(lambda: httpx.get(f"{influx.url}/ping").status_code == 204, 30,
                   f"influxd on {http_port} ({log})")
        yield influx
    finally:
        if influx.process.poll() is None:
            influx.stop()


@dataclass
class NatsServer:
    """nats-server with JetStream, its store in a temp dir: `url` for clients, `monitor_url` for
    the monitoring endpoints (`/jsz?consumers=true` lists streams and consumers)."""

    port: int
    monitor_port: int
    process: subprocess.Popen[bytes]
    command: list[str]
    log: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def jsz(self, **params: str) -> dict[str, Any]:
        """The JetStream report of the monitoring endpoint (e.g. consumers="true")."""
        response = httpx.get(f"{self.monitor_url}/jsz", params=params, timeout=5)
        response.raise_for_status()
        report: dict[str, Any] = response.json()
        return report

    def stop(self) -> None:
        """SIGTERM (nats-server's graceful stop: JetStream's store is flushed) and wait."""
        self.process.terminate()
        self.process.wait(20)

    def kill(self) -> None:
        """SIGKILL: a crash, JetStream's last writes left for recovery at the next start."""
        self.process.kill()
        self.process.wait(10)

    def start(self) -> None:
        """Start again on the same ports with the same store."""
        self.process = processes.popen(self.command, what=f"nats-server on port {self.port}",
                                       stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}: "
                                   f"see {self.log}")
            # Not "disabled": /jsz answers on a server without JetStream too.
            return _can_connect(self.port) and self.jsz().get("disabled") is not True

        wait_until(ready, 20, f"nats-server with JetStream on {self.port} ({self.log})")


@contextlib.contextmanager
def run_nats(workdir: Path) -> Iterator[NatsServer]:
    """nats-server (Debian's 2.9) with JetStream stored in `workdir`/jetstream, listening on
    127.0.0.1 only, clients and monitoring each on a free port; no authentication."""
    binary = require_binary("nats-server")
    workdir.mkdir(parents=True, exist_ok=True)
    port, monitor_port = free_port(), free_port()
    log = workdir / "nats-server.log"
    # -a binds the monitoring port to 127.0.0.1 too. A name of its own rather than a random
    # one at each start, so that a restarted server reports itself as the same one.
    command = [binary, "-js", "-sd", str(workdir / "jetstream"), "-a", "127.0.0.1",
               "-p", str(port), "-m", str(monitor_port), "-n", f"boomerang-test-{port}"]
    process = processes.popen(command, what=f"nats-server on port {port}",
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = NatsServer(port, monitor_port, process, command, log)
    try:
        server._wait_ready()
        yield server
    finally:
        if server.process.poll() is None:
            server.stop()


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A real HTTP server. `status` decides each answer; every request is kept."""

    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    status: Callable[[ReceivedRequest], int] = lambda _: 204

    def events(self, event_type: str | None = None) -> list[ReceivedRequest]:
        return [r for r in list(self.requests)
                if event_type is None or r.json().get("type") == event_type]


@contextlib.contextmanager
def run_webhook_receiver(
    port: int | None = None, receiver: WebhookReceiver | None = None
) -> Iterator[WebhookReceiver]:
    """On `port` (a free one by default); pass `receiver` to go on recording into it after
    a restart on the same port."""
    port = port or free_port()
    receiver = receiver or WebhookReceiver(url=f"http://127.0.0.1:{port}/hook")
    with serve_http(port, recording_handler(receiver)):
        yield receiver


class Recording(Protocol):
    requests: list[ReceivedRequest]
    status: Callable[[ReceivedRequest], int]


def recording_handler(receiver: Recording) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler that keeps each POST in `receiver.requests` and answers it with
    `receiver.status(request)`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            request = ReceivedRequest(self.path, {k.lower(): v for k, v in self.headers.items()},
                                      self.rfile.read(length))
            receiver.requests.append(request)
            self.send_response(receiver.status(request))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """An HTTP URL whose server accepts connections and never answers: an InfluxDB (or a
    webhook receiver) that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


@contextlib.contextmanager
def serve_http(port: int, handler: type[BaseHTTPRequestHandler]) -> Iterator[None]:
    """A real HTTP server on 127.0.0.1:`port`, one thread a request, until the block ends."""
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def publisher(port: int, tag_id: str) -> mqtt.Client:
    """A plain MQTT v5 client logged in as the tag, its network loop running. One per tag at
    a time: the broker makes the tag id its client id, so a second disconnects the first."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(tag_id, TAG_PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish_readings(port: int, tag_id: str, readings: list[dict[str, Any]]) -> None:
    """Each reading as one QoS 1 message of the tag's, in order, each acknowledged."""
    client = publisher(port, tag_id)
    try:
        for reading in readings:
            client.publish(f"tags/{tag_id}/telemetry", orjson.dumps(reading), qos=1
                           ).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
