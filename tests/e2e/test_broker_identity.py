"""Who a client of the project's broker is. mosquitto.conf makes every client's id its user
name, so no client takes over another's session by sending its id: a tag claiming the
gateway's id or another tag's disconnects no one, and gateways with accounts of their own run
side by side. mosquitto/acl keeps an OwnTracks login and a The Things Stack application to
their own topics.

Why the takeover checks are sound without waiting for anything: a takeover closes the older
connection before the newcomer gets its CONNACK, and the older client learns of it before
anything it sends afterwards is answered (paho calls on_disconnect; the gateway logs the loss
before it reconnects). So once a message sent after the intrusion has gone through, a
takeover would already show."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from support.common import ROOT, wait_until
from support.gateways import ADMIN, GatewayProcess, metric, run_gateway
from support.servers import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    SECOND_GATEWAY_USER,
    TAG_PASSWORD,
    Mosquitto,
    run_mosquitto,
)

TAGS = ("tag-victim", "tag-intruder", "tag-reporter")
APPLICATION, OTHER_APPLICATION = "returns@ttn", "repairs@ttn"  # The Things Stack's {app}@{tenant}
OWNTRACKS_USER = "anna"
NOT_AUTHORIZED = 135
CONNECTED_LINE = "connected to mqtt://"


@dataclass
class Client:
    """A plain MQTT v5 client, connected, its loop running; keeps what the broker says."""

    paho: mqtt.Client
    disconnects: list[ReasonCode] = field(default_factory=list)
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """QoS 1; the PUBACK's reason code."""
        info = self.paho.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        wait_until(lambda: info.mid in self.pubacks, 10, f"the PUBACK for {topic}")
        return self.pubacks[info.mid]

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


def connect(port: int, user: str, client_id: str, password: str = TAG_PASSWORD) -> Client:
    """Logged in as `user`, asking the broker for `client_id`."""
    paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    paho.username_pw_set(user, password)
    client = Client(paho)
    connacks: list[ReasonCode] = []
    paho.on_connect = lambda _c, _u, _flags, reason, _p: connacks.append(reason)
    paho.on_disconnect = lambda _c, _u, _flags, reason, _p: client.disconnects.append(reason)
    paho.on_publish = lambda _c, _u, mid, reason, _p: client.pubacks.__setitem__(mid, reason)
    paho.connect("127.0.0.1", port)
    paho.loop_start()
    wait_until(lambda: bool(connacks), 10, f"the CONNACK for {user}")
    assert not connacks[0].is_failure, f"{user}: {connacks[0]}"
    return client


def reading(seq: int) -> bytes:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"ts": now, "seq": seq, "temp_c": 5.0})


def mqtt_url(user: str, broker: Mosquitto) -> str:
    return f"mqtt://{user}:{GATEWAY_PASSWORD}@127.0.0.1:{broker.port}"


def lost_connection(gateway: GatewayProcess) -> bool:
    return "mqtt connection lost" in gateway.output()


def until_handled(check: Callable[[], bool], gateways: tuple[GatewayProcess, ...],
                  what: str) -> None:
    """Until `check` holds, or a gateway has lost its connection (which the assertions that
    follow then report, with its log, rather than a time-out)."""
    wait_until(lambda: check() or any(lost_connection(g) for g in gateways), 20, what)


def assert_connected_once(gateway: GatewayProcess) -> None:
    """Connected now, and never lost the connection: no flapping."""
    assert metric(gateway.api, "boomerang_mqtt_connected") == 1
    log = gateway.output()
    assert not lost_connection(gateway), log
    assert log.count(CONNECTED_LINE) == 1, log


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    others = {user: TAG_PASSWORD for user in (APPLICATION, OTHER_APPLICATION, OWNTRACKS_USER)}
    with run_mosquitto(tmp_path_factory.mktemp("broker"), TAGS, extra_users=others) as running:
        yield running


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory,
            broker: Mosquitto, state_engine: str) -> Iterator[GatewayProcess]:
    """On the project's own gateway account, telemetry in SQLite."""
    env = {"BOOMERANG_MQTT_URL": mqtt_url(GATEWAY_USER, broker)}
    with run_gateway(tmp_path_factory.mktemp("gateway"), env) as process:
        yield process


