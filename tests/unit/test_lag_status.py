"""The Burrow-style evaluator, driven through windows of commits (no broker needed)."""

from __future__ import annotations

import pytest

from bus.lag import (
    Commit,
    CommitWindow,
    GroupLag,
    LagHistory,
    LagReport,
    Member,
    PartitionLag,
    Status,
    StatusRules,
    evaluate_partition,
    worst,
)

RULES = StatusRules(window=5, min_commits=3, stop_after_s=10.0)


def window(*commits: tuple[int, int, float]) -> list[Commit]:
    """Commits as (offset, lag, at)."""
    return [Commit(offset, lag, at) for offset, lag, at in commits]


SCENARIOS = [
    # name, window, current lag, now, expected
    ("never committed, events waiting: not assessed", [], 5, 100.0, Status.UNKNOWN),
    ("no lag is always OK", window((1, 0, 0), (1, 0, 5), (1, 0, 10)), 0, 500.0, Status.OK),
    ("catching up", window((10, 9, 0), (20, 6, 5), (30, 3, 10)), 3, 12.0, Status.OK),
    ("too few commits to judge", window((10, 5, 0), (10, 6, 5)), 6, 7.0, Status.UNKNOWN),
    (
        "lag never decreases: WARNING",
        window((10, 5, 0), (20, 6, 5), (30, 6, 10), (40, 9, 15)),
        9,
        16.0,
        Status.WARNING,
    ),
    (
        "caught up once in the window: OK despite growth",
        window((10, 0, 0), (20, 6, 5), (30, 9, 10)),
        9,
        12.0,
        Status.OK,
    ),
    (
        "committing the same offset: STALL",
        window((10, 5, 0), (10, 6, 5), (10, 8, 10)),
        8,
        12.0,
        Status.STALL,
    ),
    (
        "no commit for longer than the span and the threshold: STOP",
        window((10, 5, 0), (20, 6, 5), (30, 4, 10)),
        4,
        31.0,
        Status.STOP,
    ),
    (
        "idle longer than the span but under the threshold: not yet STOP",
        window((10, 5, 0), (20, 6, 1), (30, 4, 2)),
        4,
        9.0,
        Status.OK,
    ),
    (
        "STOP needs no full window",
        window((10, 5, 0)),
        5,
        30.0,
        Status.STOP,
    ),
    (
        "offset moved back: REWIND",
        window((50, 0, 0), (60, 0, 5), (0, 60, 10)),
        60,
        11.0,
        Status.REWIND,
    ),
    ("REWIND shows even in a short window", window((50, 1, 0), (0, 51, 5)), 51, 6.0, Status.REWIND),
    ("STOP outranks REWIND", window((50, 1, 0), (0, 51, 5)), 51, 60.0, Status.STOP),
]

#: The same windows for a group without members (its consumer stopped and left the group).
WITHOUT_MEMBERS = [
    ("nobody consumes while events wait: STOP at once", window((10, 5, 0)), 5, 1.0, Status.STOP),
    ("never committed, nobody consumes: STOP", [], 5, 1.0, Status.STOP),
    ("no lag is OK even with nobody there", window((10, 0, 0)), 0, 500.0, Status.OK),
    (
        "committing without membership, moved at this scan: judged by its commits",
        window((10, 5, 0), (12, 3, 5)),
        3,
        5.0,
        Status.UNKNOWN,
    ),
    (
        "committing without membership, not moved since the last scan: STOP",
        window((10, 5, 0), (12, 3, 5)),
        3,
        6.0,
        Status.STOP,
    ),
]


@pytest.mark.parametrize(
    ("commits", "lag", "now", "expected"),
    [pytest.param(c, lag, now, expected, id=name) for name, c, lag, now, expected in SCENARIOS],
)
def test_partition_status(commits: list[Commit], lag: int, now: float, expected: Status) -> None:
    assert evaluate_partition(commits, lag, now, RULES) is expected


@pytest.mark.parametrize(
    ("commits", "lag", "now", "expected"),
    [
        pytest.param(c, lag, now, expected, id=name)
        for name, c, lag, now, expected in WITHOUT_MEMBERS
    ],
)
def test_partition_status_without_members(
    commits: list[Commit], lag: int, now: float, expected: Status
) -> None:
    assert evaluate_partition(commits, lag, now, RULES, members=False) is expected


