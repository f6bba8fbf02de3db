"""Processing (run by ``recordings.tasks.process_call``): the raw upload becomes the recording
with its playback rendition; and the read-back the phone system asks for."""

from __future__ import annotations

import logging
import os
import tempfile
import uuid

from django.core.files import File
from django.db import transaction
from django.db.models import F

from recordings import audio, lifecycle, live, usage
from recordings.capture.calls import _delete_quietly, _note_dispatch, _outcome
from recordings.capture.inputs import (
    AUDIO_MISSING,
    PROCESS_PREFIX,
    RENDITION_EXTENSION,
    _ms,
    recordings_storage,
)
from recordings.models import Call, ProcessingOutbox, Recording
from recordings.transcripts.dispatch import request_transcript
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Processing (run by recordings.tasks.process_call)
# --------------------------------------------------------------------------------------------


def process_call(*, tenant_id: str | uuid.UUID, call_id: str | uuid.UUID) -> str:
    """Produce the recording of a call whose end and audio have both arrived. Idempotent.

    Steps, each safe to repeat after a crash:
    1. claim: a conditional UPDATE counts the attempt only while the state is ``processing``
       (anything else: finish a cleanup that may have been cut short, and stop);
    2. note the rendition key this attempt will write, deleting one a dead attempt left;
    3. download the raw upload to a temporary file, cut and encode with ``recordings.audio``;
    4. store the rendition, then in one transaction create the Recording and set ``recorded``;
    5. after that commit, delete the raw upload.
    Returns the call's final state. Transient storage errors propagate (the task retries).
    """
    with tenant_scope(tenant_id):
        claimed = Call.objects.filter(pk=call_id, state=Call.State.PROCESSING).update(
            processing_attempts=F("processing_attempts") + 1
        )
        call = Call.objects.filter(pk=call_id).first()
        if call is None:
            return "missing"
        if claimed:
            _note_dispatch(call_id)  # the repair's deadline counts from this attempt's start
        if not claimed:
            _finish_cleanup(call)
            if call.state == Call.State.RECORDED:
                _hand_over(call)
            return call.state
        recording_id = uuid.uuid4()
        with transaction.atomic():
            call = Call.objects.select_for_update().get(pk=call_id)
            stale = call.pending_rendition_key
            call.pending_rendition_key = (
                f"tenants/{call.tenant_id}/recordings/{recording_id}.{RENDITION_EXTENSION[audio.OUTPUT_MIME]}"
            )
            call.save(update_fields=["pending_rendition_key", "updated_at"])
        if stale:
            recordings_storage().delete(stale)
        return _produce(call, recording_id)


def _finish_cleanup(call: Call) -> None:
    """A finished call keeps no raw upload, no half-written rendition and no outbox row."""
    if call.state in (Call.State.IN_PROGRESS, Call.State.PROCESSING):
        return
    ProcessingOutbox.objects.filter(call=call).delete()
    if call.upload_key:
        recordings_storage().delete(call.upload_key)
        Call.objects.filter(pk=call.pk, upload_key=call.upload_key).update(upload_key="")
    if call.pending_rendition_key:
        recordings_storage().delete(call.pending_rendition_key)
        Call.objects.filter(pk=call.pk).update(pending_rendition_key="")