def test_a_tag_using_the_gateways_client_id_does_not_disconnect_the_gateway(
    broker: Mosquitto, gateway: GatewayProcess
) -> None:
    for intruder in ("tag-intruder", "tag-intruder", "tag-victim"):
        connect(broker.port, intruder, client_id=GATEWAY_USER).close()
    reporter = connect(broker.port, "tag-reporter", client_id="reporter")
    assert not reporter.publish("tags/tag-reporter/telemetry", reading(7)).is_failure
    reporter.close()

    def stored() -> bool:
        latest = httpx.get(f"{gateway.api}/api/v1/tags/tag-reporter/latest", headers=ADMIN)
        return latest.status_code == 200 and latest.json()["seq"] == 7

    until_handled(stored, (gateway,), "the reading published after the intruders")
    assert_connected_once(gateway)
    assert stored()


def test_a_tag_using_another_tags_client_id_does_not_disconnect_that_tag(
    broker: Mosquitto, gateway: GatewayProcess
) -> None:
    victim = connect(broker.port, "tag-victim", client_id="tag-victim")
    for _ in range(3):
        connect(broker.port, "tag-intruder", client_id="tag-victim").close()
    # The gateway subscribes to it, so the broker's answer is Success, not "no subscribers".
    assert victim.publish("tags/tag-victim/telemetry", reading(1)).value == 0
    assert victim.disconnects == []
    victim.close()


def test_two_gateways_with_accounts_of_their_own_share_the_load_without_flapping(
    tmp_path: Path,
) -> None:
    with run_mosquitto(tmp_path / "broker", ("tag-shared",)) as shared_broker:
        env = {"BOOMERANG_SHARED_GROUP": "boomerang"}
        with (run_gateway(tmp_path / "gw-1",
                          {**env, "BOOMERANG_MQTT_URL": mqtt_url(GATEWAY_USER, shared_broker)})
              as first,
              run_gateway(tmp_path / "gw-2",
                          {**env, "BOOMERANG_MQTT_URL": mqtt_url(SECOND_GATEWAY_USER,
                                                                 shared_broker)})
              as second):
            tag = connect(shared_broker.port, "tag-shared", client_id="tag-shared")
            for seq in range(20):
                assert not tag.publish("tags/tag-shared/telemetry", reading(seq)).is_failure
            tag.close()

            def split_between_both() -> bool:
                handled = [metric(g.api, "boomerang_ingest_readings_total")
                           for g in (first, second)]
                return sum(handled) == 20 and min(handled) > 0

            # The group splits the messages: each gateway got some after both were up.
            until_handled(split_between_both, (first, second),
                          "the 20 readings, split between the two gateways")
            assert_connected_once(first)
            assert_connected_once(second)
            assert split_between_both()


def test_an_application_and_an_owntracks_login_publish_only_under_their_own_names(
    broker: Mosquitto,
) -> None:
    uplink = (ROOT / "docs" / "examples" / "things_stack.json").read_bytes()
    application = connect(broker.port, APPLICATION, client_id="bridge")
    assert not application.publish(f"v3/{APPLICATION}/devices/pallet-1/up", uplink).is_failure
    for foreign in (f"v3/{OTHER_APPLICATION}/devices/pallet-1/up",  # another application's
                    "tags/pallet-1/telemetry"):  # a native tag's
        assert application.publish(foreign, uplink).value == NOT_AUTHORIZED, foreign
    application.close()

    location = (ROOT / "docs" / "examples" / "owntracks.json").read_bytes()
    owntracks = connect(broker.port, OWNTRACKS_USER, client_id="phone")
    assert not owntracks.publish(f"owntracks/{OWNTRACKS_USER}/phone", location).is_failure
    for foreign in (f"owntracks/{OWNTRACKS_USER}/phone/extra",  # two levels deep
                    "owntracks/bob/phone"):  # another user's
        assert owntracks.publish(foreign, location).value == NOT_AUTHORIZED, foreign
    owntracks.close()
