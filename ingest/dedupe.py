"""Drops readings whose (tag_id, seq) was seen before: QoS 1 redeliveries and replayed buffers."""

from __future__ import annotations

from collections import OrderedDict, deque


class SeqDeduplicator:
    """Remembers the last `window` sequence numbers of each of the last `max_tags` tags.

    A window, not a high-water mark, because readings arrive out of order (a tag uploading
    its offline buffer) and an older seq that was never seen is not a duplicate."""

    def __init__(self, window: int = 1024, max_tags: int = 200_000) -> None:
        self._window = window
        self._max_tags = max_tags
        self._tags: OrderedDict[str, tuple[set[int], deque[int]]] = OrderedDict()

    def seen_before(self, tag_id: str, seq: int) -> bool:
        """True for a duplicate; otherwise remembers the pair and returns False."""
        entry = self._tags.get(tag_id)
        if entry is None:
            entry = (set(), deque())
            self._tags[tag_id] = entry
            if len(self._tags) > self._max_tags:
                self._tags.popitem(last=False)
        else:
            self._tags.move_to_end(tag_id)
        seen, order = entry
        if seq in seen:
            return True
        seen.add(seq)
        order.append(seq)
        if len(order) > self._window:
            seen.discard(order.popleft())
        return False
