"""Property-based tests of the recording policy over random event sequences.

Events are fed one by one through ``decide_event`` as the API would, keeping the accepted
ones; the outcome is then checked against invariants and against a millisecond-by-millisecond
model of the licence-mode table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from recordings.policy import (
    Event,
    EventType,
    Kind,
    Mode,
    Outcome,
    Reason,
    Span,
    Verdict,
    decide_event,
    retained_spans,
)

KEEP, START, PAUSE, RESUME = (
    EventType.KEEP,
    EventType.START,
    EventType.PAUSE,
    EventType.RESUME,
)
PAUSE_RESUME = (PAUSE, RESUME)

PRODUCTS: list[tuple[Kind | None, Mode | None]] = [
    *((Kind.STANDARD, mode) for mode in Mode),
    (Kind.PLAYBACK, None),
    (None, None),
]


@dataclass(frozen=True)
class Run:
    kind: Kind | None
    mode: Mode | None
    duration_ms: int
    events: tuple[Event, ...]  # in arrival order
    verdicts: tuple[Verdict, ...]
    accepted: tuple[Event, ...]
    outcome: Outcome


def run(kind: Kind | None, mode: Mode | None, duration_ms: int, events: Sequence[Event]) -> Run:
    accepted: list[Event] = []
    verdicts: list[Verdict] = []
    for event in events:
        decision = decide_event(kind=kind, mode=mode, accepted=accepted, event=event)
        verdicts.append(decision.verdict)
        if decision.verdict is Verdict.ACCEPTED:
            accepted.append(event)
    outcome = retained_spans(kind=kind, mode=mode, accepted=accepted, duration_ms=duration_ms)
    return Run(kind, mode, duration_ms, tuple(events), tuple(verdicts), tuple(accepted), outcome)


@st.composite
def runs(draw: st.DrawFn, products: Sequence[tuple[Kind | None, Mode | None]] = PRODUCTS) -> Run:
    """A random call: small times so that repeats and same-ms events are common.

    Times lie within the call, except sometimes a little after it (an ``end`` that reports a
    time before events already accepted); they are sorted or in random order.
    """
    kind, mode = draw(st.sampled_from(products))
    duration_ms = draw(st.integers(0, 60))
    latest = duration_ms + draw(st.sampled_from([0, 0, 0, 5]))
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(list(EventType)), st.integers(0, latest)),
            max_size=14,
        )
    )
    if draw(st.booleans()):
        pairs.sort(key=lambda pair: pair[1])
    return run(kind, mode, duration_ms, [Event(t, at) for t, at in pairs])


def expand(spans: Sequence[Span]) -> set[int]:
    return {ms for span in spans for ms in range(span.start_ms, span.end_ms)}


def model(call: Run) -> tuple[set[int], set[int]]:
    """The table, one millisecond at a time: (retained ms, paused ms) of the accepted events."""
    if call.kind is None or call.mode is Mode.NEVER:
        return set(), set()
    if call.kind is Kind.PLAYBACK:
        return set(range(call.duration_ms)), set()
    live = [e for e in call.accepted if e.at_ms <= call.duration_ms]
    gates = [e.at_ms for e in live if e.type in (KEEP, START)]
    if call.mode in (Mode.ON_DEMAND, Mode.ON_DEMAND_USER_START) and not gates:
        return set(), set()
    begin = gates[0] if call.mode is Mode.ON_DEMAND_USER_START else 0

    def paused(ms: int) -> bool:
        state = False
        for e in live:
            if e.type in PAUSE_RESUME and e.at_ms <= ms:
                state = e.type is PAUSE
        return state

    captured = range(begin, call.duration_ms)
    retained = {ms for ms in captured if not paused(ms)}
    if not retained:
        return set(), set()
    return retained, {ms for ms in captured if paused(ms)}


def assert_well_formed(spans: Sequence[Span], duration_ms: int) -> None:
    for span in spans:
        assert 0 <= span.start_ms < span.end_ms <= duration_ms
    for before, after in pairwise(spans):
        assert before.end_ms < after.start_ms  # sorted, disjoint, not even touching


@settings(max_examples=500)
@given(runs())
def test_outcome_matches_the_table_millisecond_by_millisecond(call: Run) -> None:
    retained, paused = model(call)
    assert expand(call.outcome.spans) == retained
    assert expand(call.outcome.paused) == paused
    assert call.outcome.keep is bool(retained)


@settings(max_examples=500)
@given(runs())
def test_spans_are_well_formed_and_fill_the_captured_window(call: Run) -> None:
    outcome = call.outcome
    assert_well_formed(outcome.spans, call.duration_ms)
    assert_well_formed(outcome.paused, call.duration_ms)
    assert not expand(outcome.spans) & expand(outcome.paused)
    assert outcome.keep is bool(outcome.spans)
    if outcome.keep:
        assert outcome.reason in (Reason.KEPT, Reason.PLAYBACK)
        captured = outcome.captured
        assert captured is not None
        assert outcome.retained_ms + sum(p.duration_ms for p in outcome.paused) == (captured.duration_ms)
        assert outcome.spans[0].start_ms >= captured.start_ms
        assert outcome.spans[-1].end_ms <= captured.end_ms
    else:
        assert outcome.reason not in (Reason.KEPT, Reason.PLAYBACK)
        assert outcome.paused == ()


@settings(max_examples=500)
@given(runs())
def test_accepted_events_are_consistent_with_the_mode(call: Run) -> None:
    accepted = call.accepted
    times = [e.at_ms for e in accepted]
    assert times == sorted(times)
    assert len(set(accepted)) == len(accepted)
    gates = [i for i, e in enumerate(accepted) if e.type in (KEEP, START)]
    assert len(gates) <= 1
    switches = [e.type for e in accepted if e.type in PAUSE_RESUME]
    assert switches == [PAUSE, RESUME] * (len(switches) // 2) + [PAUSE] * (len(switches) % 2)

    types = {e.type for e in accepted}
    if call.kind is not Kind.STANDARD or call.mode in (Mode.NEVER, Mode.ALWAYS):
        assert accepted == ()
    elif call.mode is Mode.ALWAYS_PAUSE:
        assert types <= set(PAUSE_RESUME)
    else:
        gate = KEEP if call.mode is Mode.ON_DEMAND else START
        assert types <= {gate, *PAUSE_RESUME}
        if accepted:  # pause and resume only after the gate
            assert accepted[0].type is gate


@settings(max_examples=300)
@given(runs())
def test_mode_specific_outcomes(call: Run) -> None:
    outcome, duration = call.outcome, call.duration_ms
    whole = (Span(0, duration),) if duration else ()
    in_call = [e for e in call.accepted if e.at_ms <= duration]
    if call.kind is None:
        assert outcome == Outcome(keep=False, reason=Reason.NOT_RECORDED)
    elif call.kind is Kind.PLAYBACK:
        assert outcome.spans == whole
    elif call.mode is Mode.NEVER:
        assert outcome == Outcome(keep=False, reason=Reason.NEVER)
    elif call.mode is Mode.ALWAYS:
        assert outcome.spans == whole
        assert outcome.paused == ()
    elif call.mode is Mode.ON_DEMAND:
        if not any(e.type is KEEP for e in in_call):
            assert outcome.keep is False
            assert outcome.reason is Reason.ON_DEMAND_WITHOUT_KEEP
    elif call.mode is Mode.ON_DEMAND_USER_START:
        starts = [e.at_ms for e in in_call if e.type is START]
        if not starts:
            assert outcome == Outcome(keep=False, reason=Reason.USER_START_WITHOUT_START)
        elif outcome.keep:
            assert outcome.spans[0].start_ms >= starts[0]  # nothing before start
            assert outcome.captured == Span(starts[0], duration)


@settings(max_examples=300)
@given(runs())
def test_repeating_an_accepted_event_is_a_no_op(call: Run) -> None:
    for event in call.accepted:
        decision = decide_event(kind=call.kind, mode=call.mode, accepted=call.accepted, event=event)
        assert decision.verdict is Verdict.REPEAT
        assert decision.http_status == 200
        again = retained_spans(
            kind=call.kind,
            mode=call.mode,
            accepted=[*call.accepted, event],
            duration_ms=call.duration_ms,
        )
        assert again == call.outcome


@settings(max_examples=300)
@given(runs())
def test_refused_and_repeated_events_never_change_the_outcome(call: Run) -> None:
    # A list that wrongly holds every event received gives the outcome of the accepted ones.
    everything = retained_spans(
        kind=call.kind,
        mode=call.mode,
        accepted=call.events,
        duration_ms=call.duration_ms,
    )
    assert everything == call.outcome
    # And so does the accepted list with any one of them inserted where it arrived.
    for i, (event, verdict) in enumerate(zip(call.events, call.verdicts, strict=True)):
        if verdict is not Verdict.ACCEPTED:
            n = call.verdicts[:i].count(Verdict.ACCEPTED)
            before, after = call.accepted[:n], call.accepted[n:]
            inserted = retained_spans(
                kind=call.kind,
                mode=call.mode,
                accepted=[*before, event, *after],
                duration_ms=call.duration_ms,
            )
            assert inserted == call.outcome


@st.composite
def well_formed_runs(draw: st.DrawFn) -> Run:
    """A call where the phone system behaves: the gate first, then pause/resume in turn."""
    kind, mode = draw(
        st.sampled_from(
            [
                (Kind.STANDARD, Mode.ALWAYS_PAUSE),
                (Kind.STANDARD, Mode.ON_DEMAND),
                (Kind.STANDARD, Mode.ON_DEMAND_USER_START),
            ]
        )
    )
    duration_ms = draw(st.integers(1, 100_000))
    times = sorted(draw(st.lists(st.integers(0, duration_ms), unique=True, min_size=1)))
    events: list[Event] = []
    if mode is not Mode.ALWAYS_PAUSE:
        gate = KEEP if mode is Mode.ON_DEMAND else START
        events.append(Event(gate, times.pop(0)))
    events += [Event(PAUSE_RESUME[i % 2], at) for i, at in enumerate(times)]
    return run(kind, mode, duration_ms, events)


@settings(max_examples=300)
@given(well_formed_runs())
def test_a_well_behaved_phone_system_is_never_refused(call: Run) -> None:
    assert set(call.verdicts) == {Verdict.ACCEPTED}
    switches = [e for e in call.accepted if e.type in PAUSE_RESUME]
    expected_paused = [
        Span(pause.at_ms, resume.at_ms) for pause, resume in zip(switches[::2], switches[1::2], strict=False)
    ]
    if len(switches) % 2:
        expected_paused.append(Span(switches[-1].at_ms, call.duration_ms))
    if call.outcome.keep:
        assert call.outcome.paused == tuple(p for p in expected_paused if p.duration_ms)
        start = call.outcome.captured.start_ms if call.outcome.captured else 0
        assert call.outcome.retained_ms == (
            call.duration_ms - start - sum(p.duration_ms for p in expected_paused)
        )
