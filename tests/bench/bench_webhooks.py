"""Webhook delivery benchmark: deliveries per second and latency from alert transition to
receipt for many subscriptions, against a baseline of bare HTTP POSTs of the same bodies to
the same receiver measured in the same run, so the cost of the outbox and the dispatcher is
a ratio.

The receiver is a uvicorn server on 127.0.0.1 in a separate process (its own GIL) that
answers 204 at once and records, per request, time.time() after reading the body, the path
(one per subscription: /hook/17), the webhook-id and the body's alert id.

Baseline: one httpx.AsyncClient with the dispatcher's connection limits, one sequential
stream of POSTs per subscription path, all paths concurrently; each event's body (and
headers of the same shape, with a fixed signature) is handed to every stream when it is
ready. Boomerang: a real state db, opened and migrated as the gateway does it (SQLite in a
temp dir: WAL, synchronous=NORMAL; or the empty database at --state-url, such as a
PostgreSQL one), with SubscriptionStore, WebhookOutbox and WebhookDispatcher on its one
connection, called through StateDb.run; each alert transition is enqueued for all
subscriptions in one transaction, as the rule engine does, then the dispatcher is woken.
Both phases emit the same events on the same pattern (spaced: one every --interval-ms;
burst: all at once), after one warm-up event each that opens the connections and is not
counted. Latency is receipt time minus the time the event was ready (baseline) or the
transition began (Boomerang); throughput is deliveries over the time from the first event
to the last receipt. Prints one JSON object.

    .venv/bin/python tests/bench/bench_webhooks.py [--subscriptions 100] [--events 20]
        [--pattern spaced|burst] [--interval-ms 20] [--timeout-s 30] [--state-url URL]
        [--output FILE] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import multiprocessing
import platform
import socket
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from _report import report

from alerts import Event, Subscription, SubscriptionStore, WebhookDispatcher, WebhookOutbox
from alerts.webhooks import USER_AGENT
from gateway.migrations import upgrade
from ingest.statedb import StateDb

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

POLL_S = 0.05
RETRY_SCHEDULE_S = (1.0, 5.0, 30.0)
HTTP_TIMEOUT_S = 10.0
# As WebhookDispatcher.run() opens its client, so the baseline gets the same pool.
LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=100)
# A signature of the real length (v1, + base64 of a 32-byte HMAC): the baseline signs nothing.
FAKE_SIGNATURE = "v1," + base64.b64encode(bytes(32)).decode()


# --- The receiver (runs in its own process) -------------------------------------------------


class Receiver:
    """ASGI app: POST anything -> 204, recorded; GET /count; GET /stats returns and clears."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, str, bytes]] = []

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            received_at = time.time()
            webhook_id = ""
            for name, value in scope["headers"]:
                if name == b"webhook-id":
                    webhook_id = value.decode()
            self.records.append((received_at, scope["path"], webhook_id, body))
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["path"] == "/count":
            answer = orjson.dumps({"count": len(self.records)})
        elif scope["path"] == "/stats":
            records, self.records = self.records, []
            answer = orjson.dumps([
                [t, path, webhook_id, orjson.loads(body)["data"]["alert"]["id"]]
                for t, path, webhook_id, body in records
            ])
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})


