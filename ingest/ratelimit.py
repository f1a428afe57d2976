"""Per-tag fairness: a tag that floods readings cannot take more than its share of the
gateway.

Each tag may send `rate_per_s` messages a second, sustained, and `burst` at once above that
(an offline buffer uploaded message by message). A message over that is dropped before it
is judged or stored, where a reading costs most. The excess is counted
(`boomerang_ingest_rate_limited_total`) and a sample of it dead-lettered (cause
`rate_limited`): at most one letter per tag every `SAMPLE_EVERY_S`, saying how many were
dropped since the last, so that a flood cannot fill the dead-letter store either.

The clock is the messages' own reading time, not their arrival: when the gateway comes
back from an outage the broker hands it each tag's backlog in seconds, minutes or hours of
readings at once, and those arrive far above any rate while their readings are exactly as
far apart as the tag sent them. A reading without a time of its own takes its arrival; one
older than the tag's newest counts at the newest; and one older than `backlog_s` before its
arrival (the broker's session expiry: no backlog it keeps is older) counts as that old, so
that times made up from far in the past cannot buy a tag more room than a backlog would.
Only fresh readings count (a redelivered duplicate costs nothing), and a batch that fails
gives its messages' room back, so that its redelivery is not limited for having come twice.

The generic cell rate algorithm keeps two floats per tag: the reading time at which its
bucket would be empty, and the newest reading time it has seen. A bucket whose time has
passed is a full one, so it can be forgotten, which bounds the memory to the tags sending
now.
"""

from __future__ import annotations

import time
from datetime import datetime

from ingest import _metrics
from ingest.readings import DeadLetter

SAMPLE_EVERY_S = 10.0
MAX_TAGS = 500_000
"""Tags followed at once, before the idle ones are forgotten."""


class TagRateLimiter:
    def __init__(self, rate_per_s: float, burst: int, *, backlog_s: float = 86_400,
                 max_tags: int = MAX_TAGS) -> None:
        self._interval = 1.0 / rate_per_s
        self._backlog_s = backlog_s
        self._tolerance = (burst - 1) * self._interval
        self._rate_per_s, self._burst = rate_per_s, burst
        self._max_tags = max_tags
        self._buckets: dict[str, tuple[float, float]] = {}  # tag: (empty at, newest)
        self._dropped: dict[str, tuple[float, int]] = {}  # tag: (sampled at, dropped since)

    def allows(self, tag_id: str, at: float, arrival: float) -> bool:
        """Whether the tag's message with reading time `at`, arrived at `arrival` (epoch
        seconds), is within its rate."""
        if at < arrival - self._backlog_s:
            at = arrival - self._backlog_s
        bucket = self._buckets.get(tag_id)
        if bucket is None:
            empty_at, now = at, at
        else:
            empty_at, newest = bucket
            now = at if at > newest else newest
            if empty_at < now:
                empty_at = now
            elif empty_at - now > self._tolerance:
                return False
        self._buckets[tag_id] = (empty_at + self._interval, now)
        if len(self._buckets) > self._max_tags:
            self._forget_idle()
        return True

    def refund(self, tag_id: str) -> None:
        """Give back the room one allowed message took: it was not handed off after all."""
        bucket = self._buckets.get(tag_id)
        if bucket is not None:
            self._buckets[tag_id] = (bucket[0] - self._interval, bucket[1])

    def drop(self, tag_id: str, topic: str, payload: bytes,
             received_at: datetime) -> DeadLetter | None:
        """Count a message over the rate; returns the dead letter of the sample, if it is
        one."""
        _metrics.RATE_LIMITED.inc()
        now = time.monotonic()
        sampled_at, since = self._dropped.get(tag_id, (now - SAMPLE_EVERY_S, 0))
        if now - sampled_at < SAMPLE_EVERY_S:
            self._dropped[tag_id] = (sampled_at, since + 1)
            return None
        self._dropped[tag_id] = (now, 0)
        more = f" and {since} more since the last sample" if since else ""
        return DeadLetter(
            topic=topic, payload=payload, received_at=received_at, tag_id=tag_id,
            cause="rate_limited",
            reason=f"over the tag's rate ({self._rate_per_s:g} messages a second of reading "
                   f"time, bursts of {self._burst}: BOOMERANG_TAG_RATE_MAX_PER_S, "
                   f"BOOMERANG_TAG_RATE_BURST): this message{more} dropped")

    def _forget_idle(self) -> None:
        now = time.time()
        self._buckets = {t: bucket for t, bucket in self._buckets.items() if bucket[0] > now}
        if len(self._buckets) > self._max_tags // 2:
            # Most tags are sending right now: limiting none for a moment beats growing
            # (and beats pruning again at the next message).
            self._buckets.clear()
        monotonic = time.monotonic()
        self._dropped = {t: entry for t, entry in self._dropped.items()
                         if monotonic - entry[0] < SAMPLE_EVERY_S}
