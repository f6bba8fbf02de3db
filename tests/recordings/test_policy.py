"""Example tests of the recording policy: each row of the licence-mode table and its notes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from recordings.policy import (
    EVENT_NOT_ALLOWED,
    Decision,
    Event,
    EventType,
    Kind,
    Mode,
    Outcome,
    Reason,
    Span,
    Verdict,
    decide_event,
    record_at_start,
    retained_spans,
)

MIN = 60_000
END = 10 * MIN  # every call here lasts ten minutes

KEEP, START, PAUSE, RESUME = (
    EventType.KEEP,
    EventType.START,
    EventType.PAUSE,
    EventType.RESUME,
)
ACCEPTED, REPEAT, REFUSED = Verdict.ACCEPTED, Verdict.REPEAT, Verdict.REFUSED


def ev(type_: EventType, minute: float) -> Event:
    return Event(type_, int(minute * MIN))


def span(start_min: float, end_min: float) -> Span:
    return Span(int(start_min * MIN), int(end_min * MIN))


def play(
    mode: Mode | None, events: Sequence[Event], *, kind: Kind | None = Kind.STANDARD
) -> tuple[list[Verdict], list[Event]]:
    """Feed events one by one as the API would; return the verdicts and the accepted list."""
    accepted: list[Event] = []
    verdicts = []
    for event in events:
        decision = decide_event(kind=kind, mode=mode, accepted=accepted, event=event)
        verdicts.append(decision.verdict)
        if decision.verdict is ACCEPTED:
            accepted.append(event)
    return verdicts, accepted


def outcome(
    mode: Mode | None,
    events: Sequence[Event],
    *,
    kind: Kind | None = Kind.STANDARD,
    duration_ms: int = END,
) -> Outcome:
    _, accepted = play(mode, events, kind=kind)
    return retained_spans(kind=kind, mode=mode, accepted=accepted, duration_ms=duration_ms)


# --- the call-start answer ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mode", "record"),
    [
        (Kind.STANDARD, Mode.ALWAYS, True),
        (Kind.STANDARD, Mode.ALWAYS_PAUSE, True),
        (Kind.STANDARD, Mode.ON_DEMAND, True),
        (Kind.STANDARD, Mode.ON_DEMAND_USER_START, True),
        (Kind.STANDARD, Mode.NEVER, False),
        (Kind.PLAYBACK, None, True),
        (None, None, False),
    ],
)
def test_record_at_start(kind: Kind | None, mode: Mode | None, record: bool) -> None:
    assert record_at_start(kind=kind, mode=mode) is record


@pytest.mark.parametrize(
    ("kind", "mode"),
    [(Kind.STANDARD, None), (Kind.PLAYBACK, Mode.ALWAYS), (None, Mode.NEVER)],
)
def test_mode_must_match_kind(kind: Kind | None, mode: Mode | None) -> None:
    with pytest.raises(ValueError, match="licence mode"):
        record_at_start(kind=kind, mode=mode)
    with pytest.raises(ValueError, match="licence mode"):
        retained_spans(kind=kind, mode=mode, accepted=[], duration_ms=END)


def test_plain_strings_from_the_database_are_accepted() -> None:
    event = Event("pause", 5)  # type: ignore[arg-type]
    assert event.type is PAUSE
    decision = decide_event(
        kind="standard",  # type: ignore[arg-type]
        mode="always_pause",  # type: ignore[arg-type]
        accepted=[],
        event=event,
    )
    assert decision.verdict is ACCEPTED


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="before the call started"):
        Event(KEEP, -1)
    with pytest.raises(ValueError, match="'stop' is not a valid EventType"):
        Event("stop", 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid span"):
        Span(5, 4)
    with pytest.raises(ValueError, match="negative"):
        retained_spans(kind=Kind.STANDARD, mode=Mode.ALWAYS, accepted=[], duration_ms=-1)


# --- verdicts and HTTP ----------------------------------------------------------------


def test_verdicts_map_to_the_interface_statuses() -> None:
    assert Decision(ACCEPTED, "accepted").http_status == 202
    assert Decision(REPEAT, "repeat").http_status == 200
    refused = Decision(REFUSED, "no")
    assert refused.http_status == 409
    assert refused.error_code == EVENT_NOT_ALLOWED == "event_not_allowed"
    assert Decision(ACCEPTED, "accepted").error_code is None


def test_a_refusal_says_why() -> None:
    decision = decide_event(kind=Kind.STANDARD, mode=Mode.ALWAYS, accepted=[], event=ev(PAUSE, 1))
    assert decision.verdict is REFUSED
    assert "pause" in decision.reason
    assert "always" in decision.reason


# --- row: always ----------------------------------------------------------------------


def test_always_keeps_the_whole_call() -> None:
    result = outcome(Mode.ALWAYS, [])
    assert result == Outcome(
        keep=True,
        reason=Reason.KEPT,
        spans=(span(0, 10),),
        paused=(),
        captured=span(0, 10),
    )


def test_always_refuses_pause_resume_and_start_and_keep_is_a_no_op() -> None:
    verdicts, accepted = play(Mode.ALWAYS, [ev(PAUSE, 1), ev(RESUME, 2), ev(START, 3), ev(KEEP, 4)])
    assert verdicts == [REFUSED, REFUSED, REFUSED, REPEAT]
    assert accepted == []
    assert outcome(Mode.ALWAYS, [ev(PAUSE, 1), ev(KEEP, 4)]).spans == (span(0, 10),)


# --- row: always_pause ----------------------------------------------------------------


def test_always_pause_keeps_all_minus_paused_spans() -> None:
    events = [ev(PAUSE, 2), ev(RESUME, 3), ev(PAUSE, 5), ev(RESUME, 6.5)]
    assert play(Mode.ALWAYS_PAUSE, events)[0] == [ACCEPTED] * 4
    result = outcome(Mode.ALWAYS_PAUSE, events)
    assert result.keep
    assert result.reason is Reason.KEPT
    assert result.spans == (span(0, 2), span(3, 5), span(6.5, 10))
    assert result.paused == (span(2, 3), span(5, 6.5))
    assert result.retained_ms == 7.5 * MIN


def test_always_pause_allows_pause_at_any_time_even_at_the_start() -> None:
    result = outcome(Mode.ALWAYS_PAUSE, [ev(PAUSE, 0), ev(RESUME, 1)])
    assert result.spans == (span(1, 10),)
    assert result.paused == (span(0, 1),)


def test_a_pause_without_resume_lasts_until_the_end() -> None:
    result = outcome(Mode.ALWAYS_PAUSE, [ev(PAUSE, 8)])
    assert result.spans == (span(0, 8),)
    assert result.paused == (span(8, 10),)


def test_always_pause_refuses_inconsistent_pause_and_resume() -> None:
    events = [ev(RESUME, 1), ev(PAUSE, 2), ev(PAUSE, 3), ev(RESUME, 4), ev(RESUME, 5)]
    verdicts, accepted = play(Mode.ALWAYS_PAUSE, events)
    assert verdicts == [REFUSED, ACCEPTED, REFUSED, ACCEPTED, REFUSED]
    assert accepted == [ev(PAUSE, 2), ev(RESUME, 4)]


def test_always_pause_keep_is_a_no_op_and_start_is_refused() -> None:
    verdicts, _ = play(Mode.ALWAYS_PAUSE, [ev(KEEP, 1), ev(START, 2)])
    assert verdicts == [REPEAT, REFUSED]


def test_paused_from_start_to_end_retains_nothing_and_is_not_kept() -> None:
    result = outcome(Mode.ALWAYS_PAUSE, [ev(PAUSE, 0)])
    assert result == Outcome(keep=False, reason=Reason.NOTHING_RETAINED, captured=span(0, 10))


def test_touching_pauses_are_merged_and_empty_ones_dropped() -> None:
    events = [
        ev(PAUSE, 1),
        ev(RESUME, 1),  # zero-length pause
        ev(PAUSE, 2),
        ev(RESUME, 3),
        ev(PAUSE, 3),  # continues the previous pause
        ev(RESUME, 4),
    ]
    assert play(Mode.ALWAYS_PAUSE, events)[0] == [ACCEPTED] * 6
    result = outcome(Mode.ALWAYS_PAUSE, events)
    assert result.paused == (span(2, 4),)
    assert result.spans == (span(0, 2), span(4, 10))


# --- row: on_demand -------------------------------------------------------------------


def test_on_demand_without_keep_is_not_kept() -> None:
    result = outcome(Mode.ON_DEMAND, [])
    assert result == Outcome(keep=False, reason=Reason.ON_DEMAND_WITHOUT_KEEP, captured=span(0, 10))


def test_on_demand_keep_at_minute_7_keeps_the_call_from_its_start() -> None:
    result = outcome(Mode.ON_DEMAND, [ev(KEEP, 7)])
    assert result.keep
    assert result.reason is Reason.KEPT
    assert result.spans == (span(0, 10),)


def test_on_demand_refuses_pause_and_resume_before_keep_and_allows_them_after() -> None:
    events = [ev(PAUSE, 1), ev(RESUME, 2), ev(KEEP, 3), ev(PAUSE, 4), ev(RESUME, 5)]
    verdicts, _ = play(Mode.ON_DEMAND, events)
    assert verdicts == [REFUSED, REFUSED, ACCEPTED, ACCEPTED, ACCEPTED]
    result = outcome(Mode.ON_DEMAND, events)
    assert result.spans == (span(0, 4), span(5, 10))
    assert result.paused == (span(4, 5),)


def test_on_demand_pause_without_resume_after_keep_lasts_until_the_end() -> None:
    result = outcome(Mode.ON_DEMAND, [ev(KEEP, 1), ev(PAUSE, 6)])
    assert result.spans == (span(0, 6),)
    assert result.paused == (span(6, 10),)


def test_on_demand_second_keep_is_a_no_op_and_start_is_refused() -> None:
    verdicts, accepted = play(Mode.ON_DEMAND, [ev(KEEP, 2), ev(KEEP, 5), ev(KEEP, 1), ev(START, 6)])
    assert verdicts == [ACCEPTED, REPEAT, REPEAT, REFUSED]
    assert accepted == [ev(KEEP, 2)]


def test_on_demand_keep_at_the_end_counts_but_not_after_it() -> None:
    assert outcome(Mode.ON_DEMAND, [ev(KEEP, 10)]).keep
    # Only possible when the end reports a time before an already accepted keep.
    late = retained_spans(kind=Kind.STANDARD, mode=Mode.ON_DEMAND, accepted=[ev(KEEP, 11)], duration_ms=END)
    assert late.keep is False
    assert late.reason is Reason.ON_DEMAND_WITHOUT_KEEP


# --- row: on_demand_user_start --------------------------------------------------------


def test_user_start_without_start_is_not_kept_and_captured_nothing() -> None:
    result = outcome(Mode.ON_DEMAND_USER_START, [])
    assert result == Outcome(keep=False, reason=Reason.USER_START_WITHOUT_START)


def test_user_start_retains_from_start_to_the_end() -> None:
    result = outcome(Mode.ON_DEMAND_USER_START, [ev(START, 3)])
    assert result.keep
    assert result.reason is Reason.KEPT
    assert result.spans == (span(3, 10),)
    assert result.captured == span(3, 10)


def test_user_start_refuses_pause_resume_and_keep_before_start() -> None:
    events = [
        ev(PAUSE, 1),
        ev(RESUME, 1.5),
        ev(KEEP, 2),
        ev(START, 3),
        ev(PAUSE, 4),
        ev(RESUME, 5),
        ev(KEEP, 6),
        ev(START, 7),
    ]
    verdicts, accepted = play(Mode.ON_DEMAND_USER_START, events)
    assert verdicts == [
        REFUSED,
        REFUSED,
        REFUSED,
        ACCEPTED,
        ACCEPTED,
        ACCEPTED,
        REPEAT,  # keep after start: kept anyway
        REPEAT,  # a second start
    ]
    assert accepted == [ev(START, 3), ev(PAUSE, 4), ev(RESUME, 5)]
    result = outcome(Mode.ON_DEMAND_USER_START, events)
    assert result.spans == (span(3, 4), span(5, 10))
    assert result.paused == (span(4, 5),)


def test_user_start_pause_without_resume_lasts_until_the_end() -> None:
    result = outcome(Mode.ON_DEMAND_USER_START, [ev(START, 3), ev(PAUSE, 9)])
    assert result.spans == (span(3, 9),)
    assert result.paused == (span(9, 10),)


def test_user_start_at_the_end_retains_nothing() -> None:
    result = outcome(Mode.ON_DEMAND_USER_START, [ev(START, 10)])
    assert result.keep is False
    assert result.reason is Reason.NOTHING_RETAINED


# --- row: never -----------------------------------------------------------------------


def test_never_refuses_everything_and_keeps_nothing() -> None:
    events = [ev(KEEP, 1), ev(START, 2), ev(PAUSE, 3), ev(RESUME, 4)]
    verdicts, accepted = play(Mode.NEVER, events)
    assert verdicts == [REFUSED] * 4
    assert accepted == []
    assert outcome(Mode.NEVER, events) == Outcome(keep=False, reason=Reason.NEVER)


# --- playback and no product ----------------------------------------------------------


def test_playback_is_recorded_whole_and_refuses_every_event() -> None:
    events = [ev(KEEP, 1), ev(START, 2), ev(PAUSE, 3), ev(RESUME, 4)]
    verdicts, _ = play(None, events, kind=Kind.PLAYBACK)
    assert verdicts == [REFUSED] * 4
    result = outcome(None, events, kind=Kind.PLAYBACK)
    assert result == Outcome(
        keep=True,
        reason=Reason.PLAYBACK,
        spans=(span(0, 10),),
        paused=(),
        captured=span(0, 10),
    )


def test_playback_ignores_events_in_a_corrupt_accepted_list() -> None:
    result = retained_spans(kind=Kind.PLAYBACK, mode=None, accepted=[ev(PAUSE, 1)], duration_ms=END)
    assert result.spans == (span(0, 10),)


def test_a_call_without_product_refuses_events_and_keeps_nothing() -> None:
    verdicts, _ = play(None, [ev(KEEP, 1), ev(PAUSE, 2)], kind=None)
    assert verdicts == [REFUSED, REFUSED]
    assert outcome(None, [], kind=None) == Outcome(keep=False, reason=Reason.NOT_RECORDED)


def test_a_zero_length_call_retains_nothing() -> None:
    for kind, mode in [(Kind.STANDARD, Mode.ALWAYS), (Kind.PLAYBACK, None)]:
        result = retained_spans(kind=kind, mode=mode, accepted=[], duration_ms=0)
        assert result.keep is False
        assert result.reason is Reason.NOTHING_RETAINED


# --- notes: repeats, ordering, refusals -----------------------------------------------


def test_a_repeated_event_is_a_no_op_even_after_later_events() -> None:
    events = [ev(PAUSE, 1), ev(PAUSE, 1), ev(RESUME, 2), ev(PAUSE, 1), ev(RESUME, 2)]
    verdicts, accepted = play(Mode.ALWAYS_PAUSE, events)
    assert verdicts == [ACCEPTED, REPEAT, ACCEPTED, REPEAT, REPEAT]
    assert accepted == [ev(PAUSE, 1), ev(RESUME, 2)]


def test_events_earlier_than_the_last_accepted_one_are_refused() -> None:
    verdicts, _ = play(Mode.ALWAYS_PAUSE, [ev(PAUSE, 5), ev(RESUME, 4)])
    assert verdicts == [ACCEPTED, REFUSED]
    decision = decide_event(
        kind=Kind.STANDARD,
        mode=Mode.ON_DEMAND,
        accepted=[ev(KEEP, 5)],
        event=ev(PAUSE, 4),
    )
    assert decision.verdict is REFUSED
    assert "earlier" in decision.reason


def test_events_at_the_same_time_as_the_last_accepted_one_are_allowed() -> None:
    verdicts, _ = play(Mode.ON_DEMAND, [ev(KEEP, 5), ev(PAUSE, 5), ev(RESUME, 5)])
    assert verdicts == [ACCEPTED] * 3


def test_refused_events_never_change_the_outcome() -> None:
    everything = [
        ev(PAUSE, 1),  # refused: before keep
        ev(KEEP, 2),
        ev(RESUME, 3),  # refused: not paused
        ev(PAUSE, 4),
        ev(PAUSE, 4.5),  # refused: already paused
        ev(RESUME, 3.5),  # refused: out of order
        ev(RESUME, 6),
    ]
    verdicts, accepted = play(Mode.ON_DEMAND, everything)
    assert REFUSED in verdicts
    clean = retained_spans(kind=Kind.STANDARD, mode=Mode.ON_DEMAND, accepted=accepted, duration_ms=END)
    # Even a list that wrongly holds the refused events gives the same outcome.
    replayed = retained_spans(kind=Kind.STANDARD, mode=Mode.ON_DEMAND, accepted=everything, duration_ms=END)
    assert clean == replayed
    assert clean.spans == (span(0, 4), span(6, 10))


def test_paused_spans_are_clamped_to_the_call() -> None:
    # The end reports a time before an accepted resume: the pause is cut at the end.
    result = retained_spans(
        kind=Kind.STANDARD,
        mode=Mode.ALWAYS_PAUSE,
        accepted=[ev(PAUSE, 8), ev(RESUME, 12)],
        duration_ms=END,
    )
    assert result.spans == (span(0, 8),)
    assert result.paused == (span(8, 10),)
