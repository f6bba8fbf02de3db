"""Transcribing a recording (run by ``recordings.transcripts.tasks.transcribe_recording``).

Idempotent: a recording with a transcript, deleted, or of a tenant that has not opted in is left
alone. The text is redacted before it is stored; the unredacted text is never written anywhere.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid

from django.db import transaction

from recordings import alerts
from recordings.capture.inputs import recordings_storage
from recordings.models import Recording
from recordings.transcripts import engine, redaction
from recordings.transcripts.models import Transcript
from tenants.models import Tenant
from tenants.scoping import tenant_scope

logger = logging.getLogger(__name__)


def policy_of(tenant: Tenant) -> redaction.Policy:
    return redaction.Policy(
        phone_numbers=tenant.redact_phone_numbers,
        email_addresses=tenant.redact_email_addresses,
        region=tenant.country,
    )


def transcribe(*, tenant_id: str | uuid.UUID, recording_id: str | uuid.UUID) -> str:
    """Transcribe one recording and store the redacted transcript. Returns what happened."""
    with tenant_scope(tenant_id):
        recording = (
            Recording.objects.filter(pk=recording_id, deleted_at__isnull=True)
            .select_related("tenant")
            .first()
        )
        if recording is None:
            return "missing"
        tenant = recording.tenant
        if not tenant.transcription_enabled:
            return "off"
        if Transcript.objects.filter(recording=recording).exists():
            return "done"
        storage = recordings_storage()
        with tempfile.TemporaryDirectory(prefix=f"transcribe-{os.getpid()}-") as folder:
            path = os.path.join(folder, "audio")
            with storage.open(recording.storage_key, "rb") as source, open(path, "wb") as target:
                while chunk := source.read(1024 * 1024):
                    target.write(chunk)
            result = engine.transcribe(path, language=tenant.language)
        texts, count = redaction.redact_segments([s.text for s in result.segments], policy_of(tenant))
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
        logger.info(
            "recording %s transcribed (%s, %d ms audio in %d ms)",
            recording.pk,
            result.language,
            result.audio_ms,
            result.elapsed_ms,
        )
        return "transcribed" if created else "done"
