"""The composition root picks decoders and telemetry stores from registries keyed by their
setting's value: every value a setting can take has its entry, and each entry builds the
part the setting names."""

from __future__ import annotations

from pathlib import Path
from typing import get_args, get_type_hints

from gateway.app import DECODERS, READERS, SINKS, build_reader, build_sink
from gateway.settings import Settings
from ingest.sinks import InfluxV1Sink, InfluxV2Sink, SqliteTelemetrySink


def test_every_decoder_a_setting_can_name_is_registered() -> None:
    names = get_args(get_args(Settings.model_fields["decoders"].annotation)[0])
    assert set(names) == set(DECODERS)


def test_every_telemetry_store_has_a_sink_and_a_reader() -> None:
    accessor = Settings.telemetry_store.fget
    assert accessor is not None
    stores = get_args(get_type_hints(accessor)["return"])
    assert set(SINKS) == set(READERS) == set(stores) == {"sqlite", "influx_v1", "influx_v2"}


async def test_the_influxdb_settings_given_pick_the_store(tmp_path: Path) -> None:
    built = {
        "sqlite": Settings(data_dir=tmp_path),
        "influx_v1": Settings(data_dir=tmp_path, influx_url="http://influx.test:8086"),
        "influx_v2": Settings(data_dir=tmp_path, influx_url="http://influx.test:8086",
                              influx_token="t", influx_org="o", influx_bucket="b"),
    }
    kinds = {"sqlite": SqliteTelemetrySink, "influx_v1": InfluxV1Sink,
             "influx_v2": InfluxV2Sink}
    for store, settings in built.items():
        assert settings.telemetry_store == store
        sink = build_sink(settings)
        assert isinstance(sink, kinds[store])
        await sink.close()
        await build_reader(settings).close()
