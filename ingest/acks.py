"""Acknowledging QoS 1 messages only once their readings are handed off, in the order the
messages arrived (MQTT requires PUBACKs in order)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence


class AckQueue:
    """One per MQTT connection. A message registers on arrival and gets a `done` callback;
    acknowledgements go out in arrival order as the callbacks come in. After the connection
    is lost, late callbacks send nothing: the broker redelivers those messages."""

    def __init__(self, send_ack: Callable[[int, int], object]) -> None:
        self._send_ack = send_ack
        self._pending: deque[list[int]] = deque()  # [mid, qos, done?]
        self.closed = False

    def __len__(self) -> int:
        return len(self._pending)

    def register_many(self, messages: Sequence[tuple[int, int]]) -> Callable[[], None]:
        """One callback for a batch of (mid, qos) messages, all handed off together."""
        entries = [[mid, qos, 0] for mid, qos in messages if qos > 0]
        if not entries:
            return _nothing
        self._pending.extend(entries)

        def done() -> None:
            for entry in entries:
                entry[2] = 1
            self._flush()

        return done

    def _flush(self) -> None:
        pending = self._pending
        while pending and pending[0][2]:
            mid, qos, _ = pending.popleft()
            if not self.closed:
                self._send_ack(mid, qos)

    def close(self) -> None:
        self.closed = True
        self._pending.clear()


def _nothing() -> None:
    pass
