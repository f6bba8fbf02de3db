"""A recording's transcript: redacted text and its timed segments (imported by recordings.models).

The foreign key to the recording makes the transcript derived data of it: the lifecycle's deletion
(retention, the sweep, erasure, the end-of-service purge) deletes it with the audio
(``recordings.lifecycle.deletion._dependent_relations``).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantOwned


class Transcript(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recording = models.OneToOneField(
        "recordings.Recording", on_delete=models.CASCADE, related_name="transcript"
    )
    language = models.CharField(_("language"), max_length=8)
    model_name = models.CharField(max_length=200)
    # The whole redacted text (what search reads) and the segments: [[start_ms, end_ms, text], ...]
    text = models.TextField(_("transcript"))
    segments = models.JSONField(default=list)
    redactions = models.PositiveIntegerField(default=0)
    audio_ms = models.PositiveIntegerField(default=0)
    elapsed_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("transcript")

    def __str__(self) -> str:
        return f"transcript of {self.recording_id}"


class TranscriptFailure(TenantOwned):
    """A transcription whose last attempt failed (``service.record_failure``, from the task after
    its last retry, or at once for a failure that is not retried): the recording stays without a
    transcript, and the admin's overview counts it among the failures needing attention. A later
    transcription that stores the transcript deletes the row; as derived data of the recording it
    goes with it too (retention, erasure, the end-of-service purge)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recording = models.OneToOneField(
        "recordings.Recording", on_delete=models.CASCADE, related_name="transcript_failure"
    )
    failed_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=1)
    # The kind of fault (the exception's class name, e.g. "EngineFailed"); the message is in the
    # worker's log. Never any of the call's words.
    error = models.CharField(max_length=100)

    class Meta:
        verbose_name = _("failed transcription")

    def __str__(self) -> str:
        return f"failed transcription of {self.recording_id}"