def test_one_scan_judges_what_it_can_and_says_unknown_for_the_rest() -> None:
    """`bus lag` without --watch: one scan, through the same rules as the dashboard."""
    waiting = PartitionLag("t", 0, 10, 15, 5, 3.0)
    caught_up = PartitionLag("t", 0, 15, 15, 0, 0.0)
    member = (Member("m-1", "c", "/127.0.0.1"),)
    report = LagHistory(RULES).update(
        LagReport(
            100.0,
            (
                GroupLag("live", (waiting,), member),
                GroupLag("left", (waiting,), ()),
                GroupLag("done", (caught_up,), ()),
                GroupLag("named-only", (), ()),
            ),
        )
    )
    found = {g.group: (g.status, g.detail) for g in report.groups}
    assert found == {
        "live": (
            Status.UNKNOWN,
            "1 scan(s) of its commits so far; telling moving from stuck takes 3 "
            "(`bus lag --watch` or the dashboard)",
        ),
        "left": (Status.STOP, "no member consumes while events wait"),
        "done": (Status.OK, ""),
        "named-only": (
            Status.UNKNOWN,
            "no committed offsets and no assigned partitions: nothing to assess",
        ),
    }


def test_group_status_is_the_worst_partition_status_kept_specific() -> None:
    assert worst([Status.OK, Status.STALL, Status.WARNING]) is Status.STALL
    assert worst([Status.OK, Status.STOP, Status.STALL]) is Status.STOP
    assert worst([]) is Status.OK
    assert worst([Status.OK, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.WARNING]) is Status.WARNING
    assert [s.severity for s in Status] == [0, 1, 2, 3, 4, 5, 6]


def test_commit_window_keeps_the_last_commits_and_ignores_idle_repeats() -> None:
    commits = CommitWindow(size=3)
    for at, offset in enumerate([1, 2, 3, 4]):
        commits.observe(offset, 1, float(at), alive=True)
    assert [c.offset for c in commits.commits] == [2, 3, 4]
    commits.observe(4, 1, 9.0, alive=False)  # nobody in the group, offset unchanged
    assert commits.commits[-1].at == 3.0
    commits.observe(4, 1, 9.0, alive=True)  # a live member that does not move
    assert commits.commits[-1].at == 9.0


def _report(at: float, committed: int, end: int, *, members: bool) -> LagReport:
    partition = PartitionLag("t", 0, committed, end, end - committed, 0.0)
    member = (Member("m-1", "c", "/127.0.0.1"),) if members else ()
    return LagReport(at, (GroupLag("g", (partition,), member),))


def test_history_walks_ok_warning_stall_stop_and_back_to_ok() -> None:
    """One group through its life: keeping up, falling behind, stuck, dead, recovered."""
    history = LagHistory(StatusRules(window=3, min_commits=3, stop_after_s=5.0))
    seen = []

    def scan(at: float, committed: int, end: int, members: bool = True) -> None:
        report = history.update(_report(at, committed, end, members=members))
        seen.append(report.group("g").status)

    scan(0, 10, 12)
    scan(1, 20, 22)  # two scans cannot tell moving from stuck: UNKNOWN
    scan(2, 30, 31)  # lag decreasing: OK
    scan(3, 31, 35)
    scan(4, 32, 40)  # lag grew at every commit of the window: WARNING
    scan(5, 33, 45)
    scan(6, 33, 46)
    scan(7, 33, 47)  # live consumer, same offset: STALL
    scan(8, 33, 47, members=False)  # the consumer left its group, events wait: STOP at once
    scan(20, 33, 47, members=False)
    scan(21, 47, 47)  # restarted and caught up: OK
    scan(22, 10, 47)  # offsets reset to 10: REWIND
    assert seen == [
        Status.UNKNOWN,
        Status.UNKNOWN,
        Status.OK,
        Status.OK,
        Status.WARNING,
        Status.WARNING,
        Status.WARNING,
        Status.STALL,
        Status.STOP,
        Status.STOP,
        Status.OK,
        Status.REWIND,
    ]
    assert [lag for _, lag in history.totals("g")][-2:] == [0, 37]


def test_a_group_whose_offsets_cannot_be_read_is_error() -> None:
    group = GroupLag("g", (), error="OffsetFetch: GroupAuthorizationFailedError")
    assert group.with_statuses({}).status is Status.ERROR
