"""``connectors.kafka.commits``: which read position is committed when the watermark of
the writes reaches a time. Worked out by hand; the end-to-end proof is the SIGKILL trials
on Prism (``tests/reliability/test_crash_recovery.py``)."""

from __future__ import annotations

from connectors.kafka.commits import due_positions


def test_the_newest_position_stamped_at_or_before_the_watermark_is_committed() -> None:
    held = [(30, 120), (10, 40), (20, 95), (40, 150)]
    assert due_positions(held, 25) == (95, [(30, 120), (40, 150)])


def test_nothing_is_due_until_the_watermark_has_passed_the_earliest_stamp() -> None:
    assert due_positions([(30, 120)], 29) == (None, [(30, 120)])
    # a watermark at 30 still admits records stamped 30
    assert due_positions([(30, 120)], 30) == (None, [(30, 120)])
    assert due_positions([(30, 120)], 31) == (120, [])


def test_positions_arriving_out_of_order_commit_the_largest_due() -> None:
    # a later bundle's position can arrive first; the commit never goes backwards
    assert due_positions([(20, 95), (10, 40)], 21) == (95, [])


def test_the_commit_timer_is_the_next_millisecond_after_the_stamp() -> None:
    """Runners keep timers in milliseconds: the timer must be a whole millisecond past the
    stamp, or it fires at the stamp, finds nothing due and is set again, for ever (a
    drained Prism run never ended with a timer one microsecond past)."""
    from apache_beam.utils.timestamp import Timestamp

    from connectors.kafka.commits import _after

    assert _after(1_796_407_762_909_000) == Timestamp(micros=1_796_407_762_910_000)
    assert _after(1_796_407_762_909_999) == Timestamp(micros=1_796_407_762_910_000)
    stamp = 1_796_407_762_909_000
    assert due_positions([(stamp, 3)], _after(stamp).micros) == (3, [])
