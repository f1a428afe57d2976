"""The dead-letter store stays within its limits, and a flooding tag pushes out only its own;
on SQLite and on PostgreSQL (`state_db`, `state_url`: tests/support/plugin.py)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from prometheus_client import REGISTRY

from ingest import DeadLetterStore
from ingest.readings import DeadLetter
from ingest.statedb import StateDb

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def letters(tag_id: str | None, n: int) -> list[DeadLetter]:
    return [DeadLetter(f"tags/{tag_id}/telemetry", f"{tag_id}-{i}".encode(), "bad", NOW, tag_id)
            for i in range(n)]


def evicted(limit: str) -> float:
    value = REGISTRY.get_sample_value("boomerang_ingest_dead_letters_evicted_total",
                                      {"limit": limit})
    return value or 0.0


def test_a_flooding_tag_keeps_only_its_newest_and_the_others_keep_theirs(state_db: StateDb) -> None:
    store = DeadLetterStore(state_db, max_total=100, max_per_tag=10)
    before = evicted("per_tag_quota")
    store.add(letters("quiet", 3) + letters(None, 2))
    for _ in range(20):
        store.add(letters("noisy", 7))
    assert store.count() == 3 + 2 + 10
    assert [d.letter.payload for d in store.list(tag_id="noisy")] == [
        f"noisy-{i}".encode() for i in (6, 5, 4, 3, 2, 1, 0, 6, 5, 4)]
    assert len(store.list(tag_id="quiet")) == 3
    assert evicted("per_tag_quota") - before == 20 * 7 - 10


def test_the_store_keeps_the_newest_within_its_total(state_db: StateDb) -> None:
    store = DeadLetterStore(state_db, max_total=25, max_per_tag=10)
    before = evicted("total_limit")
    for n in range(5):
        store.add(letters(f"tag-{n}", 8))
    assert store.count() == 25
    assert {d.letter.tag_id for d in store.list(limit=100)} == {
        "tag-1", "tag-2", "tag-3", "tag-4"}
    assert evicted("total_limit") - before == 15


def test_the_limits_hold_across_a_restart(state_url: str) -> None:
    first = StateDb.open(state_url)
    DeadLetterStore(first, max_total=10).add(letters("a", 8))
    first.close()
    store = DeadLetterStore(StateDb.open(state_url), max_total=10)
    store.add(letters("b", 4))
    assert store.count() == 10


def big(tag_id: str, n: int, size: int) -> DeadLetter:
    return DeadLetter(f"tags/{tag_id}/telemetry", bytes([65 + n % 26]) * size, "too big",
                      NOW, tag_id, cause="too_large")


def test_an_oversized_payload_keeps_its_head_its_length_and_its_hash(state_db: StateDb) -> None:
    store = DeadLetterStore(state_db, payload_bytes=100)
    payload = bytes(range(256)) * 1024  # 256 KiB
    store.add([DeadLetter("tags/a/telemetry", payload, "message is too large", NOW, "a",
                          cause="too_large")])
    (kept,) = store.list()
    assert kept.letter.payload == payload[:100] and kept.payload_bytes == len(payload)
    assert kept.payload_sha256 == hashlib.sha256(payload).hexdigest()
    assert kept.letter.cause == "too_large"


def test_a_small_payload_is_kept_whole_without_a_hash(state_db: StateDb) -> None:
    store = DeadLetterStore(state_db, payload_bytes=100)
    store.add(letters("a", 1))
    (kept,) = store.list()
    assert kept.letter.payload == b"a-0" and kept.payload_bytes == 3
    assert kept.payload_sha256 is None


def test_a_tag_keeps_its_newest_within_its_byte_quota(state_db: StateDb) -> None:
    store = DeadLetterStore(state_db, payload_bytes=1000,
                            max_bytes_per_tag=2500, max_bytes=1_000_000)
    before = evicted("per_tag_bytes")
    store.add([big("other", 0, 1000)])
    for n in range(5):
        store.add([big("flood", n, 1000)])
    kept = [s.letter.payload[:1] for s in store.list(tag_id="flood")]
    assert kept == [b"E", b"D"]  # the newest two: 2,000 bytes within 2,500
    assert len(store.list(tag_id="other")) == 1
    assert evicted("per_tag_bytes") == before + 3


def test_the_store_keeps_the_newest_within_its_total_bytes(state_db: StateDb) -> None:
    store = DeadLetterStore(state_db, payload_bytes=1000,
                            max_bytes_per_tag=1000 * 1000, max_bytes=3500)
    before = evicted("total_bytes")
    for n in range(6):
        store.add([big(f"tag-{n}", n, 1000)])
    assert [s.letter.tag_id for s in store.list()] == ["tag-5", "tag-4", "tag-3"]
    assert evicted("total_bytes") == before + 3


def test_a_lone_surrogate_in_a_reason_is_kept_escaped(state_db: StateDb) -> None:
    store = DeadLetterStore(state_db)
    store.add([DeadLetter("tags/a/telemetry", b"x", "bad \udc80 text", NOW, "a")])
    assert store.list()[0].letter.reason == "bad \\udc80 text"


def test_a_lone_surrogate_in_one_letter_keeps_the_whole_batch(state_db: StateDb) -> None:
    store = DeadLetterStore(state_db)
    store.add([DeadLetter("tags/a/telemetry", b"x", "fine", NOW, "a"),
               DeadLetter("tags/\udc80/telemetry", b"y", "bad \udc80", NOW, "\udc80"),
               DeadLetter("tags/b/telemetry", b"z", "fine", NOW, "b")])
    assert [(d.letter.topic, d.letter.tag_id, d.letter.reason) for d in store.list()] == [
        ("tags/b/telemetry", "b", "fine"),
        ("tags/\\udc80/telemetry", "\\udc80", "bad \\udc80"),
        ("tags/a/telemetry", "a", "fine")]
    assert store.count() == 3


def test_a_nul_in_a_reason_is_kept_escaped_where_the_engine_cannot_store_it(
        state_db: StateDb) -> None:
    store = DeadLetterStore(state_db)
    store.add([DeadLetter("tags/a/telemetry", b"\x00", "bad \x00 text", NOW, "a")])
    (kept,) = store.list()
    assert kept.letter.payload == b"\x00"
    assert kept.letter.reason == ("bad \\x00 text" if state_db.is_postgresql
                                  else "bad \x00 text")
