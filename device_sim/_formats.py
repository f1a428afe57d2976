"""The four ways a simulated tag speaks the contract (native, native batches, OwnTracks, The
Things Stack): topic, login and payloads, including the broken ones the faults need.

Each encoder also says what the gateway will decode from what it wrote (WireReading), so
that the ground truth is computed from exactly what crosses the wire (OwnTracks rounds the
battery to a whole percent, for instance)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from device_sim._readings import rfc3339
from device_sim._truth import WireReading
from device_sim.scenario import FleetGroup

# A native batch is split so that a message stays well under the contract's 256 KiB.
BATCH_CHUNK = 500
MAX_MESSAGE_BYTES = 256 * 1024
MALFORMED_VARIANTS = ("invalid_json", "lat_without_lon", "out_of_range", "not_an_object")
# OwnTracks location fields and the canonical names the gateway maps them to.
_OWNTRACKS_FIELDS = (("lat", "lat"), ("lon", "lon"), ("acc", "accuracy_m"),
                     ("vel", "speed_kmh"), ("batt", "battery_pct"))
_OWNTRACKS_INTEGERS = frozenset({"acc", "vel", "batt"})


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reading about to be encoded: its own time (the tag's clock), its seq and values."""

    ts: datetime
    seq: int
    values: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Encoded:
    payload: bytes
    readings: tuple[WireReading, ...]


