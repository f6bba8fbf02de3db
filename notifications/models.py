"""Devices (the app's push tokens) and push prompts (keep or delete?, quota warnings)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantOwned


class Device(TenantOwned):
    """One phone of a user, as the app registered it: its FCM registration token (or FID); or a
    browser's Web Push subscription (platform ``webpush``: the token is the subscription's JSON,
    endpoint and keys, and its hash is the endpoint's, so renewed keys update the same device).

    Tokens FCM reports as unregistered or invalid are deactivated (``active=False``) and get no
    more messages; registering the same token again re-activates it.
    """

    class Platform(models.TextChoices):
        ANDROID = "android", "Android"
        IOS = "ios", "iOS"
        WEB = "web", _("Web (demo outbox)")
        WEBPUSH = "webpush", _("Browser (Web Push)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("tenants.User", on_delete=models.CASCADE, related_name="devices")
    token = models.CharField(max_length=4096)
    token_hash = models.CharField(
        max_length=64, editable=False, help_text="SHA-256 of the token (unique key)"
    )
    platform = models.CharField(max_length=8, choices=Platform)
    app_version = models.CharField(max_length=40, blank=True)
    active = models.BooleanField(default=True)
    deactivated_reason = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [
            # Tokens can be longer than an index likes; their hash is the unique key.
            models.UniqueConstraint(fields=["token_hash"], name="device_token_unique"),
        ]
        indexes = [models.Index(fields=["user", "active"], name="device_user_active")]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.token[:12]}…"


class PushPrompt(TenantOwned):
    """One notification to a user: a keep-or-delete question about a recording, or a quota warning.

    ``status`` makes sending idempotent: a task only sends while the prompt is ``pending`` and
    each device's delivery is recorded, so a retried task never sends to a phone twice.

    Sending is claimed in batches (``notifications.services.send_due_prompts``): a claim takes due
    pending prompts (``next_attempt_at`` passed: the backoff after a transient error) that nobody
    holds (``claimed_until``: the claiming worker's lease, cleared when it records the outcome).
    """

    class Kind(models.TextChoices):
        KEEP_OR_DELETE = "keep_or_delete", _("Keep or delete?")
        QUOTA_WARNING = "quota_warning", _("Quota warning")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        ANSWERED = "answered", _("Answered")

    class Answer(models.TextChoices):
        KEEP = "keep", _("Keep")
        DELETE = "delete", _("Delete")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("tenants.User", on_delete=models.CASCADE, related_name="push_prompts")
    recording = models.ForeignKey(
        "recordings.Recording", on_delete=models.CASCADE, null=True, blank=True, related_name="prompts"
    )
    kind = models.CharField(max_length=16, choices=Kind)
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True, help_text="The FCM data payload (strings)")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    answer = models.CharField(max_length=6, choices=Answer, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(help_text="When the recording became ready (fan-out latency)")
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Not sent again before this (the backoff after a transient error)"
    )
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then (its lease)"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["recording"],
                condition=Q(kind="keep_or_delete"),
                name="one_keep_prompt_per_recording",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="prompt_user_created"),
            # The claim's scan: only the few pending prompts, however many were ever sent.
            models.Index(
                fields=["tenant", "ready_at"], condition=Q(status="pending"), name="prompt_pending_ready"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"


class PushDelivery(TenantOwned):
    """The prompt's message to one device: sent once, or failed with FCM's error code.

    ``sending``: claimed by a worker, committed before its request goes out. Only that worker
    moves it on (sent, failed, or back to pending after a transient error); a delivery left
    ``sending`` by a worker that died is never sent again (failed ``INTERRUPTED``): at most once.

    A browser's delivery carries an action token (only its SHA-256 is kept): the notification's
    "Keep" and "Delete" buttons post it to decide without opening the portal. It is bound to this
    prompt and device, works once (``action_used_at``) and ends with the recording's decision
    window.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    prompt = models.ForeignKey(PushPrompt, on_delete=models.CASCADE, related_name="deliveries")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    message_id = models.CharField(max_length=200, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    action_token_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    action_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "device"], name="one_delivery_per_device"),
            models.UniqueConstraint(
                fields=["action_token_hash"],
                condition=~Q(action_token_hash=""),
                name="delivery_action_token_unique",
            ),
        ]


class OutboxMessage(TenantOwned):
    """A message the outbox backend "sent" (no FCM credentials, e.g. the demo): shown in the portal."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    prompt = models.ForeignKey(PushPrompt, on_delete=models.CASCADE, related_name="outbox_messages")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    payload = models.JSONField(help_text="The FCM v1 message as it would have been posted")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
