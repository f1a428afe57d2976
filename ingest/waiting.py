"""Waiting for an event with a time limit, without losing a cancellation.

Python 3.11's `asyncio.wait_for` swallows a cancellation that arrives as the awaited
event is set (CPython gh-86296, fixed in 3.12): a task cancelled at shutdown then runs on,
and whoever awaits it hangs. `asyncio.timeout` has no such race."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """True if `event` was set within `timeout_s`, False on the time limit."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
