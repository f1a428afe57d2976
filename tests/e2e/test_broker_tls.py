"""The gateway over TLS to the broker: mosquitto/tls.conf's listener, requiring client
certificates, in front of the project's broker; the gateway with an mqtts:// URL, its private
CA (BOOMERANG_MQTT_CA_FILE) and its client certificate. It reads through it; it does not
connect to a broker its CA did not sign, nor without its certificate; and a TLS setting it
cannot use stops it at start-up, naming the setting. Certificates are made with `openssl`."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from support import processes
from support.common import ROOT, free_port, require_binary, wait_until
from support.gateways import ADMIN, run_gateway
from support.servers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    TAG_PASSWORD,
    BrokerTls,
    Mosquitto,
    run_mosquitto,
)

# What this module tests does not touch the state database (tests/e2e/conftest.py).
STATE_ENGINES = ("sqlite",)

TAG = "tag-tls"
EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class Pki:
    """A CA and what it issued: the broker's certificate (for localhost and 127.0.0.1) and a
    client's, with their keys, all PEM."""

    ca: Path
    server: Path
    server_key: Path
    client: Path
    client_key: Path


def openssl(*args: str | Path) -> None:
    subprocess.run([require_binary("openssl"), *map(str, args)], check=True,
                   capture_output=True, timeout=60)


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    openssl("req", "-x509", *EC_KEY, "-keyout", ca_key, "-out", ca, "-days", "2",
            "-subj", "/CN=Boomerang test CA")

    def issue(name: str, common_name: str, extensions: str) -> tuple[Path, Path]:
        key, request, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        extfile = directory / f"{name}.ext"
        extfile.write_text(extensions)
        openssl("req", *EC_KEY, "-keyout", key, "-out", request, "-subj", f"/CN={common_name}")
        openssl("x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-out", cert, "-days", "2", "-extfile", extfile)
        return cert, key

    server, server_key = issue("server", "localhost", "subjectAltName=DNS:localhost,"
                               "IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    client, client_key = issue("client", GATEWAY_USER, "extendedKeyUsage=clientAuth\n")
    return Pki(ca, server, server_key, client, client_key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki") / "ours")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Mosquitto]:
    tls = BrokerTls(cafile=pki.ca, certfile=pki.server, keyfile=pki.server_key)
    with run_mosquitto(tmp_path_factory.mktemp("broker"), (TAG,), tls=tls) as running:
        yield running


def tls_env(broker: Mosquitto, ca: Path, cert: Path | None, key: Path | None) -> dict[str, str]:
    assert broker.tls_port is not None
    env = {"BOOMERANG_MQTT_URL":
           f"mqtts://{GATEWAY_USER}:{GATEWAY_PASSWORD}@localhost:{broker.tls_port}",
           "BOOMERANG_MQTT_CA_FILE": str(ca)}
    if cert is not None and key is not None:
        env |= {"BOOMERANG_MQTT_CERT_FILE": str(cert), "BOOMERANG_MQTT_KEY_FILE": str(key)}
    return env


def publish_over_tls(broker: Mosquitto, pki: Pki, seq: int) -> None:
    """As the tag, with a certificate of the same CA, through the TLS listener."""
    assert broker.tls_port is not None
    context = ssl.create_default_context(cafile=pki.ca)
    context.load_cert_chain(pki.client, pki.client_key)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    client.username_pw_set(TAG, TAG_PASSWORD)
    client.connect("localhost", broker.tls_port)
    client.loop_start()
    reading = {"ts": datetime.now(UTC).isoformat(), "seq": seq, "temp_c": 4.5}
    client.publish(f"tags/{TAG}/telemetry", orjson.dumps(reading), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_a_gateway_with_its_ca_and_client_certificate_reads_through_the_tls_listener(
    tmp_path: Path, broker: Mosquitto, pki: Pki
) -> None:
    env = tls_env(broker, pki.ca, pki.client, pki.client_key)
    with run_gateway(tmp_path / "gw", env) as gateway:
        publish_over_tls(broker, pki, seq=42)

        def stored() -> bool:
            latest = httpx.get(f"{gateway.api}/api/v1/tags/{TAG}/latest", headers=ADMIN)
            return latest.status_code == 200 and latest.json()["seq"] == 42

        wait_until(stored, 20, "the reading published over TLS")
        assert f"connected to mqtt://localhost:{broker.tls_port}" in gateway.output()


@pytest.mark.parametrize("trust", ["another CA", "no client certificate"])
def test_a_gateway_the_broker_and_it_do_not_both_trust_does_not_connect(
    tmp_path: Path, broker: Mosquitto, pki: Pki, trust: str
) -> None:
    if trust == "another CA":
        stranger = make_pki(tmp_path / "stranger")
        env = tls_env(broker, stranger.ca, pki.client, pki.client_key)
    else:
        env = tls_env(broker, pki.ca, None, None)
    with run_gateway(tmp_path / "gw", env, broker_down=True) as gateway:
        # Every attempt fails alike; once one has, the gateway is not connected.
        wait_until(lambda: "mqtt connection lost" in gateway.output(), 20, "a failed attempt")
        readyz = httpx.get(f"{gateway.api}/readyz")
        assert readyz.status_code == 503
        assert readyz.json()["broker_connected"] is False
        log = gateway.output()
        assert "connected to mqtt://" not in log
        if trust == "another CA":
            assert "certificate verify failed" in log, log


@pytest.mark.parametrize(("settings", "named"), [
    ({"BOOMERANG_MQTT_URL": "mqtts://gw:secret@localhost:8883",
      "BOOMERANG_MQTT_CA_FILE": "/nowhere/ca.crt"}, ["BOOMERANG_MQTT_CA_FILE"]),
    ({"BOOMERANG_MQTT_URL": "mqtt://gw:secret@localhost:1883",
      "BOOMERANG_MQTT_CA_FILE": "CA"}, ["BOOMERANG_MQTT_CA_FILE", "mqtts://"]),
    ({"BOOMERANG_MQTT_URL": "mqtts://gw:secret@localhost:8883",
      "BOOMERANG_MQTT_CERT_FILE": "CERT"},
     ["BOOMERANG_MQTT_CERT_FILE", "BOOMERANG_MQTT_KEY_FILE"]),
    ({"BOOMERANG_MQTT_URL": "mqtts://gw:secret@localhost:8883",
      "BOOMERANG_MQTT_CA_FILE": "NOT_PEM"}, ["BOOMERANG_MQTT_CA_FILE", "not PEM"]),
    ({"BOOMERANG_MQTT_URL": "mqtts://gw:secret@localhost:8883",
      "BOOMERANG_MQTT_CERT_FILE": "CERT", "BOOMERANG_MQTT_KEY_FILE": "CA"},
     ["BOOMERANG_MQTT_CERT_FILE", "BOOMERANG_MQTT_KEY_FILE", "its key"]),
], ids=["a CA file that is not there", "a CA file without mqtts://", "a certificate without key",
        "a CA file that is not PEM", "a key that is not the certificate's"])
def test_a_tls_setting_the_gateway_cannot_use_stops_its_start(
    tmp_path: Path, pki: Pki, settings: dict[str, str], named: list[str]
) -> None:
    not_pem = tmp_path / "not-pem.crt"
    not_pem.write_text("this is no certificate\n")
    files = {"CA": str(pki.ca), "CERT": str(pki.client), "NOT_PEM": str(not_pem)}
    env = {"PATH": os.environ.get("PATH", ""), "BOOMERANG_DATA_DIR": str(tmp_path / "data"),
           "BOOMERANG_API_PORT": str(free_port()),
           **{name: files.get(value, value) for name, value in settings.items()}}
    started = processes.run([sys.executable, "-m", "gateway", "serve"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert started.returncode == 2, started.stderr
    for name in named:
        assert name in started.stderr

