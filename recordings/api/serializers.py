"""Serializers of recordings for the app: list rows, detail, and the list's filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from recordings import social
from recordings.models import Comment, Direction, Kind, Label, Leg, Recording, ShareLink
from recordings.transcripts.api import TranscriptSerializer
from tenants.models import User


class PersonSerializer(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "display_name"]
        read_only_fields = fields

    def get_display_name(self, user: User) -> str:
        return str(user)


class RecordingSerializer(serializers.ModelSerializer):
    """A row of the home list."""

    colour = serializers.ChoiceField(
        choices=Recording.Colour.choices,
        read_only=True,
        help_text="teal: standard recording; light_blue: Playback, not yet kept; dark_blue: Playback, kept.",
    )
    kind = serializers.ChoiceField(choices=Kind.choices, read_only=True)
    direction = serializers.ChoiceField(choices=Direction.choices, read_only=True)
    leg = serializers.ChoiceField(choices=Leg.choices, read_only=True)
    owner = PersonSerializer(read_only=True, allow_null=True)
    decision_pending = serializers.SerializerMethodField(
        help_text="True for a Playback recording still waiting for keep-or-delete."
    )

    class Meta:
        model = Recording
        fields = [
            "id",
            "kind",
            "colour",
            "direction",
            "leg",
            "local_number",
            "remote_number",
            "started_at",
            "ended_at",
            "duration_ms",
            "saved",
            "decision_pending",
            "expires_at",
            "owner",
        ]
        read_only_fields = fields

    def get_decision_pending(self, recording: Recording) -> bool:
        return recording.kind == Kind.PLAYBACK and not recording.saved

    # The home list serializes 50 rows per request; DRF's field-by-field path costs more than the
    # whole database query, so rows are built directly. The declared fields above stay the
    # contract (the schema is generated from them) and a test holds both paths to the same output.
    LIST_COLUMNS = (
        "id",
        "kind",
        "saved",
        "direction",
        "leg",
        "local_number",
        "remote_number",
        "started_at",
        "ended_at",
        "duration_ms",
        "expires_at",
        "owner_id",
    )

    def to_representation(self, recording: Recording) -> dict[str, Any]:
        # Per page, not per row: the time zone (a context-local lookup) and each owner's dict.
        cache = self.__dict__.setdefault("_page_cache", {"tz": timezone.get_current_timezone(), "owners": {}})
        tz = cache["tz"]
        owner = recording.owner
        if owner is None:
            person = None
        else:
            person = cache["owners"].get(owner.pk)
            if person is None:
                person = {"id": str(owner.pk), "username": owner.username, "display_name": str(owner)}
                cache["owners"][owner.pk] = person
        return {
            "id": str(recording.pk),
            "kind": recording.kind,
            "colour": recording.colour,
            "direction": recording.direction,
            "leg": recording.leg,
            "local_number": recording.local_number,
            "remote_number": recording.remote_number,
            "started_at": _iso(recording.started_at, tz),
            "ended_at": _iso(recording.ended_at, tz),
            "duration_ms": recording.duration_ms,
            "saved": recording.saved,
            "decision_pending": recording.kind == Kind.PLAYBACK and not recording.saved,
            "expires_at": _iso(recording.expires_at, tz),
            "owner": None if person is None else dict(person),
        }


def _iso(value: datetime | None, tz: Any = None) -> str | None:
    """As DRF's DateTimeField writes it: ISO 8601 in the current time zone, UTC as ``Z``."""
    if value is None:
        return None
    text = value.astimezone(tz or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class RecordingDetailSerializer(RecordingSerializer):
    paused_spans = serializers.SerializerMethodField(
        help_text="Where the recording was paused: `[[start_ms, end_ms], …]`, offsets in the call."
    )
    peaks = serializers.SerializerMethodField(
        help_text="The waveform: peak amplitudes 0–1, evenly spaced over the recording."
    )

    class Meta(RecordingSerializer.Meta):
        fields = [*RecordingSerializer.Meta.fields, "saved_at", "talk_ratio", "paused_spans", "peaks"]
        read_only_fields = fields

    def to_representation(self, recording: Recording) -> dict[str, Any]:
        return serializers.ModelSerializer.to_representation(self, recording)

    @extend_schema_field(serializers.ListField(child=serializers.ListField(child=serializers.IntegerField())))
    def get_paused_spans(self, recording: Recording) -> list[Any]:
        return list(recording.paused_spans or [])

    @extend_schema_field(serializers.ListField(child=serializers.FloatField()))
    def get_peaks(self, recording: Recording) -> list[Any]:
        return list(recording.peaks or [])


class RecordingSearchRowSerializer(RecordingSerializer):
    """A row of the home list with its search snippet (the schema's contract of the list)."""

    snippet = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="With `q`: where the words were found in what was said, as HTML: the transcript's "
        "text escaped, the found words in `<mark>`, fragments joined by `…`. Null when the transcript "
        "did not match (the row was found by its number, labels or comments) or without `q`. Showing "
        "it is logged in the customer's access log like reading the transcript.",
    )

    class Meta(RecordingSerializer.Meta):
        fields = [*RecordingSerializer.Meta.fields, "snippet"]
        read_only_fields = fields

    def to_representation(self, recording: Recording) -> dict[str, Any]:
        row = super().to_representation(recording)
        row["snippet"] = self.context.get("snippets", {}).get(recording.pk)
        return row


