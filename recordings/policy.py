"""The recording policy: which phone-system events a call accepts, and what audio it keeps.

Pure functions over plain values, no Django and no I/O. They implement the licence-mode
table of ``recording-modes.md`` and the event rules of ``telephony-interface.md`` (section 2).
Times are integer milliseconds after the call's ``started_at``; a ``Span`` is the half-open
interval ``[start_ms, end_ms)``.

The caller keeps, per call, the list of events this module *accepted*, in arrival order, and
passes it back in. Both functions replay that list through the same rules, so an event the
rules would refuse (a corrupt or hand-edited list) is ignored and can never corrupt the call.

Decisions taken where the specs are silent:

- Verdicts map to HTTP as ``ACCEPTED`` 202, ``REPEAT`` 200, ``REFUSED`` 409
  ``event_not_allowed`` (``call_ended`` and the ``400`` for an ``at`` outside the call are the
  caller's checks, made before this module is asked).
- ``REPEAT`` (200) answers every event that changes nothing and is not wrong: an exact repeat
  of an accepted event (same type and time, checked first, even if it is older than the latest
  event), a second ``keep`` or ``start`` at any time, and a ``keep`` where the call is kept
  anyway (``always``, ``always_pause``, ``on_demand_user_start`` after ``start``).
  Such events are not added to the accepted list.
- ``keep`` is refused where it cannot take effect: ``never``, ``on_demand_user_start`` before
  ``start`` (nothing is captured yet; the phone system must send ``start``), and Playback.
- ``start`` exists only in ``on_demand_user_start``; every other mode refuses it.
- A ``pause`` while paused, or a ``resume`` while not paused, is refused: it contradicts the
  call's state, and answering 200 would hide a phone-system bug.
- An event that would change the call must not be earlier than the latest accepted event
  (equal times are fine). Otherwise it is refused: accepting it would rewrite history that
  earlier answers were based on.
- Playback calls (``kind=playback``) refuse every event: whether a Playback recording is kept is
  decided by the user (push prompt, contact rules), not by the phone system. A call without a
  product (``kind=None``) refuses every event too.
- An event later than the call's end (``at_ms > duration_ms``; possible only if ``end`` reports
  a time earlier than events already accepted) did not come "before tE": it is ignored. A
  ``keep`` or ``start`` exactly at ``tE`` counts.
- A call is kept only if something is retained: a recording paused from start to end, a
  ``start`` at ``tE`` or a zero-length call gives ``keep=False`` with reason
  ``nothing_retained``, even in ``always``/``always_pause``.
- Paused spans that touch (``resume`` and ``pause`` at the same ms) are merged; zero-length
  pauses are dropped. A call not kept reports no spans and no paused spans.
- Kind and mode may be passed as plain strings (database values). A mode goes with kind
  ``standard`` and only with it; anything else is a ``ValueError`` (a bug, not a 4xx).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

EVENT_NOT_ALLOWED = "event_not_allowed"


class Mode(StrEnum):
    """The licence mode of a standard recording."""

    ALWAYS = "always"
    ALWAYS_PAUSE = "always_pause"
    ON_DEMAND = "on_demand"
    ON_DEMAND_USER_START = "on_demand_user_start"
    NEVER = "never"


class Kind(StrEnum):
    """Which product records the call: a licence (standard) or a Playback subscription."""

    STANDARD = "standard"
    PLAYBACK = "playback"


class EventType(StrEnum):
    KEEP = "keep"
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REPEAT = "repeat"
    REFUSED = "refused"

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]


_HTTP_STATUS = {Verdict.ACCEPTED: 202, Verdict.REPEAT: 200, Verdict.REFUSED: 409}


class Reason(StrEnum):
    """Why a call is, or is not, kept."""

    KEPT = "kept"
    PLAYBACK = "playback"  # recorded whole; the Playback lifecycle decides later
    ON_DEMAND_WITHOUT_KEEP = "on_demand_without_keep"
    USER_START_WITHOUT_START = "user_start_without_start"
    NOTHING_RETAINED = "nothing_retained"
    NEVER = "never"
    NOT_RECORDED = "not_recorded"  # no licence and no Playback subscription


@dataclass(frozen=True)
class Event:
    type: EventType
    at_ms: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", EventType(self.type))
        if self.at_ms < 0:
            raise ValueError(f"event time must not be before the call started: {self.at_ms}")


@dataclass(frozen=True)
class Span:
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_ms <= self.end_ms:
            raise ValueError(f"invalid span [{self.start_ms}, {self.end_ms})")

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str

    @property
    def http_status(self) -> int:
        return self.verdict.http_status

    @property
    def error_code(self) -> str | None:
        return EVENT_NOT_ALLOWED if self.verdict is Verdict.REFUSED else None


@dataclass(frozen=True)
class Outcome:
    """What to keep of a call that has ended.

    ``spans``: the retained audio, sorted, disjoint and non-empty. ``paused``: the paused spans
    inside the captured window, for the recording's metadata. ``captured``: the window the
    phone system captures audio for (``None`` when it captures nothing).
    """

    keep: bool
    reason: Reason
    spans: tuple[Span, ...] = ()
    paused: tuple[Span, ...] = ()
    captured: Span | None = None

    @property
    def retained_ms(self) -> int:
        return sum(span.duration_ms for span in self.spans)


def record_at_start(*, kind: Kind | str | None, mode: Mode | str | None) -> bool:
    """The ``record`` flag of the call-start answer (before blacklist rules, which are not ours).

    False without a product and in mode ``never``; true otherwise, ``on_demand_user_start``
    included (the phone system then sends audio from ``start``).
    """
    kind, mode = _checked(kind, mode)
    return kind is not None and mode is not Mode.NEVER


def decide_event(
    *, kind: Kind | str | None, mode: Mode | str | None, accepted: Sequence[Event], event: Event
) -> Decision:
    """Decide an event that arrives during the call, given the events accepted so far."""
    return _replay(kind, mode, accepted).decide(event)


def retained_spans(
    *, kind: Kind | str | None, mode: Mode | str | None, accepted: Sequence[Event], duration_ms: int
) -> Outcome:
    """What is kept of a call of ``duration_ms`` that ended after the ``accepted`` events."""
    if duration_ms < 0:
        raise ValueError(f"duration must not be negative: {duration_ms}")
    call = _replay(kind, mode, accepted)
    whole = Span(0, duration_ms)
    if call.kind is None:
        return Outcome(keep=False, reason=Reason.NOT_RECORDED)
    if call.kind is Kind.PLAYBACK:
        return _keep_unless_empty(Reason.PLAYBACK, whole, paused=())
    if call.mode is Mode.NEVER:
        return Outcome(keep=False, reason=Reason.NEVER)

    events = [e for e in call.accepted if e.at_ms <= duration_ms]
    gate = next((e for e in events if e.type in (EventType.KEEP, EventType.START)), None)
    if call.mode is Mode.ON_DEMAND_USER_START:
        if gate is None:
            return Outcome(keep=False, reason=Reason.USER_START_WITHOUT_START)
        captured = Span(gate.at_ms, duration_ms)
    else:
        captured = whole
        if call.mode is Mode.ON_DEMAND and gate is None:
            return Outcome(keep=False, reason=Reason.ON_DEMAND_WITHOUT_KEEP, captured=captured)
    return _keep_unless_empty(Reason.KEPT, captured, paused=_paused_spans(events, captured))


def _checked(kind: Kind | str | None, mode: Mode | str | None) -> tuple[Kind | None, Mode | None]:
    kind = None if kind is None else Kind(kind)
    mode = None if mode is None else Mode(mode)
    if (kind is Kind.STANDARD) != (mode is not None):
        raise ValueError(f"a licence mode goes with kind standard, and only with it: {kind}/{mode}")
    return kind, mode


@dataclass
class _Call:
    """The state of a call built from its accepted events."""

    kind: Kind | None
    mode: Mode | None
    accepted: list[Event] = field(default_factory=list)
    gated: bool = False  # on_demand: keep came; on_demand_user_start: start came
    paused: bool = False

    def decide(self, event: Event) -> Decision:
        if self.kind is None:
            return _refused("this call is not recorded (no licence or Playback subscription)")
        if self.kind is Kind.PLAYBACK:
            return _refused("a Playback recording is kept or deleted by its user, not by phone-system events")
        if event in self.accepted:
            return Decision(Verdict.REPEAT, "repeats an accepted event")
        mode, type_ = self.mode, event.type
        if mode is Mode.NEVER:
            return _refused("nothing is recorded in mode never")
        if type_ is EventType.START:
            if mode is not Mode.ON_DEMAND_USER_START:
                return _refused(f"start is only used in mode on_demand_user_start, not {mode}")
            if self.gated:
                return Decision(Verdict.REPEAT, "recording already started")
        elif type_ is EventType.KEEP:
            if mode is Mode.ON_DEMAND_USER_START and not self.gated:
                return _refused("nothing is recorded before start; send start to record")
            if mode is not Mode.ON_DEMAND or self.gated:
                return Decision(Verdict.REPEAT, "the call is kept already")
        elif mode is Mode.ALWAYS:
            return _refused(f"{type_} is not allowed in mode always")
        elif not self.gated and mode is Mode.ON_DEMAND:
            return _refused(f"{type_} is not allowed before keep in mode on_demand")
        elif not self.gated and mode is Mode.ON_DEMAND_USER_START:
            return _refused(f"{type_} is not allowed before start in mode on_demand_user_start")
        elif type_ is EventType.PAUSE and self.paused:
            return _refused("the recording is paused already")
        elif type_ is EventType.RESUME and not self.paused:
            return _refused("the recording is not paused")
        if self.accepted and event.at_ms < self.accepted[-1].at_ms:
            return _refused(
                f"{type_} at {event.at_ms} ms is earlier than the last accepted event"
                f" ({self.accepted[-1].type} at {self.accepted[-1].at_ms} ms)"
            )
        return Decision(Verdict.ACCEPTED, "accepted")

    def apply(self, event: Event) -> None:
        self.accepted.append(event)
        if event.type in (EventType.KEEP, EventType.START):
            self.gated = True
        else:
            self.paused = event.type is EventType.PAUSE


def _refused(reason: str) -> Decision:
    return Decision(Verdict.REFUSED, reason)


def _replay(kind: Kind | str | None, mode: Mode | str | None, events: Sequence[Event]) -> _Call:
    call = _Call(*_checked(kind, mode))
    for event in events:
        if call.decide(event).verdict is Verdict.ACCEPTED:
            call.apply(event)
    return call


def _paused_spans(events: Sequence[Event], captured: Span) -> tuple[Span, ...]:
    """Paused spans inside ``captured``: merged when they touch, without empty ones."""
    paused: list[Span] = []

    def add(start_ms: int, end_ms: int) -> None:
        start_ms = max(start_ms, captured.start_ms)
        if start_ms >= end_ms:
            return
        if paused and paused[-1].end_ms >= start_ms:
            start_ms = paused.pop().start_ms
        paused.append(Span(start_ms, end_ms))

    since: int | None = None
    for event in events:
        if event.type is EventType.PAUSE:
            since = event.at_ms
        elif event.type is EventType.RESUME and since is not None:
            add(since, min(event.at_ms, captured.end_ms))
            since = None
    if since is not None:  # a pause without a later resume lasts until tE
        add(since, captured.end_ms)
    return tuple(paused)


def _keep_unless_empty(reason: Reason, captured: Span, paused: tuple[Span, ...]) -> Outcome:
    spans: list[Span] = []
    cursor = captured.start_ms
    for span in paused:
        if span.start_ms > cursor:
            spans.append(Span(cursor, span.start_ms))
        cursor = max(cursor, span.end_ms)
    if cursor < captured.end_ms:
        spans.append(Span(cursor, captured.end_ms))
    if not spans:
        return Outcome(keep=False, reason=Reason.NOTHING_RETAINED, captured=captured)
    return Outcome(keep=True, reason=reason, spans=tuple(spans), paused=paused, captured=captured)
