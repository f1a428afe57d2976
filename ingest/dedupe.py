"""Drops readings whose (tag_id, seq) was seen before: QoS 1 redeliveries and replayed buffers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable


class SeqDeduplicator:
    """Remembers, for each of the last `max_tags` tags, which of the `window` sequence
    numbers up to the highest one seen have arrived.

    A window, not a high-water mark, because readings arrive out of order (a tag uploading
    its offline buffer) and an older seq that was never seen is not a duplicate. Per tag it
    is two integers, the highest seq and a bitmap of the window below it (bit i: seq
    `highest - i` seen): a set and a queue per tag took a kilobyte each, a fifth of the
    gateway's memory at 100,000 tags. A seq further than `window` below the highest is
    taken as new: stored again it lands on the same series and time (one point)."""

    def __init__(self, window: int = 1024, max_tags: int = 200_000) -> None:
        self._window = window
        self._all_seen = (1 << window) - 1
        self._max_tags = max_tags
        self._tags: OrderedDict[str, tuple[int, int]] = OrderedDict()  # highest, bitmap

    def seen_before(self, tag_id: str, seq: int) -> bool:
        """True for a duplicate; otherwise remembers the pair and returns False."""
        tags = self._tags
        entry = tags.get(tag_id)
        if entry is None:
            tags[tag_id] = (seq, 1)
            if len(tags) > self._max_tags:
                tags.popitem(last=False)
            return False
        tags.move_to_end(tag_id)
        highest, seen = entry
        if seq > highest:
            shift = seq - highest
            seen = ((seen << shift) | 1) & self._all_seen if shift < self._window else 1
            tags[tag_id] = (seq, seen)
            return False
        below = highest - seq
        if below >= self._window:
            return False
        bit = 1 << below
        if seen & bit:
            return True
        tags[tag_id] = (highest, seen | bit)
        return False

    def forget(self, tag_id: str, seq: int) -> None:
        """Unsee a pair: its reading was not handed off after all (the batch failed), so its
        redelivery must be taken as new, not dropped as a duplicate."""
        entry = self._tags.get(tag_id)
        if entry is None:
            return
        highest, seen = entry
        below = highest - seq
        if 0 <= below < self._window:
            self._tags[tag_id] = (highest, seen & ~(1 << below))

    def forget_tags(self, which: Callable[[str], bool]) -> None:
        """Unsee every pair of the tags `which` picks: a cluster's gateway taking a partition
        (back) over is given again what was not acknowledged, some of which it may have
        marked seen in an earlier turn without handing it off (its batch cut short)."""
        for tag_id in [tag_id for tag_id in self._tags if which(tag_id)]:
            del self._tags[tag_id]
