"""The API of transcripts: ``GET /api/v1/recordings/{id}/transcript`` (reading it is logged)."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from hiprecorder.api import TenantAPIView, errors
from hiprecorder.http import CustomerApiRequest
from recordings.access import get_recording_for_user
from recordings.transcripts.reading import read_transcript

TAG = "Recordings"


class TranscriptSerializer(serializers.Serializer):
    recording = serializers.UUIDField(help_text="The recording's id.")
    status = serializers.ChoiceField(
        choices=["ready", "none"],
        help_text="`ready`: transcribed; `none`: no transcript (switched off for the customer, or not yet).",
    )
    language = serializers.CharField(allow_null=True, help_text="The language spoken (ISO 639-1), or null.")
    segments = serializers.ListField(
        child=serializers.DictField(),
        help_text="Timed segments `{start_ms, end_ms, text}`, offsets in the recording. Identifiers "
        "(BSN, IBAN, card numbers; per customer phone numbers and e-mail addresses) are replaced by a tag "
        "such as `[IBAN]` before the transcript is stored.",
    )


def transcript_payload(recording_id: uuid.UUID, transcript: Any) -> dict[str, Any]:
    if transcript is None:
        return {"recording": str(recording_id), "status": "none", "language": None, "segments": []}
    return {
        "recording": str(recording_id),
        "status": "ready",
        "language": transcript.language,
        "segments": [{"start_ms": s, "end_ms": e, "text": t} for s, e, t in transcript.segments],
    }


class TranscriptView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="recordings_transcript",
        summary="The transcript of a recording, in timed segments",
        description=(
            "Reading a transcript is logged in the customer's access log like a playback. "
            "404 for a recording that is deleted, of another customer, or not the user's to hear."
        ),
        responses={
            200: OpenApiResponse(
                TranscriptSerializer,
                examples=[
                    OpenApiExample(
                        "Transcript",
                        value={
                            "recording": "3f1c2b9e-6a0d-4c1e-9b7a-2d5e8f0a1b2c",
                            "status": "ready",
                            "language": "nl",
                            "segments": [
                                {
                                    "start_ms": 0,
                                    "end_ms": 3200,
                                    "text": "Goedemiddag, waarmee kan ik u helpen?",
                                },
                                {"start_ms": 3400, "end_ms": 6100, "text": "Mijn rekening is [IBAN]."},
                            ],
                        },
                    )
                ],
            ),
            **errors(401, 403, 404),
        },
    )
    def get(self, request: CustomerApiRequest, recording_id: uuid.UUID) -> Response:
        recording = get_recording_for_user(request.user, recording_id)
        transcript = read_transcript(user=request.user, recording=recording, request=request._request)
        return Response(transcript_payload(recording.pk, transcript))
