"""Decoders turn one MQTT message into readings and dead letters; one module per tag format."""

from ingest.decoders._base import (
    CONTRACT_BOUNDS,
    MAX_BATCH_READINGS,
    MAX_MESSAGE_BYTES,
    Decoded,
    Decoder,
    ReadingBounds,
)
from ingest.decoders.native import NativeDecoder
from ingest.decoders.owntracks import OwnTracksDecoder
from ingest.decoders.things_stack import ThingsStackDecoder

__all__ = [
    "CONTRACT_BOUNDS",
    "MAX_BATCH_READINGS",
    "MAX_MESSAGE_BYTES",
    "Decoded",
    "Decoder",
    "NativeDecoder",
    "OwnTracksDecoder",
    "ReadingBounds",
    "ThingsStackDecoder",
]
