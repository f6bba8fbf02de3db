"""Customers (tenants), their people, teams, products and phone-system keys."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.scoping import TenantOwned


class Tenant(models.Model):
    """One customer environment. All calls, recordings and people hang off exactly one."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Service ended")

    class Language(models.TextChoices):
        DUTCH = "nl", "Nederlands"
        ENGLISH = "en", "English"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    country = models.CharField(
        _("country"),
        max_length=2,
        default="NL",
        help_text=_("ISO 3166 code used to read phone numbers entered in national form."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.ACTIVE)
    retention_days = models.PositiveIntegerField(
        _("retention of standard recordings (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    announce_recording = models.BooleanField(
        _("announce recording to callers"),
        default=True,
        help_text=_("The phone system plays the recording announcement before connecting."),
    )
    language = models.CharField(_("language"), max_length=5, choices=Language, default=Language.DUTCH)
    require_mfa_for_admins = models.BooleanField(
        _("require two-factor authentication for customer admins"),
        default=True,
        help_text=_("Admins without an authenticator app are sent to set one up before any portal page."),
    )
    # Transcripts (opt-in; turning them on records the purpose in the processing register).
    transcription_enabled = models.BooleanField(_("transcribe recordings"), default=False)
    redact_phone_numbers = models.BooleanField(_("redact phone numbers in transcripts"), default=False)
    redact_email_addresses = models.BooleanField(_("redact e-mail addresses in transcripts"), default=False)
    # The redacted words' audio muted in the stored rendition too (word timestamps); the unmuted
    # rendition is deleted (recordings.transcripts.service).
    mute_redacted_audio = models.BooleanField(_("mute redacted words in the audio"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(retention_days__gte=1, retention_days__lte=3650), name="tenant_retention_range"
            ),
            models.CheckConstraint(condition=Q(country__regex=r"^[A-Z]{2}\Z"), name="tenant_country_iso"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def clean(self) -> None:
        self.country = (self.country or "").upper()
        import phonenumbers

        if self.country not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError({"country": _("Unknown country code %(code)s.") % {"code": self.country}})


class Role(models.TextChoices):
    ADMIN = "admin", _("Customer admin")
    LISTENER = "listener", _("Listener")
    USER = "user", _("User")


class User(AbstractUser):
    """A person who signs in: a customer's user (one tenant) or support staff (no tenant).

    The user table is the one tenant-owned table without the scoped default manager: log-in,
    sessions and password reset must find a user before any tenant is known. Views reach users
    only through ``tenants.access.users_of(request)``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        Tenant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="users",
        verbose_name=_("tenant"),
    )
    pbx_id = models.CharField(
        _("phone-system id"),
        max_length=32,
        blank=True,
        help_text=_("The user's id (extension) in the phone system; unique within the tenant."),
    )
    role = models.CharField(_("role"), max_length=10, choices=Role, default=Role.USER)
    language = models.CharField(
        _("language"), max_length=5, choices=Tenant.Language, blank=True, help_text=_("Empty: the tenant's.")
    )

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "pbx_id"], condition=~Q(pbx_id=""), name="user_pbx_id_unique_per_tenant"
            ),
            # Support staff belong to no tenant; everybody else to exactly one.
            models.CheckConstraint(
                condition=Q(tenant__isnull=True, is_staff=True) | Q(tenant__isnull=False, is_staff=False),
                name="user_tenant_xor_staff",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def picker_label(self) -> str:
        """The person where people could be mixed up (pickers, the audit log): "Jan Jansen (jjansen)"."""
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username

    @property
    def is_support_staff(self) -> bool:
        return self.tenant_id is None and self.is_staff

    @property
    def is_customer_admin(self) -> bool:
        return self.tenant_id is not None and self.role == Role.ADMIN

    @property
    def is_listener(self) -> bool:
        return self.tenant_id is not None and self.role == Role.LISTENER

    def clean(self) -> None:
        super().clean()
        if self.pbx_id and self.tenant_id:
            clash = User.objects.filter(tenant_id=self.tenant_id, pbx_id=self.pbx_id).exclude(pk=self.pk)
            if clash.exists():
                raise ValidationError(
                    {
                        "pbx_id": _("Phone-system id %(id)s is already used in this tenant.")
                        % {"id": self.pbx_id}
                    }
                )
        if self.tenant_id is None and not self.is_staff:
            raise ValidationError(
                {"tenant": _("A user must belong to a tenant (only support staff have none).")}
            )
        if self.tenant_id is not None and self.is_staff:
            raise ValidationError({"is_staff": _("Support staff cannot belong to a tenant.")})


class Team(TenantOwned):
    """A group of users whose standard recordings the team's listeners may hear."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=120)
    members = models.ManyToManyField(User, related_name="teams", blank=True, verbose_name=_("members"))
    listeners = models.ManyToManyField(
        User, related_name="listened_teams", blank=True, verbose_name=_("listeners")
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="team_name_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name


class RecordingMode(models.TextChoices):
    ALWAYS = "always", _("Always")
    ALWAYS_PAUSE = "always_pause", _("Always, with pause/resume")
    ON_DEMAND = "on_demand", _("On demand")
    ON_DEMAND_USER_START = "on_demand_user_start", _("On demand, user starts")
    NEVER = "never", _("Never")


class PlaybackTier(models.TextChoices):
    DAYS_30 = "days_30", _("30 days")
    DAYS_90 = "days_90", _("90 days")
    MINUTES_100K = "minutes_100k", _("100,000 minutes")


class Licence(TenantOwned):
    """A Call Recording licence: standard recordings, kept by the tenant's retention rule."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="licence")
    mode = models.CharField(_("recording mode"), max_length=24, choices=RecordingMode)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=RecordingMode.values), name="licence_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_mode_display()}"

    def clean(self) -> None:
        if self.user_id and PlaybackSubscription.objects.unscoped().filter(user_id=self.user_id).exists():
            raise ValidationError(
                _("This user has a Playback subscription; a user has a licence or a subscription, not both.")
            )


class PlaybackSubscription(TenantOwned):
    """A Playback subscription: the user decides per call whether to keep it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="playback_subscription")
    tier = models.CharField(_("retention tier"), max_length=16, choices=PlaybackTier)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(tier__in=PlaybackTier.values), name="playback_tier_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_tier_display()}"

    def clean(self) -> None:
        if self.user_id and Licence.objects.unscoped().filter(user_id=self.user_id).exists():
            raise ValidationError(
                _("This user has a Call Recording licence; a user has a licence or a subscription, not both.")
            )


class PbxKey(TenantOwned):
    """A phone-system API key. Only its SHA-256 is stored; the key itself is shown once.

    Keys are 32 random bytes, so a fast hash is safe (there is nothing to brute-force), and the
    short public prefix lets us find the row without scanning.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("phone-system key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiToken(TenantOwned):
    """A mobile-app sign-in: one per device, listed and revocable by its user.

    Issued by ``POST /api/v1/auth/login`` for a username, password (and TOTP code when the user
    has one). Like :class:`PbxKey` only the SHA-256 of the token is stored: tokens are 32 random
    bytes, so a fast hash is safe, and the short public prefix finds the row without scanning.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("device"), max_length=100, help_text=_("The device it was issued to."))
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("app token")
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_active")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


from tenants.audit.entries import AuditChainHead, AuditEntry  # noqa: E402,F401  (models of the audit log)

# --- privacy (AVG): the processing register, access copies, deletion reports ----------------------


class LegalBasis(models.TextChoices):
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest (art. 6(1)(f) AVG)")
    CONSENT = "consent", _("Consent (art. 6(1)(a) AVG)")
    CONTRACT = "contract", _("Performance of a contract (art. 6(1)(b) AVG)")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (art. 6(1)(c) AVG)")


class ProcessingRegister(TenantOwned):
    """The customer's entry in its register of processing activities (art. 30 AVG) for call
    recording. Retention, access and announcement are not typed here: the exported document reads
    them from the real settings. A purpose is required before any recording can be switched on."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.TextField(
        _("purpose of recording calls"),
        max_length=2000,
        blank=True,
        help_text=_(
            "Why calls are recorded, e.g. training and quality, or proof of agreements made by phone."
        ),
    )
    legal_basis = models.CharField(
        _("legal basis"), max_length=24, choices=LegalBasis, default=LegalBasis.LEGITIMATE_INTEREST
    )
    legitimate_interest = models.TextField(
        _("legitimate-interest argument"),
        max_length=4000,
        blank=True,
        help_text=_(
            "The interest, why recording is necessary for it, and the balance with callers' privacy."
        ),
    )
    # Empty: the standard text (below), shown in the reader's language; typed text is shown as typed.
    data_subjects = models.TextField(
        _("categories of people"),
        max_length=2000,
        blank=True,
        help_text=_("Empty: the standard text, in the reader's language."),
    )
    sub_processors = models.TextField(
        _("sub-processors"),
        max_length=2000,
        blank=True,
        help_text=_("Empty: the standard text, in the reader's language."),
    )
    # Written when transcripts are switched on (recordings.transcripts.optin); required for that.
    transcription_purpose = models.TextField(_("purpose of transcribing calls"), max_length=2000, blank=True)
    # Written when the retention of standard recordings is set above 90 days
    # (recordings.products.update_tenant_settings); required for that.
    retention_purpose = models.TextField(
        _("why standard recordings are kept longer than 90 days"), max_length=2000, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("processing register")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="processing_register_one_per_tenant")]

    STANDARD_DATA_SUBJECTS = _(
        "Callers (customers, suppliers, other contacts) and the customer's staff who take or make calls."
    )
    STANDARD_SUB_PROCESSORS = _(
        "Object storage for recordings (encrypted, in the EU); "
        "Google Firebase Cloud Messaging for push prompts to the app (no audio)."
    )

    @property
    def data_subjects_text(self) -> str:
        return self.data_subjects or str(self.STANDARD_DATA_SUBJECTS)

    @property
    def sub_processors_text(self) -> str:
        return self.sub_processors or str(self.STANDARD_SUB_PROCESSORS)

    def __str__(self) -> str:
        return f"processing register {self.tenant_id}"

    @property
    def has_purpose(self) -> bool:
        return bool(self.purpose.strip())


class AccessCopy(TenantOwned):
    """A right-of-access copy (art. 15 AVG) for one person: the one exception to "no downloads".

    Four eyes: a customer admin requests it (the person's number and a reason), a *different*
    admin of the tenant approves it; only then is a link made, which works once and expires
    (``recordings.privacy.ACCESS_COPY_TTL`` after the request while pending, after the approval once
    approved). Only the token's SHA-256 is stored. ``manifest`` keeps a copy of the manifest the
    ZIP carried (which recordings, when, for whom, who requested and approved, SHA-256 of each).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=20, help_text="E.164 number of the person")
    reason = models.TextField(_("reason"), blank=True)
    recordings = models.ManyToManyField("recordings.Recording", related_name="+", blank=True)
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    # A pending request refused by another admin, or withdrawn by its requester: no link is made.
    refused_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    refused_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    manifest = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("access copy")
        verbose_name_plural = _("access copies")

    def __str__(self) -> str:
        return f"access copy {self.pk}"

    @property
    def state(self) -> str:
        """pending (waiting for a second admin), refused (or withdrawn), approved (link made, not
        yet used), used, or expired (not approved, or not used, in time)."""
        from django.utils import timezone

        if self.used_at is not None:
            return "used"
        if self.refused_at is not None:
            return "refused"
        if self.expires_at <= timezone.now():
            return "expired"
        return "approved" if self.approved_at is not None else "pending"


class AccessCopyNotice(TenantOwned):
    """What a Playback user is told when an approved access copy includes their recordings: the
    request, who requested and approved it, when, and how many of their recordings. Shown on the
    user's recordings page until they mark it read (the entry stays)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    access_copy = models.ForeignKey(AccessCopy, on_delete=models.CASCADE, related_name="notices")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    recordings = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["access_copy", "user"], name="access_copy_notice_once_per_user")
        ]


class DeletionReport(models.Model):
    """What the end-of-service purge removed and whether it proved the tenant empty.

    Holds counts and times only, no personal data, and outlives the tenant's data (support staff
    read it; it is not tenant-scoped, the tenant's data is gone).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed: objects remain")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.OneToOneField(Tenant, on_delete=models.PROTECT, related_name="deletion_report")
    requested_by = models.CharField(max_length=150, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.PENDING)
    runs = models.PositiveIntegerField(default=0, help_text="How often the purge ran (resumed after a stop).")
    counts = models.JSONField(default=dict, blank=True)
    objects_remaining = models.IntegerField(null=True, blank=True)
    rows_remaining = models.IntegerField(null=True, blank=True)
    audit_entries_with_personal_data = models.IntegerField(
        null=True, blank=True, help_text="Entries of the tenant's audit chain still holding personal fields."
    )

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("deletion report")

    def __str__(self) -> str:
        return f"deletion report {self.tenant_id} ({self.status})"

    @property
    def verified(self) -> bool:
        return (
            self.status == self.Status.DONE
            and self.objects_remaining == 0
            and self.rows_remaining == 0
            and self.audit_entries_with_personal_data == 0
        )


class ListVersion(models.Model):
    """A counter per person that moves whenever what their recording lists show may have changed
    (a recording they may hear appears, becomes ready, is kept, deleted or expired, gets a label;
    a call of theirs starts or ends its processing; their teams change). Bumped by the services
    in the same transaction as the change (``tenants.lists.bump_lists``); the portal's live lists
    answer a poll that finds it unchanged with 304, from this one row, without rendering.

    Its own table, not a field on ``User``: a user saved whole from a stale copy would set the
    counter back to a value a page already holds, and that page would miss a change."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"list version {self.version} of {self.user_id}"
