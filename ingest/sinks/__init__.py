"""Telemetry sinks (SQLite, InfluxDB v1, v2) behind one batcher and one serialiser, and the
readers that serve the stored telemetry back (SQLite, InfluxQL)."""

from ingest.sinks._base import SinkRejected, SinkUnavailable, TelemetrySink
from ingest.sinks._batcher import Done, PointBatcher
from ingest.sinks._points import Point, epoch_us, telemetry_point, to_line
from ingest.sinks._reader import (
    LatestReading,
    Position,
    StoredReading,
    TelemetryReader,
    TelemetryUnavailable,
    TrackReadings,
)
from ingest.sinks._spool import Spool
from ingest.sinks.influx_v1 import InfluxV1Sink
from ingest.sinks.influx_v2 import InfluxV2Sink
from ingest.sinks.influxql import InfluxQLTelemetryReader
from ingest.sinks.sqlite import SqliteTelemetryReader, SqliteTelemetrySink

__all__ = [
    "Done",
    "InfluxQLTelemetryReader",
    "InfluxV1Sink",
    "InfluxV2Sink",
    "LatestReading",
    "Point",
    "PointBatcher",
    "Position",
    "SinkRejected",
    "SinkUnavailable",
    "Spool",
    "SqliteTelemetryReader",
    "SqliteTelemetrySink",
    "StoredReading",
    "TelemetryReader",
    "TelemetrySink",
    "TelemetryUnavailable",
    "TrackReadings",
    "epoch_us",
    "telemetry_point",
    "to_line",
]
