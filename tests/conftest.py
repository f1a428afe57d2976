"""Fixtures that start real servers; see realservers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from realservers import (
    InfluxDB,
    Mosquitto,
    WebhookReceiver,
    run_influxdb,
    run_mosquitto,
    run_webhook_receiver,
)

TEST_TAGS = tuple(f"tag-{name}" for name in ("a", "b", "c", "d", "e", "f", "g", "h"))
SIM_TAGS = tuple(f"tag-{n:04d}" for n in range(1, 13))  # the simulator's, for 12-tag fleets


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    with run_influxdb(tmp_path_factory.mktemp("influxdb")) as influx:
        yield influx


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with run_mosquitto(tmp_path_factory.mktemp("mosquitto"), TEST_TAGS + SIM_TAGS) as broker:
        yield broker


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with run_webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
