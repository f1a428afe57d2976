"""InfluxDB's v2 write API through the influxdb-client library (InfluxDB 1.8+, 2.x, 3.x)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from ingest.sinks._base import SinkRejected
from ingest.sinks._points import Point, to_line


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
            if exc.status == 400:
                raise SinkRejected(f"InfluxDB refused the batch: {exc.body}") from exc
            raise

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
