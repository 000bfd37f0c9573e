"""``connectors.kafka.commits``: which read position is committed when the watermark of
the writes reaches a time. Worked out by hand; the end-to-end proof is the SIGKILL trials
on Prism (``tests/reliability/test_crash_recovery.py``)."""

from __future__ import annotations

from connectors.kafka.commits import due_positions


def test_the_newest_position_stamped_at_or_before_the_watermark_is_committed() -> None:
    held = [(30, 120), (10, 40), (20, 95), (40, 150)]
    assert due_positions(held, 25) == (95, [(30, 120), (40, 150)])


def test_nothing_is_due_before_the_earliest_stamp() -> None:
    assert due_positions([(30, 120)], 29) == (None, [(30, 120)])


def test_positions_arriving_out_of_order_commit_the_largest_due() -> None:
    # a later bundle's position can arrive first; the commit never goes backwards
    assert due_positions([(20, 95), (10, 40)], 20) == (95, [])
