"""Calls handed to us by the phone system, and the recordings made from them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import RecordingMode, Role, Team
from tenants.scoping import TenantManager, TenantOwned, TenantQuerySet

if TYPE_CHECKING:
    from tenants.models import User


class Kind(models.TextChoices):
    STANDARD = "standard", _("Standard recording")
    PLAYBACK = "playback", _("Playback")


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class Leg(models.TextChoices):
    FIXED = "fixed", _("Fixed line")
    MOBILE = "mobile", _("Mobile")


class Call(TenantOwned):
    """One call as the phone system reported it (``POST /rpi/v1/calls`` and what follows)."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        PROCESSING = "processing", _("Processing")
        RECORDED = "recorded", _("Recorded")
        DISCARDED = "discarded", _("Discarded")
        DELETED = "deleted", _("Deleted")
        NOT_RECORDED = "not_recorded", _("Not recorded")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pbx_call_id = models.CharField(max_length=128)
    user = models.ForeignKey("tenants.User", on_delete=models.SET_NULL, null=True, related_name="calls")
    direction = models.CharField(max_length=8, choices=Direction)
    leg = models.CharField(max_length=6, choices=Leg)
    local_number = models.CharField(max_length=20)
    remote_number = models.CharField(max_length=20, help_text="E.164, or 'anonymous'")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    # What was decided at call start (the answer to the phone system).
    kind = models.CharField(max_length=10, choices=Kind, null=True, blank=True)
    mode = models.CharField(max_length=24, choices=RecordingMode, null=True, blank=True)
    record = models.BooleanField()
    announce = models.BooleanField()
    state = models.CharField(max_length=12, choices=State, default=State.IN_PROGRESS)
    error_code = models.CharField(max_length=64, blank=True)
    # The raw upload, until the rendition is stored.
    upload_key = models.CharField(max_length=300, blank=True)
    upload_sha256 = models.CharField(max_length=64, blank=True)
    upload_size = models.BigIntegerField(null=True, blank=True)
    upload_content_type = models.CharField(max_length=40, blank=True)
    upload_offset_ms = models.IntegerField(default=0)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    processing_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Why the call ended up as it did (a recordings.policy.Reason, or "blacklisted").
    outcome = models.CharField(max_length=32, blank=True)
    # The rendition object a processing attempt is writing, until its Recording row commits: a
    # retried attempt deletes it first, so a worker that died halfway leaves no orphan behind.
    pending_rendition_key = models.CharField(max_length=300, blank=True)
    # The blacklist decision at call start (record false, state discarded at the end).
    blacklisted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "pbx_call_id"], name="call_id_unique_per_tenant"),
        ]
        # The console's calls list pages by position on (started_at, id) per tenant; neither
        # column changes after the call starts, so the index keeps state changes HOT.
        # The same per person, for the list filtered on one (user_id changes only when the user
        # is deleted).
        indexes = [
            models.Index(fields=["tenant", "-started_at", "-id"], name="call_tenant_started"),
            models.Index(fields=["tenant", "user", "-started_at", "-id"], name="call_tenant_user_started"),
        ]
        # No index on ``state`` (nothing looks calls up by it): the state changes of a call (in
        # progress, processing, recorded, deleted by the expiry sweep) then touch no indexed
        # column and can be HOT updates, which add no index entries; the table's fillfactor
        # (migration 0008_call_fillfactor) leaves the room on each page that a HOT update needs.

    def __str__(self) -> str:
        return self.pbx_call_id


class CallDay(TenantOwned):
    """The overview's summary of one day (``settings.TIME_ZONE``) of a tenant's calls, by the day
    each call started: how many were recorded (``recorded`` or since ``deleted``), discarded and
    failed. Kept by ``recordings.usage`` in the transaction of each state change; equal to what
    ``usage.raw_days`` counts from the calls (tests/portal/test_usage.py)."""

    day = models.DateField()
    recorded = models.IntegerField(default=0)
    discarded = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="call_day_unique")]

    def __str__(self) -> str:
        return f"{self.day}: {self.recorded}/{self.discarded}/{self.failed}"


