"""A call's start, its events and its end (each in one transaction on the locked ``Call`` row),
and the hand-off of a call whose end and audio have both arrived to processing."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hiprecorder.tasks import registered_task
from recordings import live, policy, rules, usage
from recordings.capture.inputs import (
    CLOCK_SKEW,
    RpiError,
    _bad,
    _choice,
    _iso,
    _ms,
    _number,
    _string,
    check_call_id,
    parse_time,
    recordings_storage,
)
from recordings.models import Call, CallEvent, Direction, Leg, ProcessingOutbox, Recording
from tenants.models import Licence, PlaybackSubscription, Tenant, User

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# 1. A call starts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """A service's answer: the HTTP status and the JSON body."""

    status: int
    body: dict[str, Any]


def start_answer(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.pbx_call_id,
        "record": call.record,
        "kind": call.kind or None,
        "mode": call.mode or None,
        "announce": call.announce,
    }


def _product(user: User) -> tuple[str | None, str | None]:
    """(kind, mode) of ``user`` now: their licence, their Playback subscription, or neither."""
    if not user.is_active:
        return None, None
    licence = Licence.objects.filter(user=user).first()
    if licence is not None:
        return policy.Kind.STANDARD.value, licence.mode
    if PlaybackSubscription.objects.filter(user=user).exists():
        return policy.Kind.PLAYBACK.value, None
    return None, None


def start_call(*, tenant: Tenant, data: dict[str, Any]) -> Result:
    """Register a call; answer whether to record it, its kind and mode, and whether to announce.

    Kind and mode are frozen on the call at its start (a licence changed mid-call does not change
    the call). ``record`` follows the policy (no product or mode ``never``: false) and the user's
    blacklist; ``announce`` is the tenant's setting for calls that are recorded.
    """
    call_id = check_call_id(_string(data, "call_id"))
    pbx_user = _string(data, "user", max_length=32)
    direction = _choice(data, "direction", Direction.values)
    leg = _choice(data, "leg", Leg.values)
    local_number = _number(data, "local_number", anonymous=False)
    remote_number = _number(data, "remote_number", anonymous=True)
    started_at = parse_time(data.get("started_at"), "started_at")
    if started_at > timezone.now() + CLOCK_SKEW:
        raise _bad("started_at", "started_at lies in the future.")

    try:
        return _start(tenant, call_id, pbx_user, direction, leg, local_number, remote_number, started_at)
    except IntegrityError:
        # The same call_id was being started concurrently and the other request won the unique
        # index: now that its row is committed, this one is a replay (200) or a conflict (409).
        return _start(tenant, call_id, pbx_user, direction, leg, local_number, remote_number, started_at)


def _start(
    tenant: Tenant,
    call_id: str,
    pbx_user: str,
    direction: str,
    leg: str,
    local_number: str,
    remote_number: str,
    started_at: datetime,
) -> Result:
    with transaction.atomic():
        existing = Call.objects.select_for_update().filter(pbx_call_id=call_id).first()
        if existing is not None:
            same = (
                existing.user is not None
                and existing.user.pbx_id == pbx_user
                and (existing.direction, existing.leg, existing.local_number, existing.remote_number)
                == (direction, leg, local_number, remote_number)
                and existing.started_at == started_at
            )
            if not same:
                raise RpiError(
                    409,
                    "call_id_conflict",
                    f"Call {call_id} was already started with different details.",
                )
            return Result(200, start_answer(existing))
        user = User.objects.filter(tenant=tenant, pbx_id=pbx_user).first()
        if user is None:
            raise RpiError(404, "unknown_user", f"No user with phone-system id {pbx_user!r} in this tenant.")
        kind, mode = _product(user)
        record = policy.record_at_start(kind=kind, mode=mode)
        blacklisted = record and rules.is_blacklisted(user, remote_number)
        record = record and not blacklisted
        call = Call.objects.create(
            tenant=tenant,
            pbx_call_id=call_id,
            user=user,
            direction=direction,
            leg=leg,
            local_number=local_number,
            remote_number=remote_number,
            started_at=started_at,
            kind=kind,
            mode=mode,
            record=record,
            announce=record and tenant.announce_recording,
            blacklisted=blacklisted,
        )
    return Result(201, start_answer(call))


