"""Counts in words: the plural unless one, never "(s)" (issue 26: "member(s)")."""

from dwt.words import plural


def test_counts_read_as_words():
    assert plural(1, "member") == "1 member"
    assert plural(0, "member") == "0 members"
    assert plural(3000, "timeline") == "3,000 timelines"
    assert plural(2, "follow list size") == "2 follow list sizes"
    assert plural(2, "reply", "replies") == "2 replies"