class RecordingWithTranscriptSerializer(RecordingDetailSerializer):
    """The detail of ``GET /api/v1/recordings/{id}``: with the transcript (read by the view)."""

    transcript = serializers.SerializerMethodField(
        help_text="The transcript in timed segments (`status` `none`: there is none)."
    )

    class Meta(RecordingDetailSerializer.Meta):
        fields = [*RecordingDetailSerializer.Meta.fields, "transcript"]
        read_only_fields = fields

    @extend_schema_field(TranscriptSerializer)
    def get_transcript(self, recording: Recording) -> dict[str, Any]:
        payload: dict[str, Any] = self.context["transcript"]
        return payload


class RecordingFilterSerializer(serializers.Serializer):
    """The query of the home list: the portal's filters (``recordings.listing``)."""

    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    saved = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Playback only: kept (true) or not yet (false).",
    )
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    person = serializers.RegexField(
        r"^(me|[0-9a-fA-F-]{36})\Z",
        required=False,
        help_text="`me`, or (listeners) the id of a member of a team they listen to.",
    )
    date_from = serializers.DateField(required=False, help_text="Calls on or after this day (local time).")
    date_to = serializers.DateField(required=False, help_text="Calls on or before this day (local time).")
    label = serializers.CharField(  # type: ignore[assignment]  # the query parameter; DRF moves declared fields off the class
        required=False, max_length=40, help_text="Recordings with this label."
    )
    alert = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="`true`: only recordings with a keyword alert's automatic label (the portal's filter "
        "“With a keyword alert”; such labels have `automatic: true`). Leave it out for every recording; "
        "`false` is refused.",
    )
    q = serializers.CharField(
        required=False,
        max_length=100,
        help_text="Search labels, comments and (3+ digits) the other party's number, national or E.164.",
    )
    cursor = serializers.CharField(
        required=False, max_length=200, help_text="`next_cursor` of the previous page."
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    def get_fields(self) -> dict[str, Any]:
        # The portal's parameter names are `from` and `to` (Python keywords, hence the renaming).
        fields = super().get_fields()
        fields["from"] = fields.pop("date_from")
        fields["to"] = fields.pop("date_to")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("from"), attrs.get("to")
        if start and end and start > end:
            raise serializers.ValidationError({"to": ["Must be on or after `from`."]})
        return attrs

    def validate_alert(self, value: bool | None) -> bool | None:
        if value is False:  # "without an alert" is no filter of the list: say so, do not guess
            raise serializers.ValidationError("Only `true` filters; leave `alert` out for every recording.")
        return value


# --- the recording actions (recordings/api/actions.py) ---------------------------------------


class StreamUrlSerializer(serializers.Serializer):
    url = serializers.URLField(
        help_text=(
            "Give it to the audio player with the same `Authorization: Bearer <token>` header; "
            "it works for this user and this token only."
        )
    )
    expires_at = serializers.DateTimeField(
        help_text="Ask for a new URL after this (the player may be paused)."
    )
    mime = serializers.CharField(help_text="The audio's type, e.g. audio/mpeg.")
    duration_ms = serializers.IntegerField()


class LabelSerializer(serializers.ModelSerializer):
    automatic = serializers.BooleanField(
        read_only=True,
        help_text="True for a label a keyword alert put when the transcript was stored (shown as "
        "“(trefwoordmelding)” in the portal); false for one a person put. Either can be removed.",
    )

    class Meta:
        model = Label
        fields = ["id", "name", "automatic", "created_at"]
        read_only_fields = ["id", "automatic", "created_at"]


class LabelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text="Up to 40 characters; spaces are tidied.")


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "text", "position_ms", "author", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_author(self, comment: Comment) -> dict[str, Any] | None:
        return PersonSerializer(comment.author).data if comment.author else None


class CommentInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10_000, help_text="Up to 2,000 characters.")
    position_ms = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text="Where in the recording (ms), or null."
    )


class CommentEditSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=10_000, help_text="Up to 2,000 characters.")


class ShareSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()
    has_pin = serializers.BooleanField(read_only=True)
    opens = serializers.IntegerField(read_only=True, source="open_count", default=0)
    pin_failures = serializers.IntegerField(
        read_only=True, default=0, help_text="Wrong PINs typed since the current PIN was set."
    )
    last_pin_failure = serializers.DateTimeField(read_only=True, allow_null=True, default=None)
    pin_locked = serializers.BooleanField(
        read_only=True,
        source="is_pin_locked",
        help_text="Ten wrong PINs within an hour lock the link for an hour (set a new PIN in the portal).",
    )

    class Meta:
        model = ShareLink
        fields = [
            "id",
            "created_at",
            "expires_at",
            "revoked_at",
            "active",
            "has_pin",
            "show_party",
            "show_details",
            "show_labels",
            "show_comments",
            "opens",
            "pin_failures",
            "last_pin_failure",
            "pin_locked",
        ]
        read_only_fields = fields

    def get_active(self, share: ShareLink) -> bool:
        return share.is_active()


class ShareInputSerializer(serializers.Serializer):
    expires_in = serializers.ChoiceField(
        choices=list(social.SHARE_EXPIRY_CHOICES), default=social.SHARE_EXPIRY_DEFAULT
    )
    pin = serializers.CharField(
        required=False, allow_blank=True, max_length=20, help_text="4 to 8 digits, optional."
    )
    show_party = serializers.BooleanField(default=False, help_text="Show the other party's number.")
    show_details = serializers.BooleanField(default=True, help_text="Show date and duration.")
    show_labels = serializers.BooleanField(default=False)
    show_comments = serializers.BooleanField(default=False)


class IssuedShareSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The public page; shown only now (only its hash is stored).")
    share = ShareSerializer()


class ShareOpenSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
