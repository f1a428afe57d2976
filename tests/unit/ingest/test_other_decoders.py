"""OwnTracks and The Things Stack v3, with the formats' documented examples as fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from ingest.decoders import OwnTracksDecoder, ThingsStackDecoder

EXAMPLES = Path(__file__).resolve().parents[3] / "ingest" / "decoders" / "examples"
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
OWNTRACKS = (EXAMPLES / "owntracks_location.json").read_bytes()
UPLINK = (EXAMPLES / "things_stack_uplink.json").read_bytes()
UPLINK_TOPIC = "v3/returns@acme/devices/pallet-tag-17/up"


def test_an_owntracks_location_becomes_a_reading_of_user_device() -> None:
    result = OwnTracksDecoder().decode("owntracks/anna/phone", OWNTRACKS, NOW)
    assert result is not None and not result.dead_letters
    (reading,) = result.readings
    assert reading.tag_id == "anna-phone"
    assert reading.ts == datetime.fromtimestamp(1795940100, tz=UTC)
    assert reading.values == {"lat": 52.52, "lon": 13.405, "accuracy_m": 14.0,
                              "speed_kmh": 37.0, "battery_pct": 81.0}


def test_other_owntracks_types_are_skipped_without_a_dead_letter() -> None:
    for message in ({"_type": "transition", "event": "enter", "tst": 1}, {"_type": "lwt"}):
        result = OwnTracksDecoder().decode("owntracks/anna/phone", orjson.dumps(message), NOW)
        assert result is not None and not result.readings and not result.dead_letters


def test_an_owntracks_location_out_of_range_is_dead_lettered() -> None:
    bad = orjson.dumps({"_type": "location", "lat": 95.0, "lon": 13.0, "tst": 1795940100})
    result = OwnTracksDecoder().decode("owntracks/anna/phone", bad, NOW)
    assert result is not None and "lat" in result.dead_letters[0].reason
    missing = orjson.dumps({"_type": "location", "lat": 52.0, "lon": 13.0})
    result = OwnTracksDecoder().decode("owntracks/anna/phone", missing, NOW)
    assert result is not None and "tst" in result.dead_letters[0].reason


def test_a_things_stack_uplink_uses_received_at_and_the_frame_counter() -> None:
    result = ThingsStackDecoder().decode(UPLINK_TOPIC, UPLINK, NOW)
    assert result is not None and not result.dead_letters
    (reading,) = result.readings
    assert reading.tag_id == "pallet-tag-17"
    assert reading.ts == datetime(2026, 11, 29, 8, 15, 0, 118012, tzinfo=UTC)
    assert reading.seq == 812
    assert reading.values["temp_c"] == 6.4 and reading.position == (52.52, 13.405)


def test_a_ts_in_the_decoded_payload_wins() -> None:
    message = orjson.loads(UPLINK)
    message["uplink_message"]["decoded_payload"]["ts"] = "2026-11-29T07:00:00Z"
    result = ThingsStackDecoder().decode(UPLINK_TOPIC, orjson.dumps(message), NOW)
    assert result is not None
    assert result.readings[0].ts == datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


def test_an_uplink_without_decoded_payload_is_dead_lettered_with_a_hint() -> None:
    message = orjson.loads(UPLINK)
    del message["uplink_message"]["decoded_payload"]
    result = ThingsStackDecoder().decode(UPLINK_TOPIC, orjson.dumps(message), NOW)
    assert result is not None and "payload formatter" in result.dead_letters[0].reason


def test_decoders_leave_other_topics_alone() -> None:
    assert OwnTracksDecoder().decode("tags/t/telemetry", OWNTRACKS, NOW) is None
    assert ThingsStackDecoder().decode("v3/a/devices/d/join", UPLINK, NOW) is None
