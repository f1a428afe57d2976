"""Load mode: a fixed number of contract messages, at the highest rate the broker accepts or
at a set rate, measuring its own publish rate so that a benchmark knows the publisher was
not the bottleneck.

One connection speaks for every tag (the broker must let its account write
`tags/+/telemetry`), and the messages are MQTT 3.1.1 QoS 1 PUBLISH packets encoded before
the clock starts and written back to back: a paho publisher manages about 10,000 QoS 1
messages a second here and cannot queue past 65,535, far below what a broker drains.
Messages are native JSON, one reading or `{"readings": [...]}` of `batch`, round-robin over
the tags, each tag's `seq` increasing and its readings one second apart, in range for the
`cold_chain` profile so that rules run but raise nothing.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

PACE_S = 0.01
TIMEOUT_S = 60.0


@dataclass(slots=True)
class LoadStream:
    """Pre-encoded PUBLISH packets, back to back, ready for one sendall."""

    data: bytes
    messages: int
    readings: int
    payload_bytes: int


@dataclass(slots=True)
class LoadResult:
    started: float  # perf_counter at the first byte
    started_wall: float  # time.time() at the first byte
    acked_s: float  # until the last PUBACK
    messages: int

    def figures(self) -> dict[str, Any]:
        return {"publisher_s": round(self.acked_s, 3),
                "publisher_messages_per_s": round(self.messages / self.acked_s, 1)}


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """MQTT 3.1.1 PUBLISH, QoS 1, not retained."""
    body = _utf8(topic) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + remaining_length(len(body)) + body


def connect_packet(client_id: str, user: str, password: str) -> bytes:
    """MQTT 3.1.1 CONNECT, clean session, user name and password, keep-alive 60 s."""
    variable = _utf8("MQTT") + bytes([4, 0xC2]) + (60).to_bytes(2, "big")
    body = variable + _utf8(client_id) + _utf8(user) + _utf8(password)
    return b"\x10" + remaining_length(len(body)) + body


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_tag_id(index: int) -> str:
    return f"tag-{index:06d}"


def _reading(tag: int, seq: int, ts: datetime) -> dict[str, Any]:
    """In range for cold_chain; moving a little each reading."""
    return {
        "ts": iso(ts),
        "seq": seq,
        "lat": round(48.0 + (tag % 500) * 0.01 + seq * 1e-5, 6),
        "lon": round(11.0 + (tag // 500 % 500) * 0.01 + seq * 1e-5, 6),
        "temp_c": round(4.0 + (tag * 7 + seq) % 30 * 0.1, 2),
        "battery_pct": round(max(20.0, 95.0 - seq * 0.01), 2),
    }


def build_load(messages: int, tags: int, batch: int, end: datetime,
               prefix: str = "tags") -> LoadStream:
    """`messages` messages round-robin over `tags` tags; each tag's readings one second
    apart, its last one at `end`. The same arguments give the same bytes."""
    per_tag = math.ceil(messages / tags) * batch
    start = end - timedelta(seconds=per_tag)
    packets = []
    payload_bytes = 0
    for i in range(messages):
        tag, rnd = i % tags, i // tags
        items = [_reading(tag, s, start + timedelta(seconds=s))
                 for s in range(rnd * batch, (rnd + 1) * batch)]
        payload = orjson.dumps(items[0] if batch == 1 else {"readings": items})
        payload_bytes += len(payload)
        packets.append(publish_packet(f"{prefix}/{load_tag_id(tag)}/telemetry", payload,
                                      i % 65535 + 1))
    return LoadStream(b"".join(packets), messages, messages * batch, payload_bytes)


def publish_load(host: str, port: int, stream: LoadStream, *, client_id: str, username: str,
                 password: str, rate: float | None = None) -> LoadResult:
    """Write the stream, at `rate` messages per second or as fast as the broker takes it;
    return once every message is acknowledged (PUBACK: 4 bytes each, the only thing the
    broker sends back). Blocking: run it in a thread."""
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(connect_packet(client_id, username, password))
        connack = sock.recv(4)
        if connack[:2] != b"\x20\x02" or connack[3] != 0:
            raise RuntimeError(f"the broker refused the load publisher: CONNACK {connack!r}")
        expected = 4 * stream.messages
        received = 0

        def read_acks() -> None:
            nonlocal received
            while received < expected:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                received += len(chunk)

        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        started, started_wall = time.perf_counter(), time.time()
        if rate is None:
            sock.sendall(stream.data)
        else:
            # Paced in 10 ms slices of the byte stream (messages are near enough one size;
            # a packet cut in two is just TCP to the broker).
            step = max(1, int(len(stream.data) / stream.messages * rate * PACE_S))
            for n, offset in enumerate(range(0, len(stream.data), step)):
                sock.sendall(stream.data[offset:offset + step])
                time.sleep(max(0.0, started + (n + 1) * PACE_S - time.perf_counter()))
        reader.join(TIMEOUT_S + stream.messages / (rate or 10_000))
        acked_s = time.perf_counter() - started
        if received < expected:
            raise RuntimeError(f"{received // 4} of {stream.messages} PUBACKs")
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    return LoadResult(started, started_wall, acked_s, stream.messages)