def _produce(call: Call, recording_id: uuid.UUID) -> str:
    storage = recordings_storage()
    outcome = _outcome(call)
    if not outcome.keep:
        return _conclude(call, state=Call.State.DISCARDED, outcome=outcome.reason.value)
    spans = [(span.start_ms, span.end_ms) for span in outcome.spans]
    duration = _ms(call.started_at, call.ended_at) if call.ended_at else None
    if not call.upload_key or not storage.exists(call.upload_key):
        # The raw audio is gone (lost before this fix, or removed by hand): nothing to retry.
        logger.error("call %s: the raw upload %r is missing", call.pk, call.upload_key)
        return _conclude(call, state=Call.State.FAILED, outcome="failed", error_code=AUDIO_MISSING)
    with tempfile.TemporaryDirectory(prefix=f"{PROCESS_PREFIX}{os.getpid()}-") as folder:
        raw_path = os.path.join(folder, "upload")
        with storage.open(call.upload_key, "rb") as source, open(raw_path, "wb") as target:
            while chunk := source.read(1024 * 1024):
                target.write(chunk)
        out_path = os.path.join(folder, "rendition")
        try:
            result = audio.process(
                raw_path, out_path, offset_ms=call.upload_offset_ms, retained=spans, call_duration_ms=duration
            )
        except audio.NothingRetained:
            return _conclude(call, state=Call.State.DISCARDED, outcome=audio.NothingRetained.default_code)
        except audio.UnsupportedAudio as exc:
            return _conclude(call, state=Call.State.FAILED, outcome="failed", error_code=exc.code)
        with open(out_path, "rb") as rendition:
            saved = storage.save(call.pending_rendition_key, File(rendition))
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if locked.state != Call.State.PROCESSING or locked.pending_rendition_key != saved:
            # Another attempt finished first: this rendition is not ours to keep.
            transaction.on_commit(lambda: _delete_quietly(saved))
            return locked.state
        if locked.kind is None or locked.ended_at is None:  # a processing call has both (see _settle)
            raise RuntimeError(f"call {locked.pk} is processing without a product or an end")
        recording = Recording.objects.create(
            id=recording_id,
            tenant_id=call.tenant_id,
            call=locked,
            owner=locked.user,
            kind=locked.kind,
            direction=locked.direction,
            leg=locked.leg,
            local_number=locked.local_number,
            remote_number=locked.remote_number,
            started_at=locked.started_at,
            ended_at=locked.ended_at,
            duration_ms=result.duration_ms,
            storage_key=saved,
            mime=result.mime,
            size_bytes=result.size_bytes,
            sha256=result.sha256,
            peaks=list(result.peaks),
            paused_spans=[[span.start_ms, span.end_ms] for span in outcome.paused],
            segments=[list(segment) for segment in result.segments],
            talk_ratio=result.talk_ratio,
            one_sided=result.one_sided,
            expires_at=lifecycle.expiry_of(kind=locked.kind, ended_at=locked.ended_at, tenant=locked.tenant),
        )
        locked.state = Call.State.RECORDED
        locked.outcome = outcome.reason.value
        locked.pending_rendition_key = ""
        locked.error_code = ""
        locked.save()
        usage.call_moved(locked, before=Call.State.PROCESSING)
        usage.recording_added(recording)
        ProcessingOutbox.objects.filter(call=locked).delete()
        live.recordings_changed([recording])  # the "Processing" row becomes the recording's
    logger.info("call %s recorded as %s", call.pk, recording.pk)
    _finish_cleanup(locked)
    _hand_over(locked)
    return locked.state


def _hand_over(call: Call) -> None:
    """The lifecycle takes over: expiry rule, and for a playback the contact rules and the prompt.

    Also run by a redelivered task for a call already recorded, in case the worker died between
    the commit and this step; a recording the lifecycle has handled (``expiry_rule`` set, or
    deleted) is left alone, so the prompt is never sent twice.
    """
    recording = Recording.objects.filter(call=call, deleted_at__isnull=True, expiry_rule="").first()
    if recording is not None:
        lifecycle.on_recording_ready(recording)
    # Last, on its own queue: the transcript never delays playing or the prompt. Asked again by a
    # redelivered task (the transcription is idempotent), so a send lost in a crash is repeated.
    ready = Recording.objects.filter(call=call, deleted_at__isnull=True).select_related("tenant").first()
    if ready is not None:
        request_transcript(ready)


def _conclude(call: Call, *, state: str, outcome: str, error_code: str = "") -> str:
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if locked.state != Call.State.PROCESSING:
            return locked.state
        locked.state = state
        locked.outcome = outcome
        locked.error_code = error_code
        locked.save()
        usage.call_moved(locked, before=Call.State.PROCESSING)
        ProcessingOutbox.objects.filter(call=locked).delete()
        live.calls_changed([locked.user_id])  # its "Processing" row goes
    _finish_cleanup(locked)
    return locked.state


def mark_failed(*, tenant_id: str | uuid.UUID, call_id: str | uuid.UUID, error_code: str) -> str:
    """Give up on a call whose processing kept failing: state ``failed``, no audio left behind."""
    with tenant_scope(tenant_id):
        call = Call.objects.filter(pk=call_id).first()
        if call is None:
            return "missing"
        try:
            return _conclude(call, state=Call.State.FAILED, outcome="failed", error_code=error_code)
        except Exception:  # storage still down: the state is set; the leftovers stay noted on the row
            logger.exception("cleanup after failure of call %s", call_id)
            return Call.State.FAILED
