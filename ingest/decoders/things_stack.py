"""The Things Stack v3 uplinks: `v3/{app}@{tenant}/devices/{device_id}/up`, tag id the
device id; `uplink_message.decoded_payload` (from the application's payload formatter) holds
canonical field names. The reading's time is its own `ts` if the payload has one, else
`uplink_message.received_at`; its `seq` is the payload's, else the LoRaWAN frame counter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ingest.decoders._base import CONTRACT_BOUNDS, Decoded, Message, ReadingBounds
from ingest.decoders.native import reading_from_object


class ThingsStackDecoder:
    def __init__(self, bounds: ReadingBounds = CONTRACT_BOUNDS) -> None:
        self.bounds = bounds

    def topic_filters(self) -> list[str]:
        return ["v3/+/devices/+/up"]

    def tag_id_of(self, topic: str) -> str | None:
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != "v3" or parts[2] != "devices" or parts[4] != "up":
            return None
        return parts[3]

    def decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded | None:
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != "v3" or parts[2] != "devices" or parts[4] != "up":
            return None
        message = Message(topic, payload, received_at, tag_id=parts[3],
                          format_name="The Things Stack: ")
        reject, result, tag_id = message.reject, message.result, message.tag_id
        result.speaker = f"things_stack:{parts[1]}"
        if "@" not in parts[1]:
            # Only an application's own login, `{app}@{tenant}`, may write here (the ACL's
            # `v3/%u/...`); a tag's login, which has no `@`, must not speak for devices.
            return reject(f"application {parts[1]!r} is not {{app}}@{{tenant}}",
                          cause="bad_tag_id")
        ok, document = message.parse_json("device id")
        if not ok:
            return result
        uplink = document.get("uplink_message") if isinstance(document, dict) else None
        if not isinstance(uplink, dict):
            return reject("uplink_message: missing", cause="bad_format")
        decoded = uplink.get("decoded_payload")
        if not isinstance(decoded, dict):
            return reject("uplink_message.decoded_payload: missing (is a payload formatter "
                          "set for the application?)", cause="bad_format")
        reading: dict[str, Any] = dict(decoded)
        if "ts" not in reading:
            reading["ts"] = uplink.get("received_at") or document.get("received_at")
        if "seq" not in reading and isinstance(uplink.get("f_cnt"), int):
            reading["seq"] = uplink["f_cnt"]
        try:
            parsed, unknown = reading_from_object(tag_id, reading, received_at, self.bounds)
        except ValueError as exc:
            return reject(f"decoded_payload: {exc}")
        result.readings.append(parsed)
        result.unknown_fields = unknown
        return result
