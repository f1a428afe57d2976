"""Telemetry sinks (SQLite, InfluxDB v1, v2) behind one batcher and one serialiser."""

from ingest.sinks._base import SinkRejected, TelemetrySink
from ingest.sinks._batcher import Done, PointBatcher
from ingest.sinks._points import Point, epoch_us, telemetry_point, to_line
from ingest.sinks._spool import Spool
from ingest.sinks.influx_v1 import InfluxV1Sink
from ingest.sinks.influx_v2 import InfluxV2Sink
from ingest.sinks.sqlite import SqliteTelemetrySink

__all__ = [
    "Done",
    "InfluxV1Sink",
    "InfluxV2Sink",
    "Point",
    "PointBatcher",
    "SinkRejected",
    "Spool",
    "SqliteTelemetrySink",
    "TelemetrySink",
    "epoch_us",
    "telemetry_point",
    "to_line",
]
