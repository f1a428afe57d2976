"""Every way a message is refused has its cause, the short stable name dead letters are
counted by (`boomerang_ingest_dead_letters_total{cause}`, the health dashboard)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from ingest.decoders import NativeDecoder, OwnTracksDecoder, ThingsStackDecoder
from ingest.readings import DEAD_LETTER_CAUSES

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
TTS = "v3/app@ttn/devices/dev-1/up"


@pytest.mark.parametrize(("decoder", "topic", "payload", "cause"), [
    (NativeDecoder("tags"), "tags/bad tag/telemetry", b"{}", "bad_tag_id"),
    (NativeDecoder("tags"), "tags/t1/telemetry", b"{" + b" " * 300_000 + b"}", "too_large"),
    (NativeDecoder("tags"), "tags/t1/telemetry",
     orjson.dumps({"readings": [{"temp_c": 1}] * 1001}), "too_large"),
    (NativeDecoder("tags"), "tags/t1/telemetry", b"{temp", "not_json"),
    (NativeDecoder("tags"), "tags/t1/telemetry", b'{"readings": 5}', "bad_format"),
    (NativeDecoder("tags"), "tags/t1/telemetry", b'{"temp_c": 900}', "invalid_reading"),
    (OwnTracksDecoder(), "owntracks/u/d", b"[]", "bad_format"),
    (OwnTracksDecoder(), "owntracks/u/d", b'{"_type": "location", "lat": 1, "lon": 2}',
     "bad_format"),
    (ThingsStackDecoder(), TTS, b'{"uplink_message": {}}', "bad_format"),
    (ThingsStackDecoder(), TTS,
     b'{"uplink_message": {"decoded_payload": {"temp_c": 900}}}', "invalid_reading"),
])
def test_each_refusal_names_its_cause(decoder: object, topic: str, payload: bytes,
                                      cause: str) -> None:
    decoded = decoder.decode(topic, payload, NOW)  # type: ignore[attr-defined]
    assert decoded is not None
    assert [letter.cause for letter in decoded.dead_letters] == [cause]
    assert cause in DEAD_LETTER_CAUSES
