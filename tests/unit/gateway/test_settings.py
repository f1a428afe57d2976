"""Settings: environment over TOML, and errors that name the setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("BOOMERANG_"):
            monkeypatch.delenv(name)


def test_defaults_follow_the_contract() -> None:
    settings = load_settings()
    assert settings.mqtt_url == "mqtt://127.0.0.1:1883"
    assert settings.mqtt_client_id == "boomerang-gateway"
    assert settings.influx_url is None and settings.influx_db == "boomerang"
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8080)
    assert settings.webhook_allow_private is False


def test_the_environment_wins_over_the_toml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "boomerang.toml"
    config.write_text('api_port = 9000\nmqtt_client_id = "from-file"\n')
    monkeypatch.setenv("BOOMERANG_CONFIG", str(config))
    monkeypatch.setenv("BOOMERANG_API_PORT", "9100")
    settings = load_settings()
    assert settings.api_port == 9100
    assert settings.mqtt_client_id == "from-file"


def test_credentials_come_from_the_broker_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOMERANG_MQTT_URL", "mqtts://gw:s3cret@broker.example:8883")
    mqtt = load_settings().mqtt
    assert (mqtt.host, mqtt.port, mqtt.username, mqtt.password, mqtt.tls) == (
        "broker.example", 8883, "gw", "s3cret", True)
    assert "s3cret" not in str(load_settings().masked())


@pytest.mark.parametrize(
    ("name", "value"),
    [("BOOMERANG_MQTT_URL", "http://broker"), ("BOOMERANG_API_PORT", "eighty"),
     ("BOOMERANG_WEBHOOK_ALLOW_PRIVATE", "maybe"), ("BOOMERANG_INFLUX_URL", "not a url"),
     ("BOOMERANG_MQTT_PROTOCOL", "4")],
)
def test_a_bad_value_names_its_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_a_v2_token_without_org_names_the_missing_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOOMERANG_INFLUX_URL", "http://influx:8086")
    monkeypatch.setenv("BOOMERANG_INFLUX_TOKEN", "secret-token")
    monkeypatch.setenv("BOOMERANG_INFLUX_BUCKET", "b")
    with pytest.raises(SettingsError, match="BOOMERANG_INFLUX_ORG") as raised:
        load_settings()
    assert "secret-token" not in str(raised.value)


def test_a_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOMERANG_CONFIG", "/nowhere/boomerang.toml")
    with pytest.raises(SettingsError, match="BOOMERANG_CONFIG"):
        load_settings()


def test_an_unknown_setting_in_the_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "boomerang.toml"
    config.write_text("mqtt_urll = 'mqtt://x:1'\n")
    monkeypatch.setenv("BOOMERANG_CONFIG", str(config))
    with pytest.raises(SettingsError, match="MQTT_URLL"):
        load_settings()


@pytest.mark.parametrize("key", ["short-key", "boomerang-dev-admin-key", "x" * 31])
def test_a_weak_admin_key_stops_start_up(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("BOOMERANG_ADMIN_KEY", key)
    with pytest.raises(SettingsError, match="BOOMERANG_ADMIN_KEY") as refused:
        load_settings()
    assert key not in str(refused.value) and "BOOMERANG_ALLOW_WEAK_ADMIN_KEY" in str(refused.value)
    monkeypatch.setenv("BOOMERANG_ALLOW_WEAK_ADMIN_KEY", "true")  # development, said aloud
    assert load_settings().admin_key is not None


def test_a_long_random_admin_key_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOMERANG_ADMIN_KEY", "x" * 32)
    assert load_settings().admin_key is not None


def test_a_bad_url_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOMERANG_MQTT_URL", "mqtt://gw:s3cret@broker:notaport?token=t0k")
    with pytest.raises(SettingsError, match="BOOMERANG_MQTT_URL") as refused:
        load_settings()
    assert "s3cret" not in str(refused.value) and "t0k" not in str(refused.value)


PG = "postgresql://boomerang:pw@db:5432/boomerang"


@pytest.mark.parametrize(
    ("settings", "named"),
    [({"BOOMERANG_DEAD_LETTER_PAYLOAD_BYTES": "2048",
       "BOOMERANG_DEAD_LETTER_MAX_BYTES_PER_TAG": "1024"}, "BOOMERANG_DEAD_LETTER_PAYLOAD_BYTES"),
     ({"BOOMERANG_DEAD_LETTER_MAX_BYTES_PER_TAG": "4096",
       "BOOMERANG_DEAD_LETTER_MAX_BYTES": "2048"}, "BOOMERANG_DEAD_LETTER_MAX_BYTES_PER_TAG"),
     ({"BOOMERANG_READING_TS_MIN": "2000-01-01T00:00:00"}, "BOOMERANG_READING_TS_MIN"),
     ({"BOOMERANG_NATS_URL": "nats://nats:4222"}, "BOOMERANG_STATE_URL"),
     ({"BOOMERANG_NATS_URL": "http://nats:4222", "BOOMERANG_STATE_URL": PG},
      "BOOMERANG_NATS_URL"),
     ({"BOOMERANG_NATS_URL": "nats://nats:4222", "BOOMERANG_STATE_URL": PG,
       "BOOMERANG_SHARED_GROUP": "g"}, "BOOMERANG_SHARED_GROUP"),
     ({"BOOMERANG_NATS_URL": "nats://nats:4222", "BOOMERANG_STATE_URL": PG,
       "BOOMERANG_INGEST": "false"}, "BOOMERANG_INGEST"),
     ({"BOOMERANG_PARTITIONS": "0"}, "BOOMERANG_PARTITIONS"),
     ({"BOOMERANG_GATEWAY_ID": "gateway.one"}, "BOOMERANG_GATEWAY_ID"),
     ({"BOOMERANG_LEASE_TTL_S": "0.5"}, "BOOMERANG_LEASE_TTL_S")],
)
def test_settings_that_cannot_work_are_named(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], named: str,
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        load_settings()


def test_a_cluster_on_postgresql_loads_and_names_each_gateway_by_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOMERANG_NATS_URL", "nats://nats:4222")
    monkeypatch.setenv("BOOMERANG_STATE_URL", PG)
    settings = load_settings()
    assert settings.partitions == 16 and settings.lease_ttl_s == 6
    assert re.fullmatch(r"[A-Za-z0-9_-]+-\d+", settings.gateway_id)


def test_only_a_gateway_outside_a_cluster_spools(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cluster's gateway leaves what InfluxDB does not take unacknowledged in the stream,
    where another can write it if it dies, rather than in a spool on its own disk."""
    monkeypatch.setenv("BOOMERANG_INFLUX_URL", "http://influxdb:8086")
    assert load_settings().spooling
    monkeypatch.setenv("BOOMERANG_SPOOL_MAX_POINTS", "0")
    assert not load_settings().spooling
    monkeypatch.delenv("BOOMERANG_SPOOL_MAX_POINTS")
    monkeypatch.setenv("BOOMERANG_NATS_URL", "nats://nats:4222")
    monkeypatch.setenv("BOOMERANG_STATE_URL", PG)
    assert not load_settings().spooling
