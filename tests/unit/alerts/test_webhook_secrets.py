"""Webhook secrets stay out of the logs, and out of the database once they sign nothing: a
rotated-out secret is erased when its overlap ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from support.servers import WebhookReceiver

from alerts import Event, Subscription, SubscriptionStore, WebhookDispatcher, WebhookOutbox
from gateway.cli import setup_logging
from ingest.statedb import METADATA, StateDb


def state_db(path: Path) -> StateDb:
    """A state database in the file `path`, with every store's tables."""
    db = StateDb.open(f"sqlite:///{path}")
    METADATA.create_all(db.engine)
    return db


def previous_secret(path: Path, subscription_id: str) -> tuple[str | None, str | None]:
    """The row as it is in the file, read over a connection of its own."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT previous_secret, previous_secret_until FROM subscriptions "
                         "WHERE id=?", (subscription_id,)).fetchone()
    return row[0], row[1]


def test_a_previous_secret_is_erased_from_the_file_once_its_overlap_ends(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = state_db(path)
    # As in SQLite builds where it is off by default (Debian's has it on), so that the
    # check on the file's bytes below can fail.
    with db.transaction() as conn:
        conn.exec_driver_sql("PRAGMA secure_delete=OFF")
    store = SubscriptionStore(db)
    # Neighbours on the same page: alone in it, the row's page would be rebuilt whole.
    store.create("http://127.0.0.1:9/before")
    first = store.create("http://127.0.0.1:9/hook")
    store.create("http://127.0.0.1:9/after")
    rotated = store.rotate_secret(first.id, timedelta(minutes=1))
    assert rotated is not None and rotated.previous_secret_until is not None
    until = rotated.previous_secret_until

    assert store.erase_expired_secrets(until - timedelta(seconds=1)) == 0
    assert previous_secret(path, first.id) == (first.secret, until.isoformat())

    assert store.erase_expired_secrets(until) == 1
    assert previous_secret(path, first.id) == (None, None)
    assert store.get(first.id) == replace(rotated, previous_secret=None,
                                          previous_secret_until=None)
    with db.transaction() as conn:  # the connection's own again
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 0
    # The last connection's close checkpoints the write-ahead log into the file (and
    # deletes the log): the pages as they are now, where the secret was overwritten.
    db.close()
    assert not path.with_name("state.db-wal").exists()
    assert path.read_bytes().count(first.secret.encode()) == 0


class Dispatching:
    def __init__(self, path: Path) -> None:
        self.db = state_db(path)
        self.outbox = WebhookOutbox(self.db)
        self.subscriptions = SubscriptionStore(self.db)
        self.dispatcher = WebhookDispatcher(self.outbox, self.subscriptions,
                                            retry_schedule_s=(3600,), timeout_s=5)

    def emit(self, subscription: Subscription) -> None:
        with self.db.transaction():
            self.outbox.enqueue(Event("alert.opened", datetime.now(UTC), {},
                                      alert_kind="recall"), [subscription])
        self.dispatcher.wake()


@contextlib.asynccontextmanager
async def dispatching(path: Path) -> AsyncIterator[Dispatching]:
    box = Dispatching(path)
    task = asyncio.create_task(box.dispatcher.run())
    try:
        yield box
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        box.db.close()


async def eventually(check: Callable[[], bool], poke: Callable[[], None] = lambda: None) -> None:
    async with asyncio.timeout(20):
        while not check():
            poke()
            await asyncio.sleep(0.02)


async def test_the_dispatcher_erases_the_old_secret_when_the_overlap_ends(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    path = tmp_path / "state.db"
    async with dispatching(path) as box:
        first = box.subscriptions.create(webhook_receiver.url)
        during = box.subscriptions.rotate_secret(first.id, timedelta(hours=1))
        assert during is not None
        box.emit(during)
        await eventually(lambda: len(webhook_receiver.requests) == 1)
        request = webhook_receiver.requests[0]
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        Webhook(first.secret).verify(request.body, request.headers)
        Webhook(during.secret).verify(request.body, request.headers)

        after = box.subscriptions.rotate_secret(first.id, timedelta(milliseconds=200))
        assert after is not None and after.previous_secret == during.secret
        # No clock to move: the dispatcher's loop is woken until the overlap has passed.
        await eventually(lambda: previous_secret(path, first.id) == (None, None),
                         poke=box.dispatcher.wake)
        box.emit(after)
        await eventually(lambda: len(webhook_receiver.requests) == 2)
    request = webhook_receiver.requests[1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(after.secret).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(during.secret).verify(request.body, request.headers)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The test run's log set-up, put back after a test that installs the gateway's."""
    saved: list[tuple[logging.Logger, int, list[logging.Handler]]] = [
        (logger, logger.level, list(logger.handlers))
        for logger in (logging.getLogger(), logging.getLogger("httpx"),
                       logging.getLogger("httpcore"))]
    yield
    for logger, level, handlers in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers


async def test_a_failed_delivery_is_logged_without_the_urls_user_info_or_query(
    tmp_path: Path, webhook_receiver: WebhookReceiver, restored_logging: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO", "kv")  # the gateway's, to stderr as `capsys` has it now
    webhook_receiver.status = lambda _: 500
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    url = f"http://hook-user:hook-password@127.0.0.1:{port}/hook?token=tok-123"
    async with dispatching(tmp_path / "state.db") as box:
        subscription = box.subscriptions.create(url)
        box.emit(subscription)
        await eventually(lambda: box.outbox.list(subscription.id)[0].attempts == 1)
    assert webhook_receiver.requests[0].path == "/hook?token=tok-123"  # it was sent whole
    logged = capsys.readouterr().err
    assert f"to http://127.0.0.1:{port}/hook: HTTP 500 (attempt 1)" in logged
    for secret in ("hook-user", "hook-password", "tok-123"):
        assert secret not in logged
