"""The gate that keeps a reader at its own positions, whatever it is handed."""

from __future__ import annotations

from topology.positions import Gate, TopicPartition, Verdict

EVENTS = TopicPartition("events", 0)
FACTS = TopicPartition("facts", 0)


def test_records_are_applied_in_order_from_the_kept_position() -> None:
    gate = Gate()
    gate.start({EVENTS: 5})
    assert [gate.verdict(EVENTS, offset) for offset in (5, 6, 7)] == [Verdict.APPLY] * 3
    assert gate.positions([EVENTS]) == {EVENTS: 8}


def test_records_read_again_are_skipped_and_do_not_move_the_position() -> None:
    gate = Gate()
    gate.start({EVENTS: 5})
    assert gate.verdict(EVENTS, 3) is Verdict.APPLIED
    assert gate.verdict(EVENTS, 4) is Verdict.APPLIED
    assert gate.positions([EVENTS]) == {EVENTS: 5}


def test_a_record_past_the_position_is_a_gap_until_the_one_expected_arrives() -> None:
    gate = Gate()
    gate.start({EVENTS: 5})
    assert gate.verdict(EVENTS, 9) is Verdict.GAP
    assert gate.verdict(EVENTS, 10) is Verdict.GAP  # nothing after a gap either
    assert gate.positions([EVENTS]) == {EVENTS: 5}
    assert gate.verdict(EVENTS, 5) is Verdict.APPLY  # after seeking back


def test_a_compacted_topic_applies_a_skip_only_once_read_again_from_the_position() -> None:
    gate = Gate(compacted=["facts"])
    gate.start({FACTS: 5})
    assert gate.verdict(FACTS, 9) is Verdict.GAP  # a consumer skip looks just like this
    assert gate.verdict(FACTS, 10) is Verdict.GAP  # the rest of the old read proves nothing
    assert gate.positions([FACTS]) == {FACTS: 5}
    assert gate.verdict(FACTS, 7) is Verdict.APPLY  # first read after seeking back to 5
    assert gate.positions([FACTS]) == {FACTS: 8}


def test_a_compacted_topic_read_again_from_the_position_applies_it() -> None:
    gate = Gate(compacted=["facts"])
    gate.start({FACTS: 5})
    assert gate.verdict(FACTS, 9) is Verdict.GAP
    assert gate.verdict(FACTS, 5) is Verdict.APPLY  # it was a skip: nothing was compacted
    assert gate.verdict(FACTS, 7) is Verdict.GAP  # a new gap needs its own proof
    assert gate.verdict(FACTS, 7) is Verdict.APPLY


def test_only_compacted_topics_accept_a_skip_after_seeking_back() -> None:
    gate = Gate(compacted=["facts"])
    gate.start({EVENTS: 5})
    assert gate.verdict(EVENTS, 9) is Verdict.GAP
    assert gate.verdict(EVENTS, 7) is Verdict.GAP


def test_records_deleted_by_retention_move_the_position_forward_only() -> None:
    gate = Gate()
    gate.start({EVENTS: 5})
    gate.skip_to(EVENTS, 3)
    assert gate.positions([EVENTS]) == {EVENTS: 5}
    gate.skip_to(EVENTS, 20)
    assert gate.verdict(EVENTS, 20) is Verdict.APPLY


def test_forgetting_makes_every_position_unknown() -> None:
    gate = Gate()
    gate.start({EVENTS: 5})
    assert gate.knows(EVENTS)
    gate.forget()
    assert not gate.knows(EVENTS)
