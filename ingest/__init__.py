"""Ingest: the MQTT consumer, decoders per tag format, dedupe, dead letters and telemetry sinks."""

from ingest.consumer import MqttConsumer
from ingest.deadletters import DeadLetterStore, StoredDeadLetter
from ingest.dedupe import SeqDeduplicator
from ingest.pipeline import IngestCounts, IngestPipeline

__all__ = [
    "DeadLetterStore",
    "IngestCounts",
    "IngestPipeline",
    "MqttConsumer",
    "SeqDeduplicator",
    "StoredDeadLetter",
]
