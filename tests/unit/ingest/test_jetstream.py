"""What a cluster's relay puts in the stream (ingest/jetstream.py) and what a partition's
reader forgets: a topic that holds what a header line cannot, a payload that holds NUL, the
receive stamps that give a reading without `ts` the same time however often it is judged,
and the duplicates seen of a partition taken back."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.jetstream import JetStreamRelay, framed, partition_of, unframed


def test_any_topic_and_payload_come_back_as_they_went() -> None:
    for topic, payload in [("tags/t-1/telemetry", b'{"temp_c": 4}'),
                           ("owntracks/u/dev\r\nInjected: yes", b"\x00\xff{}\x00"),
                           ("v3/app@ttn/devices/d\u00e9v/up", b"")]:
        assert unframed(framed(topic, payload)) == (topic, payload)


def test_stamps_never_repeat_and_leave_room_for_each_reading() -> None:
    relay = JetStreamRelay(None, lambda _topic: None, 4,  # type: ignore[arg-type]
                           holds_lease=lambda: True, packet_ids=lambda: [])
    now = datetime(2026, 12, 5, tzinfo=UTC)
    first = relay.stamps([b'{"readings": [{}, {}, {}]}', b"{}"], now)
    second = relay.stamps([b"{}"], now)  # the same clock reading again
    # A message's readings without `ts` take its stamp plus one microsecond each.
    assert first[1] - first[0] >= 3 and second[0] > first[1]


def test_a_tag_lands_in_the_same_partition_everywhere() -> None:
    assert partition_of("tag-1", 16) == partition_of("tag-1", 16) < 16
    assert len({partition_of(f"tag-{n}", 16) for n in range(200)}) == 16


def test_a_partition_taken_back_forgets_the_duplicates_seen_of_its_tags() -> None:
    """Seen in an earlier turn but never handed off (its batch cut short), a reading given
    again must not be dropped as a duplicate."""
    from ingest.dedupe import SeqDeduplicator

    dedupe = SeqDeduplicator()
    assert not dedupe.seen_before("tag-1", 7) and not dedupe.seen_before("tag-2", 7)
    dedupe.forget_tags(lambda tag_id: tag_id == "tag-1")
    assert not dedupe.seen_before("tag-1", 7)
    assert dedupe.seen_before("tag-2", 7)
