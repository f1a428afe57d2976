"""OwnTracks location messages: `owntracks/{user}/{device}`, tag id `{user}-{device}`.

Only `_type: "location"` is ingested; other message types (transitions, cards, waypoints,
last wills) are not readings and are skipped without a dead letter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from gateway.domain import DeadLetter
from ingest.decoders._base import MAX_MESSAGE_BYTES, Decoded
from ingest.decoders.native import TAG_ID, reading_from_object

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
        tag_id = f"{parts[1]}-{parts[2]}"
        result = Decoded()

        def reject(reason: str) -> Decoded:
            result.dead_letters.append(DeadLetter(
                topic=topic, payload=payload, reason=f"OwnTracks: {reason}",
                received_at=received_at, tag_id=tag_id if TAG_ID.fullmatch(tag_id) else None))
            return result

        if not TAG_ID.fullmatch(tag_id):
            return reject(f"user and device must make a tag id [A-Za-z0-9_.-]{{1,64}}: {tag_id!r}")
        if len(payload) > MAX_MESSAGE_BYTES:
            return reject(f"message is {len(payload)} bytes, more than the 256 KiB allowed")
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return reject(f"not JSON: {exc}")
        if not isinstance(message, dict):
            return reject("a message must be a JSON object")
        if message.get("_type") != "location":
            return result
        reading: dict[str, Any] = {canon: message[field] for field, canon in FIELDS.items()
                                   if field in message}
        tst = message.get("tst")
        if not isinstance(tst, int) or isinstance(tst, bool):
            return reject("tst: an integer of epoch seconds is required")
        reading["ts"] = tst * 1000
        try:
            parsed, _ = reading_from_object(tag_id, reading, received_at)
        except ValueError as exc:
            return reject(str(exc))
        result.readings.append(parsed)
        result.unknown_fields = len(set(message) - set(FIELDS) - {"_type", "tst"})
        return result
