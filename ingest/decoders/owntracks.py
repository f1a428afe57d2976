"""OwnTracks location messages: `owntracks/{user}/{device}`, tag id `{user}-{device}`.

Only `_type: "location"` is ingested; other message types (transitions, cards, waypoints,
last wills) are not readings and are skipped without a dead letter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ingest.decoders._base import Decoded, Message
from ingest.decoders.native import reading_from_object

# OwnTracks field -> canonical field. `tst` is epoch seconds; zero values may be left out.
FIELDS = {"lat": "lat", "lon": "lon", "acc": "accuracy_m", "vel": "speed_kmh",
          "batt": "battery_pct"}


class OwnTracksDecoder:
    def topic_filters(self) -> list[str]:
        return ["owntracks/+/+"]

    def decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded | None:
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "owntracks":
            return None
        message = Message(topic, payload, received_at, tag_id=f"{parts[1]}-{parts[2]}",
                          format_name="OwnTracks: ")
        reject, result, tag_id = message.reject, message.result, message.tag_id
        ok, document = message.parse_json("tag id ({user}-{device})")
        if not ok:
            return result
        if not isinstance(document, dict):
            return reject("a message must be a JSON object", cause="bad_format")
        if document.get("_type") != "location":
            return result
        reading: dict[str, Any] = {canon: document[field] for field, canon in FIELDS.items()
                                   if field in document}
        tst = document.get("tst")
        if not isinstance(tst, int) or isinstance(tst, bool):
            return reject("tst: an integer of epoch seconds is required", cause="bad_format")
        reading["ts"] = tst * 1000
        try:
            parsed, _ = reading_from_object(tag_id, reading, received_at)
        except ValueError as exc:
            return reject(str(exc))
        result.readings.append(parsed)
        result.unknown_fields = len(set(document) - set(FIELDS) - {"_type", "tst"})
        return result