class StoredKind(TenantOwned):
    """The overview's summary of what a tenant stores per product (``kind``): the live recordings
    and their milliseconds. Kept by ``recordings.usage`` when a recording is made or deleted
    (also by the expiry sweep, once per batch); equal to ``usage.raw_stored``."""

    kind = models.CharField(max_length=10, choices=Kind)
    recordings = models.BigIntegerField(default=0)
    duration_ms = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "kind"], name="stored_kind_unique")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.recordings} ({self.duration_ms} ms)"


class ProcessingOutbox(TenantOwned):
    """A call waiting for its processing task: written in the transaction that makes the call
    ``processing``, deleted in the one that makes it final.

    The task is sent after the commit; if the broker is down then, or the worker dies, the row
    stays and ``recordings.repair.repair_stuck_calls`` sends the task again. Kept apart from
    ``Call`` so the repair reads this small table, not every call by state (see Call.Meta).
    """

    call = models.OneToOneField(Call, on_delete=models.CASCADE, primary_key=True, related_name="outbox")
    created_at = models.DateTimeField(auto_now_add=True)
    # The last time the task was sent or an attempt started; empty: not sent yet (the send after
    # the commit failed, or is about to happen).
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"outbox {self.call_id}"


class WorkerHeartbeat(models.Model):
    """The last beat of the Celery worker (one row): when a heartbeat task ran, and how long its
    message waited in the queue. ``/healthz`` reads it to see a dead worker or an old queue."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    ran_at = models.DateTimeField()
    queue_wait_ms = models.BigIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"heartbeat {self.ran_at}"


class CallEvent(TenantOwned):
    """An accepted event during the call (keep, start, pause, resume), as an offset in the call."""

    class Type(models.TextChoices):
        KEEP = "keep", _("Keep")
        START = "start", _("Start")
        PAUSE = "pause", _("Pause")
        RESUME = "resume", _("Resume")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=6, choices=Type)
    at = models.DateTimeField()
    offset_ms = models.BigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["offset_ms", "id"]
        constraints = [models.UniqueConstraint(fields=["call", "type", "at"], name="call_event_unique")]


class Integrity(models.TextChoices):
    """What the last checksum check of a recording's stored object found."""

    VERIFIED = "verified", _("Verified")
    UNCHECKED = "unchecked", _("Not checked yet")
    FAILED = "failed", _("Integrity check failed")


class IntegrityProblem(models.TextChoices):
    MISSING = "missing", _("stored object is missing")
    NO_CHECKSUM = "no_checksum", _("no checksum was recorded")
    MISMATCH = "mismatch", _("content does not match its SHA-256")


class RecordingQuerySet(TenantQuerySet):
    def live(self) -> RecordingQuerySet:
        return self.filter(deleted_at__isnull=True)

    def visible_to(
        self, user: User, *, team_member_ids: Sequence[uuid.UUID] | None = None
    ) -> RecordingQuerySet:
        """What ``user`` may hear: their own recordings, and for listeners the standard
        recordings of the members of the teams they listen to. Playback recordings are their
        owner's only; playback users never see standard recordings of others.

        The one rule of who may hear a recording: every path to a recording's audio (the
        player, both audio URLs) and every list asks it, through ``recordings.access`` or
        ``recordings.listing``; do not restate it. ``team_member_ids`` is what
        ``team_member_ids(user)`` returned, for a caller (a list page) that has read it already;
        it is read here otherwise. An IN list of owners, not a join and DISTINCT, so the lists'
        keyset index on (owner, started_at) stays usable."""
        own = Q(owner=user)
        if user.role != Role.LISTENER:
            return self.live().filter(own)
        if team_member_ids is None:
            team_member_ids = team_member_ids_of(user)
        return self.live().filter(own | Q(kind=Kind.STANDARD, owner_id__in=team_member_ids))


def team_member_ids_of(listener: User) -> list[uuid.UUID]:
    """The people whose standard recordings ``listener`` may hear: the members of the teams they
    listen to (none for anyone who is not a listener)."""
    if listener.role != Role.LISTENER:
        return []
    through = Team.members.through
    return list(
        through.objects.filter(team__listeners=listener)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by()
    )