def serve_receiver(conn: Connection) -> None:
    """Child process: bind a free port, tell the parent, serve until terminated."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    conn.send(sock.getsockname()[1])
    conn.close()
    config = uvicorn.Config(Receiver(), lifespan="off", log_level="warning", access_log=False,
                            backlog=4096)
    uvicorn.Server(config).run(sockets=[sock])


@dataclass(slots=True)
class Receipt:
    at: float
    path: str
    webhook_id: str
    alert_id: str


async def wait_for_receiver(client: httpx.AsyncClient, base: str) -> None:
    deadline = time.perf_counter() + 20
    while True:
        try:
            (await client.get(f"{base}/count")).raise_for_status()
            return
        except httpx.TransportError:
            if time.perf_counter() > deadline:
                raise
            await asyncio.sleep(POLL_S)


async def wait_for_count(
    client: httpx.AsyncClient, base: str, count: int, timeout_s: float
) -> bool:
    deadline = time.perf_counter() + timeout_s
    while True:
        response = await client.get(f"{base}/count")
        if response.json()["count"] >= count:
            return True
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(POLL_S)


async def take_receipts(client: httpx.AsyncClient, base: str) -> list[Receipt]:
    response = await client.get(f"{base}/stats")
    return [Receipt(*row) for row in response.json()]


# --- Events ---------------------------------------------------------------------------------


def alert_event(index: int, at: datetime) -> Event:
    """An `alert.opened` as the rule engine writes it: data.alert as alert_data() makes it."""
    alert_id = f"alt_{uuid.uuid4().hex[:16]}"
    asset = f"asset-{index % 1000:05d}"
    return Event(
        "alert.opened", at,
        {"alert": {
            "id": alert_id,
            "kind": "out_of_spec",
            "key": "temp_c",
            "severity": "critical",
            "state": "open",
            "asset_id": asset,
            "tag_id": f"tag-{index % 1000:05d}",
            "summary": f"temp_c 11.42 above 8.0 for 5 min on {asset}",
            "details": {"metric": "temp_c", "max": 8.0, "min": 2.0, "duration_s": 300,
                        "profile": "cold_chain"},
            "value": 11.42,
            "opened_at": at.isoformat(),
            "updated_at": None,
            "resolved_at": None,
            "location": {"lat": 52.092876, "lon": 5.104480, "ts": at.isoformat()},
        }},
        alert_kind="out_of_spec",
    )


def event_alert_id(event: Event) -> str:
    return str(event.data["alert"]["id"])


async def emit_on_schedule(
    count: int, interval_s: float, emit: Callable[[int], Awaitable[None]]
) -> None:
    """Await emit(i) for i in range(count), one every interval_s from now (0: all at once)."""
    started = time.perf_counter()
    for i in range(count):
        if interval_s > 0:
            delay = started + i * interval_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await emit(i)


# --- The two phases -------------------------------------------------------------------------


@dataclass(slots=True)
class Phase:
    ready_at: dict[str, float]
    """Per alert id: when the body was ready (baseline) or the transition began."""
    receipts: list[Receipt]


async def run_baseline(
    base: str, poll: httpx.AsyncClient, paths: list[str], events: list[Event],
    warmup: Event, interval_s: float,
) -> Phase:
    ready_at: dict[str, float] = {}
    queues: list[asyncio.Queue[tuple[bytes, dict[str, str]] | None]] = [
        asyncio.Queue() for _ in paths]

    async def stream(client: httpx.AsyncClient, url: str,
                     queue: asyncio.Queue[tuple[bytes, dict[str, str]] | None]) -> None:
        while (item := await queue.get()) is not None:
            body, headers = item
            response = await client.post(url, content=body, headers=headers)
            if not 200 <= response.status_code < 300:
                raise RuntimeError(f"receiver answered {response.status_code} to {url}")

    async def hand_out(event: Event) -> None:
        body = event.body()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": f"msg_{uuid.uuid4().hex}",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": FAKE_SIGNATURE,
        }
        ready_at[event_alert_id(event)] = time.time()
        for queue in queues:
            queue.put_nowait((body, headers))

    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, limits=LIMITS,
                                 follow_redirects=False) as client:
        streams = [asyncio.create_task(stream(client, f"{base}{path}", queue))
                   for path, queue in zip(paths, queues, strict=True)]
        await hand_out(warmup)
        await wait_for_count(poll, base, len(paths), 30)
        await take_receipts(poll, base)
        ready_at.clear()
        await emit_on_schedule(len(events), interval_s, lambda i: hand_out(events[i]))
        for queue in queues:
            queue.put_nowait(None)
        await asyncio.gather(*streams)
    return Phase(ready_at, await take_receipts(poll, base))


async def run_boomerang(
    base: str, poll: httpx.AsyncClient, paths: list[str], events: list[Event],
    warmup: Event, interval_s: float, timeout_s: float, state_url: str,
    profiler: cProfile.Profile | None,
) -> Phase:
    db = await open_state_db(state_url)
    try:
        store, outbox = SubscriptionStore(db), WebhookOutbox(db)

        def subscribe() -> list[Subscription]:
            for path in paths:
                store.create(f"{base}{path}", description="benchmark")
            return store.all()

        subscriptions = await db.run(subscribe)
        dispatcher = WebhookDispatcher(outbox, store, retry_schedule_s=RETRY_SCHEDULE_S,
                                       timeout_s=HTTP_TIMEOUT_S, run=db.run)
        ready_at: dict[str, float] = {}

        async def transition(event: Event, subs: list[Subscription]) -> None:
            ready_at[event_alert_id(event)] = time.time()
            await db.run(outbox.enqueue, event, subs)  # its own transaction
            dispatcher.wake()

        task = asyncio.create_task(dispatcher.run(), name="dispatcher")
        try:
            await transition(warmup, subscriptions)
            await wait_for_count(poll, base, len(paths), 30)
            await take_receipts(poll, base)
            ready_at.clear()
            if profiler is not None:
                profiler.enable()
            await emit_on_schedule(len(events), interval_s,
                                   lambda i: transition(events[i], subscriptions))
            await wait_for_count(poll, base, len(paths) * len(events), timeout_s)
            if profiler is not None:
                profiler.disable()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return Phase(ready_at, await take_receipts(poll, base))
    finally:
        await db.aclose()


async def open_state_db(url: str) -> StateDb:
    """As gateway/app.py opens the state db: for the loop, migrated before any store reads
    it."""
    db = StateDb.open_for_loop(url)
    try:
        await db.run(upgrade, db)
    except BaseException:
        await db.aclose()
        raise
    return db


# --- Figures --------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q * len(sorted_values) + 0.5 - 1e-9)))
    return sorted_values[rank - 1]


def figures(phase: Phase, expected: int) -> dict[str, Any]:
    counted = [r for r in phase.receipts if r.alert_id in phase.ready_at]
    unique = {(r.path, r.alert_id) for r in counted}
    latencies = sorted(r.at - phase.ready_at[r.alert_id] for r in counted)
    first = min(phase.ready_at.values(), default=0.0)
    last = max((r.at for r in counted), default=first)
    window_s = last - first
    return {
        "deliveries": len(unique),
        "duplicates": len(counted) - len(unique),
        "emitted_over_s": round(max(phase.ready_at.values(), default=first) - first, 4),
        "window_s": round(window_s, 4),
        "deliveries_per_s": round(len(unique) / window_s, 1) if window_s > 0 else None,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "missing": expected - len(unique),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


async def measure(
    subscriptions: int, events: int, interval_s: float, timeout_s: float, state_url: str,
    profiler: cProfile.Profile | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    receiver = context.Process(target=serve_receiver, args=(child_end,), daemon=True)
    receiver.start()
    try:
        port = parent_end.recv()
        base = f"http://127.0.0.1:{port}"
        paths = [f"/hook/{i}" for i in range(subscriptions)]
        now = datetime.now(UTC)
        batch = [alert_event(i, now) for i in range(events)]
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as poll:
            await wait_for_receiver(poll, base)
            baseline = await run_baseline(
                base, poll, paths, batch, alert_event(events, now), interval_s)
            boomerang = await run_boomerang(
                base, poll, paths, batch, alert_event(events + 1, now), interval_s,
                timeout_s, state_url, profiler)
        expected = subscriptions * events
        return figures(baseline, expected), figures(boomerang, expected)
    finally:
        receiver.terminate()
        receiver.join(5)
        if receiver.is_alive():
            receiver.kill()


def run(
    subscriptions: int, events: int, pattern: str, interval_ms: float, timeout_s: float,
    profile: Path | None, state_url: str | None = None,
) -> dict[str, Any]:
    started = time.perf_counter()
    interval_s = interval_ms / 1000 if pattern == "spaced" else 0.0
    profiler = cProfile.Profile() if profile is not None else None
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        baseline, boomerang = asyncio.run(
            measure(subscriptions, events, interval_s, timeout_s,
                    state_url or f"sqlite:///{Path(tmp) / 'state.db'}", profiler))
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    return {
        "benchmark": "webhooks",
        "subscriptions": subscriptions,
        "events": events,
        "pattern": pattern,
        "interval_ms": interval_ms if pattern == "spaced" else 0,
        "deliveries": subscriptions * events,
        # Above what the sender manages, latency is mostly queueing behind earlier events.
        "offered_deliveries_per_s": round(subscriptions / interval_s, 1) if interval_s else None,
        "baseline_deliveries_per_s": baseline["deliveries_per_s"],
        "boomerang_deliveries_per_s": boomerang["deliveries_per_s"],
        "throughput_ratio": ratio(boomerang["deliveries_per_s"], baseline["deliveries_per_s"]),
        "baseline_p50_ms": baseline["p50_ms"],
        "baseline_p99_ms": baseline["p99_ms"],
        "boomerang_p50_ms": boomerang["p50_ms"],
        "boomerang_p99_ms": boomerang["p99_ms"],
        "latency_ratio_p50": ratio(boomerang["p50_ms"], baseline["p50_ms"]),
        "latency_ratio_p99": ratio(boomerang["p99_ms"], baseline["p99_ms"]),
        "baseline": baseline,
        "boomerang": boomerang,
        "profiled": profile is not None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "elapsed_s": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--subscriptions", type=int, default=100)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--pattern", choices=("spaced", "burst"), default="spaced",
                        help="emit one event every --interval-ms (default) or all at once")
    parser.add_argument("--interval-ms", type=float, default=20.0)
    parser.add_argument("--timeout-s", type=float, default=30.0,
                        help="how long to wait for Boomerang's deliveries")
    parser.add_argument("--state-url",
                        help="an empty state database to run on, e.g. postgresql://... "
                             "(default: SQLite in a temp dir)")
    parser.add_argument("--output", type=Path, help="also write the JSON figures here")
    parser.add_argument("--profile", type=Path,
                        help="cProfile the Boomerang phase into this file (slows it down)")
    args = parser.parse_args(argv)
    if args.subscriptions < 1 or args.events < 1:
        parser.error("--subscriptions and --events must be at least 1")
    if args.interval_ms < 0 or args.timeout_s <= 0:
        parser.error("--interval-ms must be >= 0 and --timeout-s > 0")
    result = run(args.subscriptions, args.events, args.pattern, args.interval_ms,
                 args.timeout_s, args.profile, args.state_url)
    report(result, args.output)


if __name__ == "__main__":
    main()
