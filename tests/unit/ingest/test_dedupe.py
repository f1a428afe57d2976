"""(tag_id, seq) duplicates."""

from ingest import SeqDeduplicator


def test_a_seen_pair_is_a_duplicate_and_others_are_not() -> None:
    dedupe = SeqDeduplicator()
    assert not dedupe.seen_before("a", 1)
    assert dedupe.seen_before("a", 1)
    assert not dedupe.seen_before("b", 1)


def test_an_older_unseen_seq_is_not_a_duplicate() -> None:
    dedupe = SeqDeduplicator()
    for seq in (10, 11, 12):
        dedupe.seen_before("a", seq)
    assert not dedupe.seen_before("a", 5)


def test_the_window_is_bounded() -> None:
    dedupe = SeqDeduplicator(window=3)
    for seq in range(5):
        dedupe.seen_before("a", seq)
    assert not dedupe.seen_before("a", 0)  # forgotten
    assert dedupe.seen_before("a", 4)
