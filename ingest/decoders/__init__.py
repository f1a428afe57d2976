"""Decoders turn one MQTT message into readings and dead letters; one module per tag format."""

from ingest.decoders._base import MAX_BATCH_READINGS, MAX_MESSAGE_BYTES, Decoded, Decoder
from ingest.decoders.native import NativeDecoder
from ingest.decoders.owntracks import OwnTracksDecoder
from ingest.decoders.things_stack import ThingsStackDecoder

__all__ = [
    "MAX_BATCH_READINGS",
    "MAX_MESSAGE_BYTES",
    "Decoded",
    "Decoder",
    "NativeDecoder",
    "OwnTracksDecoder",
    "ThingsStackDecoder",
]