def hearers_of(owners: Iterable[tuple[uuid.UUID | None, str]]) -> set[uuid.UUID]:
    """Who may hear a recording of these (owner id, kind) pairs: ``visible_to`` read backwards,
    for the live lists (``recordings.live``) to know whose lists a change moves. The owner, and
    for a standard recording the listeners of the teams the owner is a member of. The same rule
    as ``visible_to``, kept beside it; tests/recordings/test_live_versions.py checks that
    everyone who sees a recording through ``visible_to`` is named here. One query at most."""
    pairs = [(owner, kind) for owner, kind in owners if owner is not None]
    found = {owner for owner, _kind in pairs}
    standard = {owner for owner, kind in pairs if kind == Kind.STANDARD}
    if standard:
        listeners = Team.listeners.through.objects.filter(
            team__members__in=standard, user__role=Role.LISTENER
        ).values_list("user_id", flat=True)
        found.update(listeners)
    return found


RecordingManager = TenantManager.from_queryset(RecordingQuerySet)


class Recording(TenantOwned):
    """A kept (or, for Playback, not yet decided) recording with one playback rendition.

    When deleted, the audio and everything derived go, and the row stays as a tombstone without
    personal content (numbers, peaks, owner cleared): ``deleted_at`` and ``deletion_reason`` prove
    what happened and when.
    """

    class Colour(models.TextChoices):
        UNSAVED_PLAYBACK = "light_blue", _("Unsaved playback")
        SAVED_PLAYBACK = "dark_blue", _("Saved playback")
        STANDARD = "teal", _("Standard recording")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    call = models.OneToOneField(Call, on_delete=models.SET_NULL, null=True, related_name="recording")
    # Indexed only where set (``rec_owner``): a tombstone has no owner and gets no entry.
    owner = models.ForeignKey(
        "tenants.User", on_delete=models.SET_NULL, null=True, related_name="recordings", db_index=False
    )
    kind = models.CharField(max_length=10, choices=Kind)
    direction = models.CharField(max_length=8, choices=Direction)
    leg = models.CharField(max_length=6, choices=Leg)
    local_number = models.CharField(max_length=20, blank=True)
    remote_number = models.CharField(max_length=20, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    storage_key = models.CharField(max_length=300, blank=True)
    mime = models.CharField(max_length=40, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    peaks = models.JSONField(default=list, blank=True)
    paused_spans = models.JSONField(
        default=list, blank=True, help_text="[[start_ms, end_ms], …] in call time"
    )
    segments = models.JSONField(
        default=list, blank=True, help_text="[[call_start_ms, call_end_ms, rendition_start_ms], …]"
    )
    talk_ratio = models.FloatField(null=True, blank=True)
    # One party silent throughout (recordings.audio.meter.one_sided, from the upload's two
    # channels); None when the upload had one channel, where the parties cannot be told apart.
    one_sided = models.BooleanField(null=True, blank=True)
    # Muted in the rendition (redacted words, when the tenant asks): [[start_ms, end_ms], ...] in
    # rendition time; and the key of the unmuted rendition while it waits to be deleted.
    muted_spans = models.JSONField(default=list, blank=True)
    unmuted_key = models.CharField(max_length=300, blank=True)
    saved = models.BooleanField(default=False, help_text="Playback: the user chose to keep it")
    saved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Which rule set ``expires_at`` (recordings.lifecycle.ExpiryRule); kept on the tombstone.
    expiry_rule = models.CharField(max_length=16, blank=True)
    # The integrity check (``manage.py verify_recordings``): ``verified_at`` is the last check the
    # stored object passed; ``integrity_failed_at`` (with the problem) is set when a check fails and
    # cleared by the next check that passes. Neither set: not checked yet.
    verified_at = models.DateTimeField(null=True, blank=True)
    integrity_failed_at = models.DateTimeField(null=True, blank=True)
    integrity_problem = models.CharField(max_length=16, choices=IntegrityProblem, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deletion_reason = models.CharField(max_length=32, blank=True)

    objects: ClassVar[RecordingManager] = RecordingManager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The home list: newest first per owner, keyset on (started_at, id).
            models.Index(
                fields=["tenant", "owner", "-started_at", "-id"],
                name="rec_owner_started",
                condition=Q(deleted_at__isnull=True),
            ),
            # A user's recordings (``owner_id = …``, also the SET NULL when a user is deleted):
            # tombstones (owner cleared) stay out, so the sweep's tombstone UPDATE adds no entry.
            models.Index(fields=["owner"], name="rec_owner", condition=Q(owner__isnull=False)),
            # "To review", its count and the live lists' next deadline: a person's unanswered
            # playbacks (a few days' worth), apart from their kept ones, by expiry. The review's
            # owner-and-window condition is all index condition here (a few hundred entries to
            # sort by start); without it PostgreSQL ANDed the owner's whole index (200,000
            # entries of a heavy user) with the tenant's expiry window: 19 ms, now 0.3 ms.
            models.Index(
                fields=["owner", "expires_at"],
                name="rec_unanswered",
                condition=Q(deleted_at__isnull=True, kind=Kind.PLAYBACK, saved=False),
            ),
            # The expiry sweep: only live rows with an expiry, in due order.
            models.Index(
                fields=["expires_at"],
                name="rec_live_expiry",
                condition=Q(deleted_at__isnull=True, expires_at__isnull=False),
            ),
            # The console's overview: what the sweep deletes in the next days, by rule, per
            # tenant (an index-only scan on PostgreSQL). Tombstones leave it, as above.
            models.Index(
                fields=["tenant", "expires_at", "expiry_rule"],
                name="rec_live_due",
                condition=Q(deleted_at__isnull=True, expires_at__isnull=False),
            ),
            # The overview's Playback use per person: saved live playbacks, index-only.
            models.Index(
                fields=["tenant", "owner", "ended_at", "expires_at", "duration_ms"],
                name="rec_playback_use",
                condition=Q(deleted_at__isnull=True, kind="playback", saved=True),
            ),
            # The overview's count of one-sided recordings: only the flagged live rows.
            models.Index(
                fields=["tenant", "started_at"],
                name="rec_one_sided",
                condition=Q(one_sided=True, deleted_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def integrity(self) -> str:
        """``failed``, ``verified`` or ``unchecked`` (a failure outranks an older pass)."""
        if self.integrity_failed_at is not None:
            return Integrity.FAILED
        if self.verified_at is not None:
            return Integrity.VERIFIED
        return Integrity.UNCHECKED

    @property
    def colour(self) -> str:
        if self.kind == Kind.STANDARD:
            return self.Colour.STANDARD
        return self.Colour.SAVED_PLAYBACK if self.saved else self.Colour.UNSAVED_PLAYBACK

    @property
    def is_unsaved_playback(self) -> bool:
        """A playback still waiting for its owner's "keep or delete" (the list's Keep button)."""
        return self.colour == self.Colour.UNSAVED_PLAYBACK

    def get_colour_display(self) -> str:
        """The colour's name for people ("Saved playback"), as the list and the player show it."""
        return str(self.Colour(self.colour).label)


# --- the portal: labels, comments, share links, the access log ---------------------------------


class Label(TenantOwned):
    """A free-text tag on a recording, visible to everybody who may hear the recording."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(_("label"), max_length=40)
    created_by = models.ForeignKey("tenants.User", on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Put by a keyword alert when the transcript was stored (recordings.alerts), not by a person.
    automatic = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(models.F("recording"), Lower("name"), name="label_unique_per_recording"),
        ]
        indexes = [models.Index(fields=["tenant", "name"], name="label_tenant_name")]

    def __str__(self) -> str:
        return self.name


class KeywordAlert(TenantOwned):
    """A word or phrase the customer admin watches for: a recording whose transcript says it gets
    an automatic label of that name (recordings.alerts)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phrase = models.CharField(_("word or phrase"), max_length=40)
    # The phrase folded as the matching reads it (lower case, no accents, single spaces): unique,
    # so "Klacht" and "klácht " are one alert.
    folded = models.CharField(max_length=40)
    created_by = models.ForeignKey("tenants.User", on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["folded"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "folded"], name="keyword_alert_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.phrase


class Comment(TenantOwned):
    """A remark on a recording, optionally at a position in it (milliseconds in the rendition)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey("tenants.User", on_delete=models.SET_NULL, null=True, related_name="+")
    text = models.TextField(_("comment"), max_length=2000)
    position_ms = models.PositiveIntegerField(_("position"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:40]


class ShareLink(TenantOwned):
    """A revocable, expiring public link to one recording. Only the token's SHA-256 is stored.

    The ``show_*`` flags are what the sharer chose to reveal on the public page; the audio is
    always streamed (never a download).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey("tenants.User", on_delete=models.SET_NULL, null=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    pin_hash = models.CharField(max_length=128, blank=True)
    # When the current PIN was set: wrong tries before it do not count against it, and a browser
    # that entered an earlier PIN must enter the new one.
    pin_set_at = models.DateTimeField(null=True, blank=True)
    # When the tenth wrong PIN within an hour came in: the link refuses every PIN (the right one
    # too) for an hour from then, or until the owner sets a new PIN.
    pin_locked_at = models.DateTimeField(null=True, blank=True)
    show_party = models.BooleanField(_("show the other party"), default=False)
    show_details = models.BooleanField(_("show date and duration"), default=True)
    show_labels = models.BooleanField(_("show labels"), default=False)
    show_comments = models.BooleanField(_("show comments"), default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"share {self.pk}"

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)

    def is_active(self, now: datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())

    def pin_locked_until(self, now: datetime | None = None) -> datetime | None:
        """The end of the PIN lock, or None when the link takes PINs."""
        if self.pin_locked_at is None:
            return None
        until = self.pin_locked_at + timedelta(hours=1)
        return until if until > (now or timezone.now()) else None

    @property
    def is_pin_locked(self) -> bool:
        return self.pin_locked_until() is not None


class SharePinAttempt(TenantOwned):
    """One wrong PIN typed on a share link's public page (the counter of the PIN lock).

    A row is written *before* the PIN is judged, while the share's row is locked, and removed
    again when the PIN was right: so the rows of the last hour bound how many PINs can be judged,
    in every process at once. ``client`` is a keyed hash of the client's address (its /64 for
    IPv6), never the address itself.
    """

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="pin_attempts")
    at = models.DateTimeField()
    client = models.CharField(max_length=64)

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["share", "at"], name="pin_attempt_share_at"),
            models.Index(fields=["client", "at"], name="pin_attempt_client_at"),
        ]


class ShareOpen(TenantOwned):
    """One opening of a share link's public page."""

    share = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="opens")
    at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at"]


class PlaybackAccess(TenantOwned):
    """The access log: who streamed which recording, when, from where (one row per playback)."""

    class Via(models.TextChoices):
        PORTAL = "portal", _("Portal")
        APP = "app", _("App")
        SHARE = "share", _("Share link")
        ACCESS_COPY = "copy", _("Access copy (art. 15)")
        TRANSCRIPT = "text", _("Transcript read")

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="accesses")
    user = models.ForeignKey("tenants.User", on_delete=models.SET_NULL, null=True, related_name="+")
    share = models.ForeignKey(ShareLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    via = models.CharField(max_length=8, choices=Via)
    at = models.DateTimeField(auto_now_add=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    # The stream URL this playback came through ("user:<nonce>" or "share:<nonce>" of its signed
    # token): unique, so one issued URL is one row however many processes serve it. None for
    # rows written before it was kept.
    stream_nonce = models.CharField(max_length=32, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["tenant", "recording", "-at"], name="access_recording_at")]
        constraints = [models.UniqueConstraint(fields=["stream_nonce"], name="access_stream_nonce_unique")]


# --- Playback contact rules ------------------------------------------------------------------


class ContactRule(TenantOwned):
    """A Playback user's blacklist or whitelist entry for one remote number (E.164).

    Blacklisted: the call is not recorded and no prompt is sent. Whitelisted: the recording is kept
    at once, without a prompt. A number is on at most one of the user's two lists.
    Change rules through ``recordings.rules`` (it normalises the number with the tenant's country).
    """

    class List(models.TextChoices):
        BLACKLIST = "blacklist", _("Blacklist")
        WHITELIST = "whitelist", _("Whitelist")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("tenants.User", on_delete=models.CASCADE, related_name="contact_rules")
    list_type = models.CharField(_("list"), max_length=9, choices=List)
    number = models.CharField(_("number"), max_length=20, help_text=_("E.164, e.g. +31612345678"))
    name = models.CharField(_("name"), max_length=120, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["list_type", "number"]
        constraints = [
            models.UniqueConstraint(fields=["user", "number"], name="contact_rule_number_unique_per_user"),
            models.CheckConstraint(
                condition=Q(list_type__in=["blacklist", "whitelist"]), name="contact_rule_list"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_list_type_display()}: {self.number}"


from recordings.transcripts.models import Transcript, TranscriptFailure  # noqa: E402, F401 (registered with the app)
