"""InfluxDB's v2 write API through the influxdb-client library (InfluxDB 1.8+, 2.x, 3.x)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from ingest.sinks._base import SinkRejected, SinkUnavailable
from ingest.sinks._points import Point, to_line
from ingest.sinks.influx_v1 import REFUSALS, refusal_reason

log = logging.getLogger(__name__)


class InfluxV2Sink:
    name = "influx_v2"

    def __init__(self, url: str, org: str, bucket: str, token: str) -> None:
        self._org, self._bucket = org, bucket
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=30_000)
        # The client's own batching thread would acknowledge before the write lands; our
        # batcher already batches, so each batch is one synchronous call in a worker thread.
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    async def ping(self) -> bool:
        return await asyncio.to_thread(self._client.ping)

    async def write(self, points: Sequence[Point]) -> None:
        lines = [to_line(point) for point in points]
        try:
            await asyncio.to_thread(
                self._write_api.write,
                bucket=self._bucket,
                org=self._org,
                record=lines,
                write_precision=WritePrecision.US,  # type: ignore[arg-type]  # a str constant
            )
        except ApiException as exc:
            if exc.status in REFUSALS:
                log.info("InfluxDB refused a write of %d points: %s", len(points),
                         str(exc.body).strip()[:500])
                raise SinkRejected(
                    f"InfluxDB refused it ({refusal_reason(str(exc.body))})") from exc
            raise SinkUnavailable(f"InfluxDB answered {exc.status}: {exc.reason}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise SinkUnavailable(f"InfluxDB did not answer: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
