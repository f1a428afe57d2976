"""Validation of the native format against the contract's rules and ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ingest.decoders import MAX_MESSAGE_BYTES, NativeDecoder, ReadingBounds

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


def test_extra_fields_are_kept_numbers_as_floats() -> None:
    result = decode({"temp_c": 1, "firmware": "1.2", "rssi": -70, "door_open": True})
    (reading,) = result.readings
    assert reading.extra == (("firmware", "1.2"), ("rssi", -70.0), ("door_open", True))
    assert isinstance(dict(reading.extra)["rssi"], float) and result.unknown_fields == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("nested", {"a": 1}), ("listed", [1, 2]), ("nothing", None),
        ("long_text", "x" * 65), ("control", "a\nb"), ("spaced", "a\u2028b"),
        ("_private", 1), ("9lives", 1), ("k" * 33, 1), ("dash-key", 1), ("time", 1),
        ("tag_id", "other"), ("extra", 1),
    ],
)
def test_extra_fields_past_the_limits_are_dropped_and_counted(field: str, value: object) -> None:
    result = decode({"temp_c": 1, field: value})
    (reading,) = result.readings
    assert reading.extra == () and result.unknown_fields == 1


def test_an_extra_field_at_the_limits_is_kept() -> None:
    key, text = "k" * 32, "x" * 64
    (reading,) = decode({"temp_c": 1, key: text, "huge": 1e308}).readings
    assert reading.extra == ((key, text), ("huge", 1e308))


def test_at_most_sixteen_extra_fields_are_kept() -> None:
    document = {"temp_c": 1, **{f"f{n}": n for n in range(20)}}
    result = decode(document)
    (reading,) = result.readings
    assert [key for key, _ in reading.extra] == [f"f{n}" for n in range(16)]
    assert result.unknown_fields == 4


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


@pytest.mark.parametrize(
    ("ts", "why"),
    [
        ("0001-01-01T00:00:00+14:00", "out of range in UTC"),  # OverflowError, once fatal
        ("9999-12-31T23:59:59-14:00", "out of range in UTC"),
        ("1999-12-31T23:59:59Z", "before 2000-01-01"),
        (946684799999, "before 2000-01-01"),
        (-2**63, "before 2000-01-01"),
        (2**63 - 1, "in the future"),
        (18446744073709551615, "in the future"),
        ("2026-11-29T08:05:01Z", "in the future"),
    ],
)
def test_times_outside_the_window_are_refused_with_a_reason(ts: object, why: str) -> None:
    result = decode({"ts": ts, "temp_c": 4})
    assert not result.readings
    (letter,) = result.dead_letters
    assert "ts: " in letter.reason and why in letter.reason and letter.cause == "invalid_reading"


def test_the_window_edges_are_inside() -> None:
    assert decode({"ts": "2000-01-01T00:00:00Z", "temp_c": 4}).readings
    assert decode({"ts": 946684800000, "temp_c": 4}).readings
    assert decode({"ts": "2026-11-29T08:05:00Z", "temp_c": 4}).readings


def test_the_window_is_configurable() -> None:
    bounds = ReadingBounds(ts_min=datetime(2020, 1, 1, tzinfo=UTC),
                           max_future=timedelta(seconds=10))
    decoder = NativeDecoder(bounds=bounds)
    early = decoder.decode(TOPIC, orjson.dumps({"ts": "2019-06-01T00:00:00Z", "temp_c": 1}), NOW)
    ahead = decoder.decode(TOPIC, orjson.dumps({"ts": "2026-11-29T08:00:11Z", "temp_c": 1}), NOW)
    assert early is not None and "before 2020-01-01" in early.dead_letters[0].reason
    assert ahead is not None and "10 s in the future" in ahead.dead_letters[0].reason


@pytest.mark.parametrize("seq", [2**63, 2**64 - 1, -1])
def test_seq_outside_a_signed_64_bit_integer_is_refused(seq: int) -> None:
    result = decode({"seq": seq, "temp_c": 4})
    assert not result.readings and "seq" in result.dead_letters[0].reason


def test_the_largest_seq_is_accepted() -> None:
    (reading,) = decode({"seq": 2**63 - 1, "temp_c": 4}).readings
    assert reading.seq == 2**63 - 1


def test_a_batch_reading_nested_too_deep_to_write_again_is_dead_lettered_alone() -> None:
    deep = b"[" * 300 + b"]" * 300
    result = decode(b'{"readings": [{"temp_c": 1}, ' + deep + b"]}")
    assert [r.values["temp_c"] for r in result.readings] == [1]
    (letter,) = result.dead_letters
    assert letter.reason.startswith("reading 1:") and b"nested too deeply" in letter.payload
