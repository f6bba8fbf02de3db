"""Transcribing a recording (run by ``recordings.transcripts.tasks.transcribe_recording``).

Idempotent: a recording with a transcript, deleted, or of a tenant that has not opted in is left
alone. The text is redacted before it is stored; the unredacted text is never written anywhere.
A tenant that asks for it (``mute_redacted_audio``) gets the redacted words muted in the stored
rendition too (from Whisper's word times): the muted rendition is stored under a new key, takes the
recording's key in the transaction that stores the transcript, and the unmuted one is deleted.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from recordings import alerts
from recordings.audio import mute
from recordings.capture.inputs import recordings_storage
from recordings.models import Recording
from recordings.transcripts import engine, redaction
from recordings.transcripts.models import Transcript, TranscriptFailure
from tenants.models import Tenant
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)


def policy_of(tenant: Tenant) -> redaction.Policy:
    return redaction.Policy(
        phone_numbers=tenant.redact_phone_numbers,
        email_addresses=tenant.redact_email_addresses,
        region=tenant.country,
    )


# Word times are Whisper's estimates: a muted span reaches this far beyond the redacted words.
MUTE_PADDING_MS = 150


def _padded(times: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [(max(0, start - MUTE_PADDING_MS), end + MUTE_PADDING_MS) for start, end in times]


def _drop_unmuted(recording: Recording) -> None:
    """Delete the unmuted rendition a muted one replaced, then forget its key."""
    key = recording.unmuted_key
    recordings_storage().delete(key)
    Recording.objects.filter(pk=recording.pk, unmuted_key=key).update(unmuted_key="")
    recording.unmuted_key = ""


SCRATCH_PREFIX = "transcribe-"
_SCRATCH = re.compile(rf"{SCRATCH_PREFIX}(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def drop_abandoned_copies() -> int:
    """Remove the audio copies of attempts whose process is gone (a worker killed while
    transcribing leaves its temporary folder, a recording's audio, behind). Returns how many."""
    dropped = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        found = _SCRATCH.match(folder.name)
        if found and folder.is_dir() and not _alive(int(found.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            dropped += 1
    return dropped


def transcribe(*, tenant_id: str | uuid.UUID, recording_id: str | uuid.UUID) -> str:
    """Transcribe one recording and store the redacted transcript. Returns what happened."""
    with tenant_scope(tenant_id):
        recording = Recording.objects.filter(pk=recording_id).select_related("tenant").first()
        if recording is not None and recording.unmuted_key:
            _drop_unmuted(recording)  # left by an attempt cut short after its commit
        if recording is None or recording.deleted_at is not None:
            return "missing"
        tenant = recording.tenant
        if not tenant.transcription_enabled:
            return "off"
        if Transcript.objects.filter(recording=recording).exists():
            return "done"
        if dropped := drop_abandoned_copies():
            logger.warning("removed %d audio copies left by transcriptions cut short", dropped)
        storage = recordings_storage()
        policy = policy_of(tenant)
        muted: mute.MuteResult | None = None
        muted_key = ""
        with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as folder:
            path = os.path.join(folder, "audio")
            with storage.open(recording.storage_key, "rb") as source, open(path, "wb") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
            if tenant.mute_redacted_audio:  # word times only when they are used
                result = engine.transcribe(path, language=tenant.language, words=True)
            else:
                result = engine.transcribe(path, language=tenant.language)
            if tenant.mute_redacted_audio:
                times = redaction.redacted_times(
                    [(s.text, [(w.start_ms, w.end_ms, w.text) for w in s.words]) for s in result.segments],
                    policy,
                )
                if times:
                    muted_path = os.path.join(folder, "muted")
                    muted = mute.mute(path, muted_path, _padded(times))
                    with open(muted_path, "rb") as rendition:
                        muted_key = storage.save(
                            f"tenants/{recording.tenant_id}/recordings/{recording.pk}-m{uuid.uuid4().hex[:8]}.mp3",
                            File(rendition),
                        )
        texts, count = redaction.redact_segments([s.text for s in result.segments], policy)
        kept = [(s, text) for s, text in zip(result.segments, texts, strict=True) if text]
        segments = [[s.start_ms, s.end_ms, text] for s, text in kept]
        full_text = " ".join(text for _s, text in kept)
        with transaction.atomic():
            alive = (
                Recording.objects.select_for_update()
                .filter(pk=recording.pk, deleted_at__isnull=True)
                .exists()
            )
            if not alive:  # deleted while transcribing: nothing of it may stay
                if muted_key:
                    transaction.on_commit(lambda: storage.delete(muted_key))
                return "missing"
            _, created = Transcript.objects.get_or_create(
                recording=recording,
                defaults={
                    "tenant_id": recording.tenant_id,
                    "language": result.language,
                    "model_name": engine.model_name(),
                    "text": full_text,
                    "segments": [list(segment) for segment in segments],
                    "redactions": count,
                    "audio_ms": result.audio_ms,
                    "elapsed_ms": result.elapsed_ms,
                },
            )
            if created:  # the tenant's keyword alerts, on the redacted text, with the transcript
                alerts.apply_alerts(recording=recording, text=full_text)
                # An earlier failure no longer needs the admin's attention.
                TranscriptFailure.objects.filter(recording=recording).delete()
            if muted is not None and created:
                # The muted rendition replaces the unmuted one, which is deleted after this commit
                # (and, were that cut short, by the next attempt: ``unmuted_key``).
                Recording.objects.filter(pk=recording.pk).update(
                    storage_key=muted_key,
                    sha256=muted.sha256,
                    size_bytes=muted.size_bytes,
                    peaks=list(muted.peaks),
                    muted_spans=[list(span) for span in muted.muted],
                    unmuted_key=recording.storage_key,
                    verified_at=None,
                )
                recording.unmuted_key = recording.storage_key
                recording.storage_key = muted_key
            elif muted_key:  # another attempt stored the transcript first
                transaction.on_commit(lambda: storage.delete(muted_key))
        if recording.unmuted_key:
            _drop_unmuted(recording)
        logger.info(
            "recording %s transcribed (%s, %d ms audio in %d ms)",
            recording.pk,
            result.language,
            result.audio_ms,
            result.elapsed_ms,
        )
        return "transcribed" if created else "done"


def record_failure(
    *, tenant_id: str | uuid.UUID, recording_id: str | uuid.UUID, attempts: int, error: BaseException
) -> bool:
    """Note that the last attempt to transcribe a recording failed, for the admin's overview
    (``recordings.overview``) until a later transcription stores the transcript. Nothing is noted
    for a recording that is deleted or has a transcript meanwhile (another attempt stored it).
    Returns whether it was noted."""
    with tenant_scope(tenant_id), transaction.atomic():
        recording = (
            Recording.objects.select_for_update().filter(pk=recording_id, deleted_at__isnull=True).first()
        )
        if recording is None or Transcript.objects.filter(recording=recording).exists():
            return False
        TranscriptFailure.objects.update_or_create(
            recording=recording,
            defaults={
                "tenant_id": recording.tenant_id,
                "failed_at": timezone.now(),
                "attempts": attempts,
                "error": type(error).__name__[:100],
            },
        )
    return True
