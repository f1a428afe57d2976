"""Ingest's Prometheus counters."""

from prometheus_client import Counter, Gauge

MESSAGES = Counter("boomerang_ingest_messages", "MQTT messages received")
READINGS = Counter("boomerang_ingest_readings", "Readings accepted (valid, not duplicate)")
DUPLICATES = Counter("boomerang_ingest_duplicates", "Readings dropped as (tag_id, seq) duplicates")
DEAD_LETTERS = Counter("boomerang_ingest_dead_letters", "Readings or messages dead-lettered",
                       ["cause"])
DEAD_LETTERS_EVICTED = Counter(
    "boomerang_ingest_dead_letters_evicted",
    "Oldest dead letters deleted to keep the store within its limits", ["limit"])
UNKNOWN_FIELDS = Counter("boomerang_ingest_unknown_fields",
                         "Extra reading fields dropped (past the limits of docs/tags.md)")
RATE_LIMITED = Counter("boomerang_ingest_rate_limited",
                       "Messages dropped for being over their tag's rate")
POINTS_WRITTEN = Counter("boomerang_sink_points_written", "Points stored by the telemetry sink")
BUFFERED = Gauge("boomerang_sink_points_buffered", "Points waiting for the telemetry sink")
CONNECTED = Gauge("boomerang_mqtt_connected", "1 while connected to the MQTT broker")
SPOOLED = Gauge("boomerang_spool_points", "Points waiting in the on-disk spool")
SPOOL_FULL = Gauge("boomerang_spool_full", "1 while the spool is full and nothing is acknowledged")
PARTITION_MESSAGES = Counter("boomerang_cluster_partition_messages",
                             "Messages of each partition this gateway judged", ["partition"])
RELAYED = Counter("boomerang_cluster_relayed_messages",
                  "MQTT messages this gateway relayed into JetStream")