@dataclass(frozen=True, slots=True)
class TagWire:
    """How one tag publishes."""

    tag_id: str
    format: str
    username: str
    topic: str
    batch: bool

    @classmethod
    def of(cls, group: FleetGroup, number: int) -> TagWire:
        tag_id = group.tag_id(number)
        user = group.username(number)
        if group.format == "owntracks":
            topic = f"owntracks/{user}/{group.owntracks_device}"
        elif group.format == "things_stack":
            topic = f"v3/{group.tts_login}/devices/{tag_id}/up"
        else:
            topic = f"tags/{tag_id}/telemetry"
        return cls(tag_id, group.format, user, topic, group.format == "native_batch")

    @property
    def one_per_message(self) -> bool:
        """OwnTracks and LoRaWAN uplinks carry one reading each."""
        return self.format in ("owntracks", "things_stack")

    def encode(self, readings: Sequence[Outgoing], sent_at: datetime) -> list[Encoded]:
        """The messages that carry `readings`, all published at `sent_at`."""
        if self.format == "owntracks":
            return [self._owntracks(r) for r in readings]
        if self.format == "things_stack":
            return [self._things_stack(r, sent_at) for r in readings]
        messages = []
        for i in range(0, len(readings), BATCH_CHUNK):
            chunk = readings[i:i + BATCH_CHUNK]
            wire = tuple(WireReading(r.ts, r.seq, dict(r.values)) for r in chunk)
            if len(chunk) == 1 and not self.batch:
                document: Any = _native_object(chunk[0])
            else:
                document = {"readings": [_native_object(r) for r in chunk]}
            messages.append(Encoded(_dumps(document), wire))
        return messages

    # OwnTracks ---------------------------------------------------------------------------

    def _owntracks_document(self, reading: Outgoing) -> tuple[dict[str, Any], dict[str, float]]:
        document: dict[str, Any] = {"_type": "location"}
        decoded: dict[str, float] = {}
        for field, canonical in _OWNTRACKS_FIELDS:
            value = reading.values.get(canonical)
            if value is None:
                continue
            if field in _OWNTRACKS_INTEGERS:
                value = round(value)
            document[field] = value
            decoded[canonical] = float(value)
        document["tst"] = int(reading.ts.timestamp())
        document["tid"] = self.username[-2:]
        document["conn"] = "m"
        return document, decoded

    def _owntracks(self, reading: Outgoing) -> Encoded:
        document, decoded = self._owntracks_document(reading)
        ts = datetime.fromtimestamp(document["tst"], tz=reading.ts.tzinfo)
        return Encoded(_dumps(document), (WireReading(ts, None, decoded),))

    # The Things Stack --------------------------------------------------------------------

    def _things_stack_document(self, reading: Outgoing, sent_at: datetime,
                               decoded: dict[str, Any]) -> dict[str, Any]:
        application = self.topic.split("/")[1].split("@")[0]
        received = rfc3339(sent_at)
        return {
            "end_device_ids": {
                "device_id": self.tag_id,
                "application_ids": {"application_id": application},
                "dev_eui": hashlib.blake2b(self.tag_id.encode(), digest_size=8)
                .hexdigest().upper(),
            },
            "received_at": received,
            "uplink_message": {
                "f_port": 15,
                "f_cnt": reading.seq,
                "decoded_payload": decoded,
                "rx_metadata": [{"gateway_ids": {"gateway_id": "sim-gw-1"}, "rssi": -97,
                                 "snr": 7.5}],
                "received_at": received,
            },
        }

    def _things_stack(self, reading: Outgoing, sent_at: datetime) -> Encoded:
        decoded: dict[str, Any] = dict(reading.values)
        # The network server stamps the uplink; a reading sent late (or by a device whose
        # clock is off) carries its own time, which the gateway prefers.
        if reading.ts != sent_at:
            decoded["ts"] = rfc3339(reading.ts)
        document = self._things_stack_document(reading, sent_at, decoded)
        return Encoded(_dumps(document),
                       (WireReading(reading.ts, reading.seq, dict(reading.values)),))

    # Faults ------------------------------------------------------------------------------

    def malformed(self, variant: int, reading: Outgoing, sent_at: datetime) -> bytes:
        """A payload the gateway must dead-letter, cycling through MALFORMED_VARIANTS."""
        kind = MALFORMED_VARIANTS[variant % len(MALFORMED_VARIANTS)]
        if kind == "not_an_object":
            return b'[{"temp_c": 5.0}]' if self.format != "owntracks" else b'"location"'
        values = {k: v for k, v in reading.values.items()}
        if kind == "lat_without_lon":
            values.pop("lon", None)
            values.setdefault("lat", 52.52)
        elif kind == "out_of_range":
            if self.format == "owntracks":
                values["battery_pct"] = 140
            else:
                values["temp_c"] = 400.0
        # A malformed reading carries no seq: it must not take a number a good one needs.
        bad = Outgoing(reading.ts, reading.seq, values)
        if self.format == "owntracks":
            document: Any = self._owntracks_document(bad)[0]
        elif self.format == "things_stack":
            document = self._things_stack_document(bad, sent_at, dict(values))
            del document["uplink_message"]["f_cnt"]
        else:
            document = {"ts": rfc3339(reading.ts), **values}
        raw = _dumps(document)
        if kind == "invalid_json":
            # Cut short, as by a tag that lost power mid-write.
            return raw[: len(raw) // 2]
        return raw

    def oversized(self, reading: Outgoing, sent_at: datetime) -> bytes:
        """A message over the contract's 256 KiB: a tag dumping its debug log."""
        log = "".join(f"{i:06d} sensor self-test ok\n" for i in range(12_000))
        if self.format == "owntracks":
            document: Any = {**self._owntracks_document(reading)[0], "desc": log}
        elif self.format == "things_stack":
            document = self._things_stack_document(reading, sent_at, dict(reading.values))
            document["uplink_message"]["frm_payload"] = log
        else:
            document = {**_native_object(reading), "debug_log": log}
        payload = _dumps(document)
        assert len(payload) > MAX_MESSAGE_BYTES
        return payload

    def spoof(self, reading: Outgoing, sent_at: datetime) -> bytes:
        """A good-looking reading in this tag's format, as another tag would forge it."""
        if self.format == "owntracks":
            return _dumps(self._owntracks_document(reading)[0])
        if self.format == "things_stack":
            return _dumps(self._things_stack_document(reading, sent_at, dict(reading.values)))
        return _dumps(_native_object(reading))


def _native_object(reading: Outgoing) -> dict[str, Any]:
    return {"ts": rfc3339(reading.ts), "seq": reading.seq, **reading.values}


def _dumps(document: Any) -> bytes:
    return orjson.dumps(document)