def _locked_call(call_id: str) -> Call:
    check_call_id(call_id)
    call = (
        Call.objects.select_for_update(of=("self",))
        .filter(pbx_call_id=call_id)
        .select_related("user")
        .first()
    )
    if call is None:
        raise RpiError(404, "unknown_call", f"No call {call_id!r} for this tenant.")
    return call


def find_call(call_id: str) -> Call:
    check_call_id(call_id)
    call = Call.objects.filter(pbx_call_id=call_id).first()
    if call is None:
        raise RpiError(404, "unknown_call", f"No call {call_id!r} for this tenant.")
    return call


def _accepted_events(call: Call) -> list[policy.Event]:
    rows = CallEvent.objects.filter(call=call).order_by("id")
    return [policy.Event(policy.EventType(row.type), row.offset_ms) for row in rows]


# --------------------------------------------------------------------------------------------
# 2. Events
# --------------------------------------------------------------------------------------------


def record_event(*, call_id: str, data: dict[str, Any]) -> Result:
    """Accept (202), repeat (200) or refuse (409/400) an event, as the call's mode allows."""
    type_ = _choice(data, "type", policy.EventType)
    at = parse_time(data.get("at"), "at")
    with transaction.atomic():
        call = _locked_call(call_id)
        accepted = _accepted_events(call)
        offset = _ms(call.started_at, at)
        event = policy.Event(policy.EventType(type_), max(offset, 0))
        body = {"call_id": call.pbx_call_id, "type": type_, "at": _iso(at)}
        if offset >= 0 and CallEvent.objects.filter(call=call, type=type_, at=at).exists():
            return Result(200, {**body, "accepted": True})
        if call.ended_at is not None:
            raise RpiError(409, "call_ended", f"Call {call.pbx_call_id} has ended; no more events.")
        if at < call.started_at or at > timezone.now() + CLOCK_SKEW:
            raise _bad("at", f"at must lie between the call's start ({_iso(call.started_at)}) and now.")
        decision = policy.decide_event(kind=call.kind, mode=call.mode, accepted=accepted, event=event)
        if decision.verdict is policy.Verdict.REFUSED:
            raise RpiError(409, policy.EVENT_NOT_ALLOWED, f"{type_} is not allowed now: {decision.reason}.")
        if decision.verdict is policy.Verdict.REPEAT:
            return Result(200, {**body, "accepted": True})
        CallEvent.objects.create(tenant_id=call.tenant_id, call=call, type=type_, at=at, offset_ms=offset)
    return Result(202, {**body, "accepted": True})


# --------------------------------------------------------------------------------------------
# 3. The end
# --------------------------------------------------------------------------------------------


def _outcome(call: Call) -> policy.Outcome:
    assert call.ended_at is not None
    return policy.retained_spans(
        kind=call.kind,
        mode=call.mode,
        accepted=_accepted_events(call),
        duration_ms=_ms(call.started_at, call.ended_at),
    )


def end_call(*, call_id: str, data: dict[str, Any]) -> Result:
    """End the call (202; the same time again 200) and settle what happens to its audio."""
    ended_at = parse_time(data.get("ended_at"), "ended_at")
    with transaction.atomic():
        call = _locked_call(call_id)
        if call.ended_at is not None:
            if call.ended_at == ended_at:
                _resend_if_unsent(call)
                return Result(200, read_back(call))
            raise RpiError(
                409, "call_ended", f"Call {call.pbx_call_id} already ended at {_iso(call.ended_at)}."
            )
        if ended_at < call.started_at or ended_at > timezone.now() + CLOCK_SKEW:
            raise _bad(
                "ended_at", f"ended_at must lie between the call's start ({_iso(call.started_at)}) and now."
            )
        call.ended_at = ended_at
        _settle(call)
        call.save()
    return Result(202, read_back(call))


def _settle(call: Call) -> None:
    """After the end: decide the state, drop audio that is not kept, start processing if ready.

    Runs inside the caller's transaction with the call locked; the caller saves the call.
    """
    before = call.state
    _decide(call)
    usage.call_moved(call, before=before)


