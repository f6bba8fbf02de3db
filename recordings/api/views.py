"""Recordings for the app: the home list (keyset-paginated, filtered), detail, the team view."""

from __future__ import annotations

import uuid
from typing import Any

from django.template.loader import render_to_string
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from hiprecorder.api import TenantAPIView, errors, page_serializer
from hiprecorder.http import CustomerApiRequest
from recordings import listing
from recordings.access import get_recording_for_user
from recordings.api.actions import RecordingDeleteMixin
from recordings.api.paging import keyset_page
from recordings.api.serializers import (
    PersonSerializer,
    RecordingFilterSerializer,
    RecordingSearchRowSerializer,
    RecordingSerializer,
    RecordingWithTranscriptSerializer,
)
from recordings.models import Recording
from recordings.transcripts.api import transcript_payload
from recordings.transcripts.reading import read_snippets, read_transcript
from tenants.access import users_of
from tenants.api.authentication import ListenerOnly
from tenants.models import Team, User

TAG = "Recordings"

_EXAMPLE_ROW = {
    "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "kind": "playback",
    "colour": "light_blue",
    "direction": "inbound",
    "leg": "mobile",
    "local_number": "+31201234567",
    "remote_number": "+31612345678",
    "started_at": "2026-11-29T09:12:03+01:00",
    "ended_at": "2026-11-29T09:15:41+01:00",
    "duration_ms": 218000,
    "saved": False,
    "decision_pending": True,
    "expires_at": "2026-12-02T09:15:41+01:00",
    "owner": {
        "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "username": "anna",
        "display_name": "Anna de Vries",
    },
}
_EXAMPLE_SEARCH_ROW = {
    **_EXAMPLE_ROW,
    "snippet": "… ik wil mijn abonnement <mark>opzeggen</mark> per volgende maand, kan dat nog …",
}


def _query(request: CustomerApiRequest) -> tuple[listing.Filters, dict[str, Any], list[uuid.UUID]]:
    """The list's query, validated (a bad value is a 400 naming it, unlike the portal's form,
    which drops it), as the portal's :class:`recordings.listing.Filters`."""
    query = RecordingFilterSerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    members = listing.team_member_ids(request.user)
    person = data.get("person")
    if person and person != "me" and person not in {str(m) for m in members}:
        raise ValidationError({"person": ["Not one of the members of the teams you listen to."]})
    saved = data.get("saved")
    filters = listing.Filters(
        kind=data.get("kind", ""),
        saved="" if saved is None else ("yes" if saved else "no"),
        direction=data.get("direction", ""),
        person=person or "",
        date_from=data.get("from"),
        date_to=data.get("to"),
        label=" ".join(data.get("label", "").split()),
        alert="yes" if data.get("alert") else "",
        q=data.get("q", "").strip(),
    )
    return filters, data, members


def _attach_owners(request: CustomerApiRequest, rows: list[Recording]) -> None:
    """Owners for a page in at most one small query: most rows are the user's own, so joining
    the user table on every row would cost more than it saves."""
    owners: dict[Any, User] = {request.user.pk: request.user}
    missing = {row.owner_id for row in rows if row.owner_id is not None} - owners.keys()
    if missing:
        for user in users_of(request).filter(pk__in=missing):
            owners[user.pk] = user
    for row in rows:
        row.owner = owners.get(row.owner_id)


