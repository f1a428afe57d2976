"""Validation of the native format against the contract's rules and ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest.decoders import MAX_MESSAGE_BYTES, NativeDecoder

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
TOPIC = "tags/tag-1/telemetry"


def decode(payload: object, topic: str = TOPIC):  # type: ignore[no-untyped-def]
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    result = NativeDecoder().decode(topic, raw, NOW)
    assert result is not None
    return result


def test_a_full_reading_is_accepted_with_its_own_time() -> None:
    result = decode({"ts": "2026-11-29T08:15:00+01:00", "seq": 812, "lat": 52.52, "lon": 13.405,
                     "accuracy_m": 8, "temp_c": 6.4, "humidity_pct": 55, "shock_g": 0.2,
                     "battery_pct": 81})
    assert not result.dead_letters
    (reading,) = result.readings
    assert reading.ts == datetime(2026, 11, 29, 7, 15, tzinfo=UTC)
    assert reading.seq == 812
    assert reading.values["temp_c"] == 6.4 and reading.position == (52.52, 13.405)


def test_epoch_milliseconds_are_accepted() -> None:
    (reading,) = decode({"ts": 1795939200123, "temp_c": 5}).readings
    assert reading.ts == datetime.fromtimestamp(1795939200.123, tz=UTC)


def test_a_reading_without_ts_takes_the_receive_time() -> None:
    (reading,) = decode({"temp_c": 5}).readings
    assert reading.ts == NOW


def test_batch_readings_without_ts_get_distinct_times() -> None:
    result = decode({"readings": [{"temp_c": 1}, {"temp_c": 2}, {"temp_c": 3}]})
    assert len({r.ts for r in result.readings}) == 3


@pytest.mark.parametrize(
    ("field", "bad", "good"),
    [
        ("temp_c", -80.1, -80), ("temp_c", 150.1, 150),
        ("humidity_pct", 100.5, 100), ("humidity_pct", -1, 0),
        ("shock_g", 500.1, 500), ("tilt_deg", 180.1, 180),
        ("battery_pct", 101, 100), ("light_lux", -0.1, 0),
        ("speed_kmh", -1, 0), ("accuracy_m", -1, 0),
    ],
)
def test_range_edges(field: str, bad: float, good: float) -> None:
    assert decode({field: good}).readings
    rejected = decode({field: bad})
    assert not rejected.readings
    assert field in rejected.dead_letters[0].reason


def test_lat_without_lon_is_dead_lettered() -> None:
    result = decode({"lat": 52.0, "temp_c": 5})
    assert "lat and lon must come together" in result.dead_letters[0].reason


@pytest.mark.parametrize(("lat", "lon"), [(90.01, 0), (0, -180.01)])
def test_positions_outside_wgs84_are_dead_lettered(lat: float, lon: float) -> None:
    assert decode({"lat": lat, "lon": lon}).dead_letters


def test_a_reading_needs_a_measurement() -> None:
    result = decode({"seq": 3, "ts": "2026-11-29T08:00:00Z"})
    assert "at least one measurement" in result.dead_letters[0].reason


def test_times_more_than_five_minutes_ahead_are_refused() -> None:
    ahead = (NOW + timedelta(minutes=5, seconds=1)).isoformat()
    assert "future" in decode({"ts": ahead, "temp_c": 1}).dead_letters[0].reason
    assert decode({"ts": (NOW + timedelta(minutes=5)).isoformat(), "temp_c": 1}).readings


def test_a_time_without_offset_is_refused() -> None:
    assert "offset" in decode({"ts": "2026-11-29T08:00:00", "temp_c": 1}).dead_letters[0].reason


@pytest.mark.parametrize("bad", [{"temp_c": "5"}, {"temp_c": True}, {"seq": -1, "temp_c": 1},
                                 {"seq": 1.5, "temp_c": 1}])
def test_wrong_types_are_refused(bad: dict[str, object]) -> None:
    assert decode(bad).dead_letters and not decode(bad).readings


def test_unknown_fields_are_counted_not_refused() -> None:
    result = decode({"temp_c": 1, "firmware": "1.2", "rssi": -70})
    assert result.readings and result.unknown_fields == 2


def test_in_a_batch_each_invalid_reading_is_dead_lettered_alone() -> None:
    result = decode({"readings": [{"temp_c": 1}, {"temp_c": 999}, "x", {"temp_c": 2}]})
    assert [r.values["temp_c"] for r in result.readings] == [1, 2]
    assert [d.reason.split(":")[0] for d in result.dead_letters] == ["reading 1", "reading 2"]
    assert orjson.loads(result.dead_letters[0].payload) == {"temp_c": 999}


def test_a_batch_over_1000_readings_is_refused_whole() -> None:
    result = decode({"readings": [{"temp_c": 1}] * 1001})
    assert not result.readings and "1000" in result.dead_letters[0].reason
    assert len(decode({"readings": [{"temp_c": 1}] * 1000}).readings) == 1000


def test_a_message_over_256_kib_is_refused() -> None:
    payload = b'{"temp_c": 1, "pad": "' + b"x" * MAX_MESSAGE_BYTES + b'"}'
    assert "256 KiB" in decode(payload).dead_letters[0].reason


def test_not_json_is_dead_lettered_with_the_raw_payload() -> None:
    result = decode(b"\xff\x00garbage")
    assert result.dead_letters[0].payload == b"\xff\x00garbage"
    assert "not JSON" in result.dead_letters[0].reason


def test_a_bad_tag_id_in_the_topic_is_refused() -> None:
    result = decode({"temp_c": 1}, topic="tags/bad tag!/telemetry")
    assert "tag id" in result.dead_letters[0].reason


def test_other_topics_are_not_this_decoders() -> None:
    assert NativeDecoder().decode("tags/t/status", b"online", NOW) is None
    assert NativeDecoder("fleet").decode(TOPIC, b"{}", NOW) is None