def _decide(call: Call) -> None:
    if not call.record:
        call.state = Call.State.DISCARDED if call.blacklisted else Call.State.NOT_RECORDED
        call.outcome = "blacklisted" if call.blacklisted else policy.Reason.NOT_RECORDED.value
        return
    if (
        call.kind == policy.Kind.PLAYBACK
        and call.user
        and rules.is_blacklisted(call.user, call.remote_number)
    ):
        keep, reason = False, "blacklisted"
    else:
        outcome = _outcome(call)
        keep, reason = outcome.keep, outcome.reason.value
    call.outcome = reason
    if not keep:
        call.state = Call.State.DISCARDED
        _delete_on_commit(call.upload_key)
        call.upload_key = ""
        return
    if call.upload_key:
        call.state = Call.State.PROCESSING
        _enqueue_processing(call)


def _enqueue_processing(call: Call) -> None:
    """Queue the call for processing: an outbox row in the caller's transaction, the task sent
    after the commit. If that send fails (broker down) the error propagates, so the request
    answers 503 and the phone system retries, while the committed row stays for
    ``recordings.repair`` to send again: a call is never left ``processing`` with nothing queued."""
    ProcessingOutbox.objects.update_or_create(
        call=call, defaults={"tenant_id": call.tenant_id, "dispatched_at": None}
    )
    live.calls_changed([call.user_id])  # its "Processing" row appears in the person's lists
    tenant_id, call_id = str(call.tenant_id), str(call.id)
    transaction.on_commit(lambda: dispatch_processing(tenant_id=tenant_id, call_id=call_id))


def dispatch_processing(*, tenant_id: str, call_id: str) -> None:
    """Send the processing task of a queued call and note the send on its outbox row."""
    # By name: recordings.tasks imports this module, so importing it back would make a circle.
    registered_task("recordings.tasks.process_call").apply_async(args=(tenant_id, call_id))
    _note_dispatch(call_id)


def _resend_if_unsent(call: Call) -> None:
    """On a replayed request (the phone system retrying after a 503): if the call's task was never
    sent, send it after the commit now, so the retry finishes what the first request could not;
    if the broker is still down, the retry gets 503 again. Sent by one replay only (claim)."""
    if call.state != Call.State.PROCESSING:
        return
    tenant_id, call_id = str(call.tenant_id), str(call.id)

    def resend() -> None:
        claimed = ProcessingOutbox.objects.filter(call_id=call_id, dispatched_at__isnull=True).update(
            dispatched_at=timezone.now()
        )
        if not claimed:
            return
        try:
            dispatch_processing(tenant_id=tenant_id, call_id=call_id)
        except BaseException:
            ProcessingOutbox.objects.filter(call_id=call_id).update(dispatched_at=None)
            raise

    transaction.on_commit(resend)


def _note_dispatch(call_id: str | uuid.UUID) -> None:
    ProcessingOutbox.objects.unscoped().filter(call_id=call_id).update(
        dispatched_at=timezone.now(), dispatches=F("dispatches") + 1
    )


def _delete_on_commit(key: str) -> None:
    if key:
        transaction.on_commit(lambda: _delete_quietly(key))


def _delete_quietly(key: str) -> None:
    try:
        recordings_storage().delete(key)
    except Exception:  # the object may already be gone; a leftover is found by the storage audit
        logger.exception("could not delete %s", key)


# --------------------------------------------------------------------------------------------
# 5. Read-back
# --------------------------------------------------------------------------------------------


def read_back(call: Call) -> dict[str, Any]:
    """The call as the phone system may read it back (``GET /rpi/v1/calls/{call_id}``)."""
    body: dict[str, Any] = {
        "call_id": call.pbx_call_id,
        "state": call.state,
        "kind": call.kind or None,
        "mode": call.mode or None,
        "record": call.record,
    }
    if call.state == Call.State.RECORDED:
        recording = Recording.objects.filter(call=call).first()
        if recording is None or recording.is_deleted:
            body["state"] = Call.State.DELETED.value
        else:
            body["recording"] = {
                "id": str(recording.id),
                "duration_ms": recording.duration_ms,
                "sha256": recording.sha256,
            }
    if call.state == Call.State.FAILED:
        body["error_code"] = call.error_code or "processing_failed"
    return body