class RecordingListView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="recordings_list",
        summary="The home list: recordings the user may hear, newest first",
        description=(
            "The user's own recordings and, for listeners, the standard recordings of the members of "
            "the teams they listen to. Deleted and expired recordings never appear.\n\n"
            "Paginated by cursor: the first request has no `cursor`; pass the answer's `next_cursor` to "
            "get the next page (null: that was the last page). A cursor stays valid however the list "
            "changes meanwhile: new calls appear only on a fresh first page.\n\n"
            "`q` searches the numbers, labels, comments and what was said (the transcripts, where the "
            "customer has them on; every word, as a prefix, stemmed in the customer's language). A row "
            "found in what was said carries a `snippet` showing where; each snippet shown is logged in "
            "the access log like reading the transcript.\n\n"
            "`alert=true` lists only the recordings with a keyword alert's automatic label (the portal's "
            "filter “With a keyword alert”), within what the user may hear."
        ),
        parameters=[RecordingFilterSerializer],
        responses={
            200: OpenApiResponse(
                page_serializer("RecordingPage", RecordingSearchRowSerializer),
                examples=[
                    OpenApiExample(
                        "A page",
                        value={"results": [_EXAMPLE_ROW], "next_cursor": "eyJ0IjoiMjAyNi0xMS0yOVQw…"},
                    ),
                    OpenApiExample(
                        "A search (q=opzeggen)",
                        value={"results": [_EXAMPLE_SEARCH_ROW], "next_cursor": None},
                    ),
                ],
            ),
            **errors(400, 401, 403),
        },
    )
    def get(self, request: CustomerApiRequest) -> Response:
        filters, data, members = _query(request)
        recordings = listing.apply_filters(
            listing.visible_queryset(request.user, members).only(*RecordingSerializer.LIST_COLUMNS),
            filters,
            request.user,
        )
        rows, next_cursor = keyset_page(
            recordings,
            cursor=data.get("cursor"),
            limit=data["limit"],
            owners=listing.candidate_owners(request.user, members, filters),
        )
        _attach_owners(request, rows)
        found = read_snippets(
            user=request.user, tenant=request.tenant, q=filters.q, recordings=rows, request=request._request
        )
        snippets = {pk: render_to_string("recordings/includes/snippet.html", {"parts": parts}).strip()
                    for pk, parts in found.items()}  # fmt: skip
        serializer = RecordingSearchRowSerializer(rows, many=True, context={"snippets": snippets})
        return Response({"results": serializer.data, "next_cursor": next_cursor})


class RecordingDetailView(RecordingDeleteMixin, TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="recordings_detail",
        summary="One recording: colour, expiry, paused spans, waveform peaks and transcript",
        description=(
            "404 for a recording that is deleted, of another customer, or not the user's to hear.\n\n"
            "`transcript` is the same as `GET /api/v1/recordings/{id}/transcript`; when the recording "
            "has one, reading the detail is logged in the customer's access log like a playback."
        ),
        responses={
            200: OpenApiResponse(
                RecordingWithTranscriptSerializer,
                examples=[
                    OpenApiExample(
                        "Detail",
                        value={
                            **_EXAMPLE_ROW,
                            "saved_at": None,
                            "talk_ratio": 0.54,
                            "paused_spans": [[60000, 75000]],
                            "peaks": [0.02, 0.4, 0.61, 0.35],
                            "transcript": {
                                "recording": _EXAMPLE_ROW["id"],
                                "status": "ready",
                                "language": "nl",
                                "segments": [
                                    {
                                        "start_ms": 0,
                                        "end_ms": 3200,
                                        "text": "Goedemiddag, waarmee kan ik helpen?",
                                    }
                                ],
                            },
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
        context = {"transcript": transcript_payload(recording.pk, transcript)}
        return Response(RecordingWithTranscriptSerializer(recording, context=context).data)


class TeamSerializer(serializers.ModelSerializer):
    members = PersonSerializer(many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "members"]
        read_only_fields = fields


class TeamView(TenantAPIView):
    permission_classes = [*TenantAPIView.permission_classes, ListenerOnly]

    @extend_schema(
        tags=[TAG],
        operation_id="team",
        summary="Listeners: the teams they listen to and their members",
        description=(
            "For a listener's team screen. List a member's recordings with "
            "`GET /api/v1/recordings?person=<member id>`. Other roles get 403."
        ),
        responses={
            200: OpenApiResponse(
                TeamSerializer(many=True),
                examples=[
                    OpenApiExample(
                        "Teams",
                        value=[
                            {
                                "id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                                "name": "Sales",
                                "members": [_EXAMPLE_ROW["owner"]],
                            }
                        ],
                    )
                ],
            ),
            **errors(401, 403),
        },
    )
    def get(self, request: CustomerApiRequest) -> Response:
        teams = Team.objects.filter(listeners=request.user).prefetch_related("members")
        return Response(TeamSerializer(teams, many=True).data)
