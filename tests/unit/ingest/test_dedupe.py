"""(tag_id, seq) duplicates."""

from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_a_redelivery_within_the_window_below_a_newer_seq_is_a_duplicate() -> None:
    dedupe = SeqDeduplicator(window=8)
    for seq in (3, 9, 5):
        assert not dedupe.seen_before("a", seq)
    assert dedupe.seen_before("a", 5) and dedupe.seen_before("a", 9)
    assert not dedupe.seen_before("a", 20)  # a jump past the window forgets the rest
    assert not dedupe.seen_before("a", 9)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 60)), max_size=200))
def test_it_agrees_with_a_set_of_everything_seen_within_the_window(
    pairs: list[tuple[str, int]],
) -> None:
    """The reference: a duplicate is a pair seen before, no further than the window below
    the highest seq of its tag."""
    window = 16
    dedupe = SeqDeduplicator(window=window)
    seen: set[tuple[str, int]] = set()
    highest: dict[str, int] = {}
    for tag, seq in pairs:
        top = max(highest.get(tag, seq), seq)
        expected = (tag, seq) in seen and top - seq < window
        assert dedupe.seen_before(tag, seq) == expected
        if top - seq < window:
            seen.add((tag, seq))
        highest[tag] = top
